package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/scheduler"
)

// Project data residency: the countries and regions a project's servers may
// be placed in (the scheduler's ResidencyFilter, intersected with a
// flavor's canopy:residency and canopy:residency_region extra specs).
//
//	GET /admin/v1/projects/{id}/residency   {"residency": {"project_id": ..., "countries": [...], "regions": [...]}}
//	PUT /admin/v1/projects/{id}/residency   {"residency": {"countries": ["DE", "FR"], "regions": ["eu-west"]}}
//
// PUT replaces the whole residency; empty lists (or {}) lift it. Countries
// are ISO 3166-1 alpha-2 codes. It applies to placements from then on;
// servers already placed stay where they are.

// ResidencyStore is the part of the scheduler that keeps projects'
// residency. The admin API answers 501 when its Placement lacks it.
type ResidencyStore interface {
	ProjectResidency(ctx context.Context, project string) (scheduler.Residency, error)
	SetProjectResidency(ctx context.Context, project string, r scheduler.Residency) (scheduler.Residency, error)
}

// residencyView is the wire form.
type residencyView struct {
	ProjectID string   `json:"project_id"`
	Countries []string `json:"countries"`
	Regions   []string `json:"regions"`
}

func (s *Service) residencyStore() (ResidencyStore, error) {
	rs, ok := s.sched.(ResidencyStore)
	if !ok {
		return nil, wire.NotImplemented("This gateway's scheduler does not keep data residency.")
	}
	return rs, nil
}

// projectID is the path's project id, checked as Keystone bounds ids.
func projectID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > 64 {
		return "", wire.BadRequest("Invalid input for field/attribute project_id: it must be 1 to 64 characters.")
	}
	return id, nil
}

func (s *Service) showResidency(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.residencyStore()
	if err != nil {
		return err
	}
	id, err := projectID(r)
	if err != nil {
		return err
	}
	res, err := rs.ProjectResidency(r.Context(), id)
	if err != nil {
		return err
	}
	writeResidency(w, id, res)
	return nil
}

func (s *Service) setResidency(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.residencyStore()
	if err != nil {
		return err
	}
	id, err := projectID(r)
	if err != nil {
		return err
	}
	var body struct {
		Residency *struct {
			Countries []string `json:"countries"`
			Regions   []string `json:"regions"`
		} `json:"residency"`
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	if body.Residency == nil {
		return wire.BadRequest("Invalid input for field/attribute residency: a \"residency\" object is required.")
	}
	res, err := rs.SetProjectResidency(r.Context(), id, scheduler.Residency{Countries: body.Residency.Countries, Regions: body.Residency.Regions})
	if errors.Is(err, proxies.ErrInvalid) {
		return wire.BadRequest("Invalid input for field/attribute residency: %s", proxies.SafeMessage(err))
	}
	if err != nil {
		return err
	}
	writeResidency(w, id, res)
	return nil
}

func writeResidency(w http.ResponseWriter, id string, res scheduler.Residency) {
	v := residencyView{ProjectID: id, Countries: res.Countries, Regions: res.Regions}
	if v.Countries == nil {
		v.Countries = []string{}
	}
	if v.Regions == nil {
		v.Regions = []string{}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"residency": v})
}
