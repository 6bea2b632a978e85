package admin

import (
	"errors"
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// explain answers POST /admin/v1/scheduler/explain: where a server of a
// flavor (or an existing server, as it is now) would be placed, host by
// host, with the filter that dropped each host or the weights that ranked
// it. It claims nothing.
//
//	{"explain": {"flavor_id": "1", "availability_zone": "nova", "project_id": "..."}}
//	{"explain": {"server_id": "..."}}
func (s *Service) explain(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Explain *struct {
			FlavorID         string `json:"flavor_id"`
			ServerID         string `json:"server_id"`
			AvailabilityZone string `json:"availability_zone"`
			ProjectID        string `json:"project_id"`
		} `json:"explain"`
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	e := body.Explain
	if e == nil {
		return wire.BadRequest("Invalid input for field/attribute explain: an \"explain\" object is required.")
	}
	if (e.FlavorID == "") == (e.ServerID == "") {
		return wire.BadRequest("Invalid input for field/attribute explain: give exactly one of flavor_id and server_id.")
	}
	ctx := r.Context()
	req := scheduler.Request{ServerID: "explain", ProjectID: e.ProjectID, AvailabilityZone: e.AvailabilityZone}
	if e.ServerID != "" {
		if e.AvailabilityZone != "" || e.ProjectID != "" {
			return wire.BadRequest("Invalid input for field/attribute explain: server_id takes the server's own zone and project.")
		}
		v, err := s.servers.Lookup(ctx, e.ServerID)
		if errors.Is(err, registry.ErrNotFound) {
			return wire.NotFound("Server %s could not be found.", e.ServerID)
		} else if err != nil {
			return err
		}
		req.ServerID, req.ProjectID, req.Flavor = v.Value.ID, v.Value.ProjectID, v.Value.Flavor
		req.AvailabilityZone = v.Value.AvailabilityZone
	} else {
		f, err := s.flavors.Get(ctx, "_", e.FlavorID)
		if errors.Is(err, registry.ErrNotFound) {
			return wire.BadRequest("Invalid input for field/attribute flavor_id: flavor %s could not be found.", e.FlavorID)
		} else if err != nil {
			return err
		}
		req.Flavor.ID, req.Flavor.Name, req.Flavor.VCPUs, req.Flavor.RAMMB, req.Flavor.DiskGB, req.Flavor.ExtraSpecs =
			f.ID, f.Name, f.VCPUs, f.RAMMB, f.DiskGB, f.ExtraSpecs
	}
	ex, err := s.sched.Explain(ctx, req)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"explanation": ex})
	return nil
}
