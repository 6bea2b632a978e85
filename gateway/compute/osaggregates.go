package compute

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/scheduler"
)

// os-aggregates: the scheduler's host aggregates. A host's availability
// zone is its cloud's, so an aggregate's zone must be the zone of every host
// in it: Canopy records and shows it, and refuses a host of another zone
// (Nova would move the host into the zone).

// renderAggregate is Nova's aggregate view; full adds hosts and metadata
// (the create answer has neither).
func renderAggregate(a *scheduler.Aggregate, v wire.Version, full bool) map[string]any {
	m := map[string]any{"id": a.ID, "name": a.Name, "availability_zone": nullable(a.AvailabilityZone()),
		"created_at": a.CreatedAt.UTC().Format(usageTime), "updated_at": nil, "deleted": false, "deleted_at": nil}
	if a.UpdatedAt != nil {
		m["updated_at"] = a.UpdatedAt.UTC().Format(usageTime)
	}
	if full {
		hosts, md := a.Hosts, a.Metadata
		if hosts == nil {
			hosts = []string{}
		}
		if md == nil {
			md = map[string]string{}
		}
		m["hosts"], m["metadata"] = hosts, md
	}
	if v.AtLeast(2, 41) {
		m["uuid"] = a.UUID
	}
	return m
}

// aggregateFault maps the scheduler's aggregate errors to Nova's faults.
func aggregateFault(err error, id int, name string) error {
	switch {
	case errors.Is(err, scheduler.ErrAggregateNotFound):
		return wire.NotFound("Aggregate %d could not be found.", id)
	case errors.Is(err, scheduler.ErrAggregateExists):
		return wire.Conflict("Aggregate %s already exists.", name)
	case errors.Is(err, proxies.ErrInvalid):
		return &wire.Error{Status: http.StatusBadRequest, Message: strings.TrimPrefix(err.Error(), "scheduler: invalid: "), Cause: err}
	}
	return err
}

// aggregateID parses the {id} of the path (Nova's validate_integer).
func aggregateID(r *http.Request) (int, error) {
	id, err := strconv.Atoi(strings.TrimSpace(r.PathValue("id")))
	if err != nil {
		return 0, wire.BadRequest("Invalid input received: id must be an integer")
	}
	return id, nil
}

// checkZoneName is Nova's availability zone name: a name without ':'.
func checkZoneName(zone string) error {
	if err := checkName("availability_zone", zone); err != nil {
		return err
	}
	if strings.Contains(zone, ":") {
		return invalidField("availability_zone", zone, "'"+zone+"' does not match '^[^:]*$'")
	}
	return nil
}

// zoneConflict reports the zones, other than zone, of the hosts named in
// hosts (Nova's "One or more hosts already in availability zone(s)").
func (l *layoutAPI) zoneConflict(r *http.Request, hosts []string, zone string) (string, error) {
	if zone == "" || len(hosts) == 0 {
		return "", nil
	}
	snap, err := l.sched.Snapshot(r.Context())
	if err != nil {
		return "", err
	}
	var other []string
	for _, h := range snap.Hosts {
		if slices.Contains(hosts, h.Host) && h.AvailabilityZone != zone && !slices.Contains(other, h.AvailabilityZone) {
			other = append(other, h.AvailabilityZone)
		}
	}
	if len(other) == 0 {
		return "", nil
	}
	return "One or more hosts already in availability zone(s) ['" + strings.Join(other, "', '") + "']", nil
}

func (l *layoutAPI) listAggregates(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireAdmin(r, "os_compute_api:os-aggregates:index"); err != nil {
		return err
	}
	all, err := l.sched.Aggregates(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(all))
	for i, a := range all {
		out[i] = renderAggregate(a, v, true)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"aggregates": out})
	return nil
}

func (l *layoutAPI) createAggregate(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireAdmin(r, "os_compute_api:os-aggregates:create"); err != nil {
		return err
	}
	var body struct {
		Aggregate *struct {
			Name *string `json:"name"`
			Zone *string `json:"availability_zone"`
		} `json:"aggregate"`
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	if body.Aggregate == nil || body.Aggregate.Name == nil {
		return wire.BadRequest("Invalid input for field/attribute aggregate. 'name' is a required property")
	}
	name, zone := *body.Aggregate.Name, ""
	if err := checkName("name", name); err != nil {
		return err
	}
	if body.Aggregate.Zone != nil {
		zone = *body.Aggregate.Zone
		if err := checkZoneName(zone); err != nil {
			return err
		}
	}
	a, err := l.sched.CreateAggregate(r.Context(), name, zone, l.s.opts.NewID(), l.s.opts.Now())
	if err != nil {
		return aggregateFault(err, 0, name)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"aggregate": renderAggregate(a, v, false)})
	return nil
}

