package compute

import (
	"encoding/json"
	"net/http"
	"net/netip"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/wire"
)

// renderInterface shapes a port as os-interface shows it; from 2.70 with
// its tag (Canopy keeps none: null).
func renderInterface(i broker.Interface, v wire.Version) map[string]any {
	ips := make([]map[string]string, 0, len(i.FixedIPs))
	for _, f := range i.FixedIPs {
		ips = append(ips, map[string]string{"subnet_id": f.SubnetID, "ip_address": f.IPAddress})
	}
	out := map[string]any{"port_state": i.State, "fixed_ips": ips, "port_id": i.PortID, "net_id": i.NetworkID, "mac_addr": i.MAC}
	if v.AtLeast(2, 70) {
		out["tag"] = nil
	}
	return out
}

// listInterfaces answers GET /servers/{id}/os-interface.
func (s *Service) listInterfaces(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	list, err := s.b.ListInterfaces(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, i := range list {
		out = append(out, renderInterface(i, v))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"interfaceAttachments": out})
	return nil
}

// showInterface answers GET /servers/{id}/os-interface/{port}.
func (s *Service) showInterface(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	i, err := s.b.GetInterface(r.Context(), caller(r), r.PathValue("id"), r.PathValue("port"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"interfaceAttachment": renderInterface(i, v)})
	return nil
}

// attachInterface answers POST /servers/{id}/os-interface (200, as Nova).
func (s *Service) attachInterface(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireWriter(r); err != nil {
		return err
	}
	var body struct {
		Attachment *struct {
			NetID    *string `json:"net_id"`
			PortID   *string `json:"port_id"`
			FixedIPs []struct {
				IPAddress string `json:"ip_address"`
			} `json:"fixed_ips"`
			Tag *string `json:"tag"`
		} `json:"interfaceAttachment"`
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	req := broker.NetworkRequest{}
	if a := body.Attachment; a != nil {
		if a.Tag != nil {
			if !v.AtLeast(2, 49) {
				return wire.BadRequest("Additional properties are not allowed ('tag' was unexpected)")
			}
			return wire.NotImplemented("Device tags are not supported by this cloud.")
		}
		if a.NetID != nil {
			if !isUUID(*a.NetID) {
				return invalidField("net_id", *a.NetID, "'"+*a.NetID+"' is not a 'uuid'")
			}
			req.NetworkID = *a.NetID
		}
		if a.PortID != nil {
			if !isUUID(*a.PortID) {
				return invalidField("port_id", *a.PortID, "'"+*a.PortID+"' is not a 'uuid'")
			}
			req.PortID = *a.PortID
		}
		if req.NetworkID != "" && req.PortID != "" {
			return wire.BadRequest("Must not input both network_id and port_id")
		}
		switch n := len(a.FixedIPs); {
		case n > 1:
			return invalidField("fixed_ips", compact(mustMarshal(a.FixedIPs)), "is too long")
		case n == 1 && req.NetworkID == "":
			return wire.BadRequest("Must input network_id when request IP address")
		case n == 1:
			addr := a.FixedIPs[0].IPAddress
			if _, err := netip.ParseAddr(addr); err != nil {
				return invalidField("ip_address", addr, "'"+addr+"' is not valid under any of the given schemas")
			}
			req.FixedIP = addr
		}
	}
	i, err := s.b.AttachInterface(r.Context(), caller(r), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"interfaceAttachment": renderInterface(i, v)})
	return nil
}

// detachInterface answers DELETE /servers/{id}/os-interface/{port} (202).
func (s *Service) detachInterface(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireWriter(r); err != nil {
		return err
	}
	return accepted(w, s.b.DetachInterface(r.Context(), caller(r), r.PathValue("id"), r.PathValue("port")))
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
