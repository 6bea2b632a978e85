package network

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"

	"github.com/canopy-cloud/canopy/registry"
)

// kindPortExtra holds what a port has beyond the registry's Port record:
// its allowed address pairs (extension allowed-address-pairs). It is keyed
// by the port id, under the port's project, and exists only while the
// port has pairs.
const kindPortExtra registry.Kind = "portx"

// maxAddressPairs is Neutron's default max_allowed_address_pair.
const maxAddressPairs = 10

// addressPair is one allowed address pair: an address or CIDR and the MAC
// it may use (the port's own when none was given).
type addressPair struct {
	IPAddress  string `json:"ip_address"`
	MACAddress string `json:"mac_address"`
}

// portExtra is the kindPortExtra record.
type portExtra struct {
	ID    string        `json:"id"`
	Pairs []addressPair `json:"allowed_address_pairs"`
}

// parseAddressPairs is Neutron's _validate_allowed_address_pairs. A pair
// without mac_address keeps "" here; the port's MAC fills it in.
func parseAddressPairs(a attrs) ([]addressPair, error) {
	if a.isNull("allowed_address_pairs") {
		return []addressPair{}, nil
	}
	var in []map[string]any
	if err := json.Unmarshal(a["allowed_address_pairs"], &in); err != nil {
		return nil, badRequest("Allowed address pairs must be a list.")
	}
	if len(in) > maxAddressPairs {
		return nil, badRequest("The number of allowed address pair exceeds the maximum %d.", maxAddressPairs).WithType("AllowedAddressPairExhausted")
	}
	out := []addressPair{}
	for _, raw := range in {
		var pair addressPair
		if v, ok := raw["mac_address"]; ok {
			mac, _ := v.(string)
			if !macRE.MatchString(mac) {
				return nil, badRequest("'%v' is not a valid MAC address", v)
			}
			pair.MACAddress = strings.ToLower(mac)
		}
		v, ok := raw["ip_address"]
		if !ok {
			return nil, badRequest("AllowedAddressPair must contain ip_address").WithType("AllowedAddressPairsMissingIP")
		}
		ip, _ := v.(string)
		for _, o := range out {
			if o == (addressPair{IPAddress: ip, MACAddress: pair.MACAddress}) {
				mac := "None"
				if pair.MACAddress != "" {
					mac = pair.MACAddress
				}
				return nil, badRequest("Request contains duplicate address pair: mac_address %s ip_address %s.", mac, ip).WithType("DuplicateAddressPairInRequest")
			}
		}
		var extra []string
		for k := range raw {
			if k != "ip_address" && k != "mac_address" {
				extra = append(extra, k)
			}
		}
		if len(extra) > 0 {
			return nil, badRequest("Unrecognized attribute(s) '%s'", strings.Join(extra, ", "))
		}
		if strings.Contains(ip, "/") {
			if _, err := netip.ParsePrefix(ip); err != nil {
				return nil, badRequest("'%s' is not a valid IP subnet", ip)
			}
		} else if _, err := netip.ParseAddr(ip); err != nil {
			return nil, badRequest("'%v' is not a valid IP address", v)
		}
		pair.IPAddress = ip
		out = append(out, pair)
	}
	return out, nil
}

// storePairs records a port's pairs (none: the record goes).
func (s *Service) storePairs(ctx context.Context, pt *registry.Port, pairs []addressPair) error {
	if len(pairs) == 0 {
		if err := s.portExtras.Delete(ctx, pt.ProjectID, pt.ID); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		return nil
	}
	x := &portExtra{ID: pt.ID, Pairs: pairs}
	err := s.portExtras.Create(ctx, pt.ProjectID, pt.ID, pt.Created, x)
	if errors.Is(err, registry.ErrExists) {
		_, err = s.portExtras.Update(ctx, pt.ProjectID, pt.ID, func(cur *portExtra) error { *cur = *x; return nil })
	}
	return err
}

// pairsOf reads the pairs of ports, by port id.
func (s *Service) pairsOf(ctx context.Context, ports []*registry.Port) (map[string][]addressPair, error) {
	ids := make([]string, len(ports))
	for i, pt := range ports {
		ids[i] = pt.ID
	}
	xs, err := s.portExtras.GetMany(ctx, "*", ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]addressPair, len(xs))
	for _, x := range xs {
		out[x.ID] = x.Pairs
	}
	return out, nil
}

// renderPairs shows pairs with the port's MAC where none was given.
func renderPairs(pt *registry.Port, pairs []addressPair) []map[string]any {
	out := make([]map[string]any, 0, len(pairs))
	for _, p := range pairs {
		mac := p.MACAddress
		if mac == "" {
			mac = pt.MACAddress
		}
		out = append(out, map[string]any{"ip_address": p.IPAddress, "mac_address": mac})
	}
	return out
}