func (l *layoutAPI) showAggregate(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireAdmin(r, "os_compute_api:os-aggregates:show"); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	a, err := l.sched.Aggregate(r.Context(), id)
	if err != nil {
		return aggregateFault(err, id, "")
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"aggregate": renderAggregate(a, v, true)})
	return nil
}

func (l *layoutAPI) updateAggregate(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireAdmin(r, "os_compute_api:os-aggregates:update"); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	var body struct {
		Aggregate *struct {
			Name *string         `json:"name"`
			Zone json.RawMessage `json:"availability_zone"`
		} `json:"aggregate"`
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	u := body.Aggregate
	if u == nil || (u.Name == nil && u.Zone == nil) {
		return wire.BadRequest("Invalid input for field/attribute aggregate. At least one of 'name' and 'availability_zone' is required")
	}
	if u.Name != nil {
		if err := checkName("name", *u.Name); err != nil {
			return err
		}
	}
	var zone *string // nil: unchanged; "": removed (null)
	if u.Zone != nil {
		var z *string
		if err := json.Unmarshal(u.Zone, &z); err != nil {
			return invalidField("availability_zone", string(u.Zone), string(u.Zone)+" is not of type 'string', 'null'")
		}
		if z == nil {
			z = new(string)
		} else if err := checkZoneName(*z); err != nil {
			return err
		}
		zone = z
	}
	if zone != nil && *zone != "" {
		cur, err := l.sched.Aggregate(r.Context(), id)
		if err != nil {
			return aggregateFault(err, id, "")
		}
		reason, err := l.zoneConflict(r, cur.Hosts, *zone)
		if err != nil {
			return err
		}
		if reason != "" {
			return wire.BadRequest("Cannot update aggregate %d. Reason: %s.", id, reason)
		}
	}
	now := l.s.opts.Now().UTC()
	name := ""
	a, err := l.sched.UpdateAggregate(r.Context(), id, func(a *scheduler.Aggregate) error {
		if u.Name != nil {
			a.Name, name = *u.Name, *u.Name
		}
		if zone != nil {
			if a.Metadata == nil {
				a.Metadata = map[string]string{}
			}
			if *zone == "" {
				delete(a.Metadata, "availability_zone")
			} else {
				a.Metadata["availability_zone"] = *zone
			}
		}
		a.UpdatedAt = &now
		return nil
	})
	if err != nil {
		return aggregateFault(err, id, name)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"aggregate": renderAggregate(a, v, true)})
	return nil
}

