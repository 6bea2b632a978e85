package compute

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/scheduler"
)

// os-services: one nova-compute service per scheduler host (its status is
// the host's placement switch, its state the host's up/down), plus the
// gateway's nova-scheduler and nova-conductor, always up.

// controllerHost is the host the gateway's own services are listed on.
const controllerHost = "canopy"

// serviceView renders the compute service of y at v.
func serviceView(y *hypervisor, v wire.Version) map[string]any {
	h := y.h
	m := map[string]any{"binary": "nova-compute", "host": h.Host, "zone": h.AvailabilityZone,
		"status": enabledDisabled(h.Enabled), "state": upDown(h.Up), "disabled_reason": nullable(h.DisabledReason),
		"updated_at": nil}
	if h.SyncedAt > 0 {
		m["updated_at"] = time.Unix(h.SyncedAt, 0).UTC().Format(usageTime)
	}
	if v.AtLeast(2, 53) {
		m["id"] = y.serviceUUID()
	} else {
		m["id"] = y.num + len(controllerServices)
	}
	if v.AtLeast(2, 11) {
		m["forced_down"] = h.ForcedDown
	}
	return m
}

// controllerView renders the gateway's service number i (0-based).
func (l *layoutAPI) controllerView(i int, v wire.Version) map[string]any {
	binary := controllerServices[i]
	m := map[string]any{"binary": binary, "host": controllerHost, "zone": "internal", "status": "enabled", "state": "up",
		"disabled_reason": nil, "updated_at": l.s.opts.Now().UTC().Format(usageTime), "id": i + 1}
	if v.AtLeast(2, 53) {
		m["id"] = uuid5("service/" + binary)
	}
	if v.AtLeast(2, 11) {
		m["forced_down"] = false
	}
	return m
}

// listServices answers GET /os-services (filters: host, binary).
func (l *layoutAPI) listServices(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireAdmin(r, "os_compute_api:os-services:list"); err != nil {
		return err
	}
	if v.AtLeast(2, 75) {
		if err := checkQuery(r, "host", "binary"); err != nil {
			return err
		}
	}
	hyps, err := l.hypervisors(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	host, binary := q.Get("host"), q.Get("binary")
	keep := func(m map[string]any) bool {
		return (host == "" || m["host"] == host) && (binary == "" || m["binary"] == binary)
	}
	out := []map[string]any{}
	for i := range controllerServices {
		if m := l.controllerView(i, v); keep(m) {
			out = append(out, m)
		}
	}
	for _, y := range hyps {
		if m := serviceView(y, v); keep(m) {
			out = append(out, m)
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"services": out})
	return nil
}

// updateService answers PUT /os-services/{id}: from 2.53 {id} is the
// service's UUID and the body says what to change; before, {id} is the
// action (enable, disable, disable-log-reason, force-down) and the body
// names the host and binary.
func (l *layoutAPI) updateService(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if v.AtLeast(2, 53) {
		return l.updateServiceV253(w, r, v)
	}
	if err := requireAdmin(r, "os_compute_api:os-services:update"); err != nil {
		return err
	}
	action := r.PathValue("id")
	switch action {
	case "enable", "disable", "disable-log-reason":
	case "force-down":
		if !v.AtLeast(2, 11) {
			return wire.NotFound("Unknown action")
		}
	default:
		return wire.NotFound("Unknown action")
	}
	var body struct {
		Host           *string         `json:"host"`
		Binary         *string         `json:"binary"`
		DisabledReason *string         `json:"disabled_reason"`
		ForcedDown     json.RawMessage `json:"forced_down"`
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	if body.Host == nil || body.Binary == nil {
		return wire.BadRequest("Invalid input for field/attribute service. 'host' and 'binary' are required properties")
	}
	if body.ForcedDown != nil && !v.AtLeast(2, 11) {
		return wire.BadRequest("Invalid input for field/attribute service. Additional properties are not allowed ('forced_down' was unexpected)")
	}
	host, binary := *body.Host, *body.Binary
	if body.DisabledReason != nil {
		if n := len([]rune(*body.DisabledReason)); n < 1 || n > 255 {
			return invalidField("disabled_reason", *body.DisabledReason, "the reason must be 1 to 255 characters")
		}
	}
	reply := map[string]any{"host": host, "binary": binary}
	var apply func(h *scheduler.HostState) error
	ctx := r.Context()
	switch action {
	case "enable":
		reply["status"] = "enabled"
		apply = func(h *scheduler.HostState) error { return l.sched.SetHostEnabled(ctx, h.Cloud, h.Host, true, "") }
	case "disable", "disable-log-reason":
		reason := ""
		if action == "disable-log-reason" {
			if body.DisabledReason == nil {
				return wire.BadRequest("Missing disabled reason field")
			}
			reason = *body.DisabledReason
			reply["disabled_reason"] = reason
		}
		reply["status"] = "disabled"
		apply = func(h *scheduler.HostState) error { return l.sched.SetHostEnabled(ctx, h.Cloud, h.Host, false, reason) }
	case "force-down":
		if body.ForcedDown == nil {
			return wire.BadRequest("Missing forced_down field")
		}
		down, err := strictBool(body.ForcedDown)
		if err != nil {
			return err
		}
		reply["forced_down"] = down
		apply = func(h *scheduler.HostState) error { return l.sched.SetHostForcedDown(ctx, h.Cloud, h.Host, down) }
	}
	if binary != "nova-compute" {
		return wire.BadRequest("Updating a %s service is not supported. Only nova-compute services can be updated.", binary)
	}
	hyps, err := l.hypervisors(ctx)
	if err != nil {
		return err
	}
	found := false
	for _, y := range hyps {
		if y.h.Host == host {
			found = true
			if err := apply(y.h); err != nil {
				return err
			}
		}
	}
	if !found {
		return wire.NotFound("Could not find binary %s on host %s.", binary, host)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"service": reply})
	return nil
}

// strictBool is oslo's bool_from_string(strict=True) over a JSON boolean
// or string.
func strictBool(raw json.RawMessage) (bool, error) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "t", "true", "on", "y", "yes":
			return true, nil
		case "0", "f", "false", "off", "n", "no":
			return false, nil
		}
	}
	return false, wire.BadRequest("Invalid input for field/attribute forced_down. Value: %s. %s is not of type 'boolean', 'string'", raw, raw)
}

