package compute

import (
	"net/http"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/wire"
)

func renderAction(a broker.InstanceAction, v wire.Version, withEvents, admin bool) map[string]any {
	m := map[string]any{
		"action": a.Action, "request_id": a.RequestID, "user_id": a.UserID, "project_id": a.ProjectID,
		"instance_uuid": a.ServerID, "start_time": a.Start.UTC().Format(usageTime), "message": a.Message,
	}
	if v.AtLeast(2, 58) {
		m["updated_at"] = a.Updated.UTC().Format(usageTime)
	}
	if !withEvents {
		return m
	}
	events := make([]map[string]any, 0, len(a.Events))
	for _, e := range a.Events {
		ev := map[string]any{"event": e.Event, "start_time": e.Start.UTC().Format(usageTime),
			"finish_time": timeOrNil(e.Finish, usageTime), "result": strOrNil(e.Result)}
		if admin {
			ev["traceback"] = nil
		}
		if v.AtLeast(2, 62) {
			ev["hostId"] = hostID(a.ProjectID, e.Host)
			if admin {
				ev["host"] = e.Host
			}
		}
		events = append(events, ev)
	}
	m["events"] = events
	return m
}

func (s *Service) listInstanceActions(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	acts, err := s.b.InstanceActions(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(acts))
	for _, a := range acts {
		out = append(out, renderAction(a, v, false, false))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"instanceActions": out})
	return nil
}

func (s *Service) showInstanceAction(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	acts, err := s.b.InstanceActions(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	req := r.PathValue("req")
	admin := isAdmin(r)
	for _, a := range acts {
		if a.RequestID == req {
			withEvents := admin || v.AtLeast(2, 51)
			wire.WriteJSON(w, http.StatusOK, map[string]any{"instanceAction": renderAction(a, v, withEvents, admin)})
			return nil
		}
	}
	return wire.NotFound("Action %s could not be found.", req)
}