func (l *layoutAPI) deleteAggregate(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireAdmin(r, "os_compute_api:os-aggregates:delete"); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	err = l.sched.DeleteAggregate(r.Context(), id, func(a *scheduler.Aggregate) error {
		if len(a.Hosts) > 0 {
			return wire.BadRequest("Cannot remove host from aggregate %d. Reason: Host aggregate is not empty.", id)
		}
		return nil
	})
	if err != nil {
		return aggregateFault(err, id, "")
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// metadataKey is Nova's aggregate metadata key pattern.
var metadataKey = regexp.MustCompile(`^[a-zA-Z0-9-_:. ]{1,255}$`)

// aggregateAction answers POST /os-aggregates/{id}/action: add_host,
// remove_host or set_metadata.
func (l *layoutAPI) aggregateAction(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	var body map[string]json.RawMessage
	if err := wire.DecodeJSON(r, &body, false); err != nil {
		return err
	}
	if len(body) != 1 {
		return wire.BadRequest("Malformed request body: exactly one action is required.")
	}
	var a *scheduler.Aggregate
	for action, raw := range body {
		if err := requireAdmin(r, "os_compute_api:os-aggregates:"+action); err != nil {
			return err
		}
		id, err := aggregateID(r)
		if err != nil {
			return err
		}
		switch action {
		case "add_host", "remove_host":
			var hb struct {
				Host *string `json:"host"`
			}
			if err := wire.DecodeBytes(raw, &hb, true); err != nil {
				return err
			}
			if hb.Host == nil || *hb.Host == "" {
				return wire.BadRequest("Invalid input for field/attribute %s. 'host' is a required property", action)
			}
			if action == "add_host" {
				a, err = l.addHost(r, id, *hb.Host)
			} else {
				a, err = l.removeHost(r, id, *hb.Host)
			}
		case "set_metadata":
			a, err = l.setMetadata(r, id, raw)
		default:
			return wire.BadRequest("There is no such action: %s", action)
		}
		if err != nil {
			return err
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"aggregate": renderAggregate(a, v, true)})
	return nil
}

func (l *layoutAPI) addHost(r *http.Request, id int, host string) (*scheduler.Aggregate, error) {
	snap, err := l.sched.Snapshot(r.Context())
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(snap.Hosts, func(h scheduler.HostState) bool { return h.Host == host }) {
		if _, err := l.sched.Aggregate(r.Context(), id); err != nil {
			return nil, aggregateFault(err, id, "")
		}
		return nil, wire.NotFound("Compute host %s could not be found.", host)
	}
	cur, err := l.sched.Aggregate(r.Context(), id)
	if err != nil {
		return nil, aggregateFault(err, id, "")
	}
	reason, err := l.zoneConflict(r, []string{host}, cur.AvailabilityZone())
	if err != nil {
		return nil, err
	}
	if reason != "" {
		return nil, wire.Conflict("Cannot add host to aggregate %d. Reason: %s.", id, reason)
	}
	now := l.s.opts.Now().UTC()
	a, err := l.sched.UpdateAggregate(r.Context(), id, func(a *scheduler.Aggregate) error {
		if slices.Contains(a.Hosts, host) {
			return wire.Conflict("Aggregate %d already has host %s.", id, host)
		}
		a.Hosts = append(a.Hosts, host)
		a.UpdatedAt = &now
		return nil
	})
	if err != nil {
		return nil, aggregateFault(err, id, "")
	}
	return a, nil
}

func (l *layoutAPI) removeHost(r *http.Request, id int, host string) (*scheduler.Aggregate, error) {
	now := l.s.opts.Now().UTC()
	a, err := l.sched.UpdateAggregate(r.Context(), id, func(a *scheduler.Aggregate) error {
		i := slices.Index(a.Hosts, host)
		if i < 0 {
			return wire.NotFound("Cannot remove host %s in aggregate %d", host, id)
		}
		a.Hosts = slices.Delete(a.Hosts, i, i+1)
		a.UpdatedAt = &now
		return nil
	})
	if errors.Is(err, scheduler.ErrAggregateNotFound) {
		return nil, wire.NotFound("Cannot remove host %s in aggregate %d", host, id)
	}
	return a, err
}

func (l *layoutAPI) setMetadata(r *http.Request, id int, raw json.RawMessage) (*scheduler.Aggregate, error) {
	var mb struct {
		Metadata map[string]*string `json:"metadata"`
	}
	if err := wire.DecodeBytes(raw, &mb, true); err != nil {
		return nil, err
	}
	if mb.Metadata == nil {
		return nil, wire.BadRequest("Invalid input for field/attribute set_metadata. 'metadata' is a required property")
	}
	set := map[string]string{}
	for k, val := range mb.Metadata {
		if !metadataKey.MatchString(k) {
			return nil, wire.BadRequest("Invalid input for field/attribute metadata. Additional properties are not allowed ('%s' was unexpected)", k)
		}
		if val != nil {
			if len([]rune(*val)) > 255 {
				return nil, invalidField(k, *val, "'"+*val+"' is too long")
			}
			set[k] = *val
		}
	}
	if err := scheduler.ValidateAggregateMetadata(set); err != nil {
		return nil, aggregateFault(err, id, "")
	}
	cur, err := l.sched.Aggregate(r.Context(), id)
	if err != nil {
		return nil, aggregateFault(err, id, "")
	}
	if z, ok := mb.Metadata["availability_zone"]; ok && z != nil {
		if *z == "" {
			return nil, wire.BadRequest("Cannot update metadata of aggregate %d. Reason: Aggregate %s does not support empty named availability zone.", id, cur.Name)
		}
		reason, err := l.zoneConflict(r, cur.Hosts, *z)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			return nil, wire.BadRequest("Cannot update metadata of aggregate %d. Reason: %s.", id, reason)
		}
	}
	now := l.s.opts.Now().UTC()
	a, err := l.sched.UpdateAggregate(r.Context(), id, func(a *scheduler.Aggregate) error {
		if a.Metadata == nil {
			a.Metadata = map[string]string{}
		}
		for k, val := range mb.Metadata {
			if val == nil {
				delete(a.Metadata, k)
			} else {
				a.Metadata[k] = *val
			}
		}
		a.UpdatedAt = &now
		return nil
	})
	if err != nil {
		return nil, aggregateFault(err, id, "")
	}
	return a, nil
}