func (l *layoutAPI) updateServiceV253(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	id := r.PathValue("id")
	if !isUUIDLike(id) {
		return wire.BadRequest("Invalid uuid %s", id)
	}
	if err := requireAdmin(r, "os_compute_api:os-services:update"); err != nil {
		return err
	}
	var body struct {
		Status         *string         `json:"status"`
		DisabledReason *string         `json:"disabled_reason"`
		ForcedDown     json.RawMessage `json:"forced_down"`
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	if body.Status != nil && *body.Status != "enabled" && *body.Status != "disabled" {
		return invalidField("status", *body.Status, "'"+*body.Status+"' is not one of ['enabled', 'disabled']")
	}
	if body.DisabledReason != nil {
		if n := len([]rune(*body.DisabledReason)); n < 1 || n > 255 {
			return invalidField("disabled_reason", *body.DisabledReason, "the reason must be 1 to 255 characters")
		}
	}
	ctx := r.Context()
	hyps, err := l.hypervisors(ctx)
	if err != nil {
		return err
	}
	want := strings.ToLower(id)
	var y *hypervisor
	for _, c := range hyps {
		if c.serviceUUID() == want {
			y = c
		}
	}
	if y == nil {
		for _, b := range controllerServices {
			if uuid5("service/"+b) == want {
				return wire.BadRequest("Updating a %s service is not supported. Only nova-compute services can be updated.", b)
			}
		}
		return wire.NotFound("Service %s could not be found.", id)
	}
	changed := false
	if body.Status != nil {
		if *body.Status == "enabled" {
			if body.DisabledReason != nil && *body.DisabledReason != "" {
				return wire.BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
			}
			if err := l.sched.SetHostEnabled(ctx, y.h.Cloud, y.h.Host, true, ""); err != nil {
				return err
			}
		} else {
			reason := ""
			if body.DisabledReason != nil {
				reason = *body.DisabledReason
			}
			if err := l.sched.SetHostEnabled(ctx, y.h.Cloud, y.h.Host, false, reason); err != nil {
				return err
			}
		}
		changed = true
	}
	if body.ForcedDown != nil {
		down, err := strictBool(body.ForcedDown)
		if err != nil {
			return err
		}
		if err := l.sched.SetHostForcedDown(ctx, y.h.Cloud, y.h.Host, down); err != nil {
			return err
		}
		changed = true
	}
	if !changed {
		return wire.BadRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.")
	}
	// Show the service as it is now.
	if hyps, err = l.hypervisors(ctx); err != nil {
		return err
	}
	for _, c := range hyps {
		if c.serviceUUID() == want {
			y = c
		}
	}
	svc := serviceView(y, v)
	if svc["updated_at"] == nil { // required at 2.53: a host never synced shows the epoch
		svc["updated_at"] = time.Unix(0, 0).UTC().Format(usageTime)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"service": svc})
	return nil
}
