package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/wire"
)

// DriftSource is the optional part of Clouds that reads a cloud's latest
// sync findings from the registry (the app implements it over
// broker.LoadDriftReport). Without it GET /admin/v1/clouds/{name}/drift
// answers 501.
type DriftSource interface {
	CloudDrift(ctx context.Context, cloud string) (broker.DriftReport, error)
}

// Orphan is a server found in a cloud carrying a Canopy id no record has.
// Canopy reports it and never deletes it: the operator adopts or deletes it
// in the cloud.
type Orphan struct {
	ID        string    `json:"id"`
	BottomID  string    `json:"bottom_id"`
	Host      string    `json:"host,omitempty"`
	State     string    `json:"state"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Correction is one server record the sync loop corrected because its cloud
// disagreed: kind "state" (power state changed outside Canopy) or "missing"
// (the server is gone from its cloud; the record went ERROR).
type Correction struct {
	ServerID  string    `json:"server_id"`
	ProjectID string    `json:"project_id"`
	Kind      string    `json:"kind"`
	From      string    `json:"from_status"`
	To        string    `json:"to_status"`
	At        time.Time `json:"at"`
}

// Drift is a cloud's latest sync findings in the admin API.
type Drift struct {
	Cloud string `json:"cloud"`
	// CheckedAt is when the last full sync pass ended (null before the
	// first).
	CheckedAt   *time.Time   `json:"checked_at"`
	OrphanCount int          `json:"orphan_count"`
	Orphans     []Orphan     `json:"orphans"`     // at most 100, by id
	Corrections []Correction `json:"corrections"` // the 50 most recent, newest first
}

// showDrift answers GET /admin/v1/clouds/{name}/drift.
func (s *Service) showDrift(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	found := false
	for _, c := range s.clouds.CloudList() {
		found = found || c.Name == name
	}
	if !found {
		return wire.NotFound("Cloud %s could not be found.", name)
	}
	src, ok := s.clouds.(DriftSource)
	if !ok {
		return wire.NotImplemented("Sync drift reports are not available in this gateway.")
	}
	rep, err := src.CloudDrift(r.Context(), name)
	if err != nil {
		return err
	}
	d := Drift{Cloud: name, OrphanCount: rep.OrphanCount, Orphans: []Orphan{}, Corrections: []Correction{}}
	if !rep.CheckedAt.IsZero() {
		d.CheckedAt = &rep.CheckedAt
	}
	for _, o := range rep.Orphans {
		d.Orphans = append(d.Orphans, Orphan{ID: o.ID, BottomID: o.BottomID, Host: o.Host, State: string(o.State), FirstSeen: o.FirstSeen, LastSeen: o.LastSeen})
	}
	for _, e := range rep.Drift {
		d.Corrections = append(d.Corrections, Correction{ServerID: e.ServerID, ProjectID: e.ProjectID, Kind: e.Kind, From: e.From, To: e.To, At: e.At})
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"drift": d})
	return nil
}
