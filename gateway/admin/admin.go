// Package admin is Canopy's own admin API (service type "canopy-admin",
// mounted at /admin/v1, admin role only): what Tricircle called pods and
// routings, with states and health.
//
//	GET   /admin                          version document
//	GET   /admin/v1/clouds                every cloud: type, zones, health, capacity, placement state
//	GET   /admin/v1/clouds/{name}         one cloud, with its hosts
//	PATCH /admin/v1/clouds/{name}         {"cloud": {"enabled": false, "disabled_reason": "..."}}
//	GET   /admin/v1/routings              where each server, volume and snapshot lives;
//	                                      filters: project_id, cloud, resource_type, state; limit, marker
//	GET   /admin/v1/routings/{id}         one resource's routing
//	GET   /admin/v1/clouds/{name}/drift   what the sync loop found: state corrections, missing servers,
//	                                      orphans (bottom servers with a Canopy id the registry lacks)
//	GET   /admin/v1/jobs                  the asynchronous work in flight: server builds and tasks,
//	                                      and changes waiting to be pushed to a cloud (cloud, type filters)
//	GET   /admin/v1/jobs/{id}             the job of resource id: a server's build or task (running, done
//	                                      or failed, with progress and fault), or a pending push
//	POST  /admin/v1/clouds/{name}/redo    push again, now, every change the cloud waits for
//	POST  /admin/v1/scheduler/explain     where a flavor (or an existing server) would be placed:
//	                                      every host, with the filter that dropped it or its weights
//
//	POST   /admin/v1/clouds           register a cloud while the gateway runs: {"cloud": {"name", "type",
//	                                  "availability_zone", "<type>": {...}}}, canopy.yaml's shape; 201, or
//	                                  200 for a retry with the same entry; 409 for a taken name
//	PATCH  /admin/v1/clouds/{name}    also takes availability_zone and the type's section (a registered
//	                                  cloud only): the proxy is rebuilt and replaces the old one
//	DELETE /admin/v1/clouds/{name}    remove a registered cloud that holds no server, volume or snapshot
//
// Clouds canopy.yaml defines are changed there (409 here). Faults use
// Nova's body shape.
package admin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/blockstorage"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// Health is a cloud's health as the gateway's inventory loop last saw it.
type Health struct {
	// Status is "up" (its last inventory call answered), "down", or
	// "unknown" (not checked yet).
	Status    string    `json:"status"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
	// Error is the safe message of the last failure ("" when up).
	Error string `json:"error,omitempty"`
}

// CloudRef is one configured cloud as the app knows it.
type CloudRef struct {
	Name         string
	Type         string
	Capabilities proxies.Capabilities
	Health       Health
	// Registered is true for a cloud registered through this API (it can
	// be reconfigured and removed here), false for canopy.yaml's.
	Registered bool
}

// Clouds lists the configured clouds (the app implements it).
type Clouds interface {
	CloudList() []CloudRef
}

// Placement is the part of the scheduler the admin API reads and drives.
type Placement interface {
	Snapshot(ctx context.Context) (scheduler.Snapshot, error)
	SetCloudEnabled(ctx context.Context, cloud string, enabled bool, reason string) error
	DisabledClouds(ctx context.Context) (map[string]string, error)
	Explain(ctx context.Context, req scheduler.Request) (scheduler.Explanation, error)
}

// Service serves the admin API.
type Service struct {
	clouds    Clouds
	sched     Placement
	servers   *registry.Collection[registry.Server]
	volumes   *registry.Collection[blockstorage.Volume]
	snapshots *registry.Collection[blockstorage.Snapshot]
	flavors   *registry.Collection[registry.Flavor]
	pushes    Pushes
}

// New returns the admin API over the registry, the scheduler and the app's
// clouds.
func New(reg *registry.Registry, sched Placement, clouds Clouds) *Service {
	return &Service{
		clouds: clouds, sched: sched,
		servers:   registry.NewCollection[registry.Server](reg, registry.KindServer, nil),
		volumes:   registry.NewCollection[blockstorage.Volume](reg, blockstorage.KindVolume, nil),
		snapshots: registry.NewCollection[blockstorage.Snapshot](reg, blockstorage.KindSnapshot, nil),
		flavors:   registry.NewCollection(reg, registry.KindFlavor, func(f *registry.Flavor) string { return f.Name }),
	}
}

// CatalogEntry is the admin API's entry in the service catalog.
var CatalogEntry = gateway.CatalogService{ID: "2b1f6fe0a7e84a9d8d1c4a7e5f000007", Type: "canopy-admin", Name: "canopy", Path: "/admin/v1"}

// Register mounts the routes.
func (s *Service) Register(rt *gateway.Router) {
	r := rt.For("admin", wire.Nova)
	r.Public("GET /admin", s.versions)
	r.Public("GET /admin/{$}", s.versions)
	r.Handle("GET /admin/v1/clouds", s.admin(s.listClouds))
	r.Handle("POST /admin/v1/clouds", s.admin(s.registerCloud))
	r.Handle("GET /admin/v1/clouds/{name}", s.admin(s.showCloud))
	r.Handle("GET /admin/v1/clouds/{name}/drift", s.admin(s.showDrift))
	r.Handle("PATCH /admin/v1/clouds/{name}", s.admin(s.updateCloud))
	r.Handle("DELETE /admin/v1/clouds/{name}", s.admin(s.removeCloud))
	r.Handle("GET /admin/v1/routings", s.admin(s.listRoutings))
	r.Handle("GET /admin/v1/routings/{id}", s.admin(s.showRouting))
	r.Handle("POST /admin/v1/scheduler/explain", s.admin(s.explain))
	r.Handle("GET /admin/v1/projects/{id}/residency", s.admin(s.showResidency))
	r.Handle("PUT /admin/v1/projects/{id}/residency", s.admin(s.setResidency))
	r.Handle("GET /admin/v1/jobs", s.admin(s.listJobs))
	r.Handle("GET /admin/v1/jobs/{id}", s.admin(s.showJob))
	r.Handle("POST /admin/v1/clouds/{name}/redo", s.admin(s.redoJobs))
}

func (s *Service) admin(h gateway.HandlerFunc) gateway.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !wire.PrincipalFrom(r.Context()).IsAdmin() {
			return wire.Forbidden("The Canopy admin API needs the admin role.")
		}
		return h(w, r)
	}
}

func (s *Service) versions(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, map[string]any{"versions": []map[string]any{{
		"id": "v1", "status": "CURRENT", "links": []map[string]string{{"rel": "self", "href": "/admin/v1"}},
	}}})
	return nil
}

// Capacity sums a cloud's hosts.
type Capacity struct {
	VCPUs      int `json:"vcpus"`
	UsedVCPUs  int `json:"vcpus_used"`
	RAMMB      int `json:"memory_mb"`
	UsedRAMMB  int `json:"memory_mb_used"`
	DiskGB     int `json:"local_gb"`
	UsedDiskGB int `json:"local_gb_used"`
}

// Host is one host of a cloud, as the scheduler holds it.
type Host struct {
	Name             string `json:"name"`
	AvailabilityZone string `json:"availability_zone"`
	HypervisorType   string `json:"hypervisor_type"`
	State            string `json:"state"`  // up or down
	Status           string `json:"status"` // enabled or disabled
	Capacity
}

// Cloud is a cloud in the admin API.
type Cloud struct {
	Name              string               `json:"name"`
	Type              string               `json:"type"`
	Enabled           bool                 `json:"enabled"`
	DisabledReason    *string              `json:"disabled_reason"`
	AvailabilityZones []string             `json:"availability_zones"`
	Health            Health               `json:"health"`
	Capacity          Capacity             `json:"capacity"`
	HostCount         int                  `json:"host_count"`
	Capabilities      proxies.Capabilities `json:"capabilities"`
	// Registered is true for a cloud registered through this API, false
	// for one canopy.yaml defines.
	Registered bool   `json:"registered"`
	Hosts      []Host `json:"hosts,omitempty"`
}

func (s *Service) cloudViews(ctx context.Context, withHosts bool) ([]Cloud, error) {
	snap, err := s.sched.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	disabled, err := s.sched.DisabledClouds(ctx)
	if err != nil {
		return nil, err
	}
	refs := s.clouds.CloudList()
	out := make([]Cloud, 0, len(refs))
	for _, ref := range refs {
		c := Cloud{Name: ref.Name, Type: ref.Type, Enabled: true, Health: ref.Health, Capabilities: ref.Capabilities, AvailabilityZones: []string{}, Registered: ref.Registered}
		if reason, off := disabled[ref.Name]; off {
			c.Enabled, c.DisabledReason = false, &reason
		}
		for _, h := range snap.Hosts {
			if h.Cloud != ref.Name {
				continue
			}
			c.HostCount++
			if !slices.Contains(c.AvailabilityZones, h.AvailabilityZone) {
				c.AvailabilityZones = append(c.AvailabilityZones, h.AvailabilityZone)
			}
			hc := Capacity{VCPUs: h.VCPUs, UsedVCPUs: h.UsedVCPUs, RAMMB: h.RAMMB, UsedRAMMB: h.UsedRAMMB, DiskGB: h.DiskGB, UsedDiskGB: h.UsedDiskGB}
			if h.Up {
				c.Capacity.VCPUs += hc.VCPUs
				c.Capacity.RAMMB += hc.RAMMB
				c.Capacity.DiskGB += hc.DiskGB
			}
			c.Capacity.UsedVCPUs += hc.UsedVCPUs
			c.Capacity.UsedRAMMB += hc.UsedRAMMB
			c.Capacity.UsedDiskGB += hc.UsedDiskGB
			if withHosts {
				c.Hosts = append(c.Hosts, Host{Name: h.Host, AvailabilityZone: h.AvailabilityZone, HypervisorType: h.HypervisorType,
					State: pick(h.Up, "up", "down"), Status: pick(h.Enabled, "enabled", "disabled"), Capacity: hc})
			}
		}
		slices.Sort(c.AvailabilityZones)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Cloud) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

func pick(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func (s *Service) listClouds(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.cloudViews(r.Context(), false)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"clouds": cs})
	return nil
}

func (s *Service) findCloud(ctx context.Context, name string) (Cloud, error) {
	cs, err := s.cloudViews(ctx, true)
	if err != nil {
		return Cloud{}, err
	}
	for _, c := range cs {
		if c.Name == name {
			return c, nil
		}
	}
	return Cloud{}, wire.NotFound("Cloud %s could not be found.", name)
}

func (s *Service) showCloud(w http.ResponseWriter, r *http.Request) error {
	c, err := s.findCloud(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"cloud": c})
	return nil
}

func (s *Service) updateCloud(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := s.findCloud(r.Context(), name); err != nil {
		return err
	}
	m, err := readCloudBody(r)
	if err != nil {
		return err
	}
	var placement, entry bool
	for k := range m {
		switch {
		case slices.Contains(placementKeys, k):
			placement = true
		case slices.Contains(entryKeys, k):
			entry = true
		default:
			return wire.BadRequest("Invalid input for field/attribute %s: unknown (PATCH takes enabled, disabled_reason, availability_zone or the cloud type's section).", k)
		}
	}
	if !placement && !entry {
		return wire.BadRequest("Invalid input for field/attribute cloud: nothing to change (enabled, disabled_reason, availability_zone or the cloud type's section).")
	}
	var enabled *bool
	var reasonPtr *string
	if v, ok := m["enabled"]; ok {
		if err := json.Unmarshal(v, &enabled); err != nil || enabled == nil {
			return wire.BadRequest("Invalid input for field/attribute enabled: true or false.")
		}
	}
	if v, ok := m["disabled_reason"]; ok {
		if err := json.Unmarshal(v, &reasonPtr); err != nil {
			return wire.BadRequest("Invalid input for field/attribute disabled_reason: a string.")
		}
	}
	if placement && enabled == nil {
		return wire.BadRequest("Invalid input for field/attribute enabled: it is required (true or false).")
	}
	reason := ""
	if reasonPtr != nil {
		if *enabled {
			return wire.BadRequest("Invalid input for field/attribute disabled_reason: only allowed with enabled false.")
		}
		if len(*reasonPtr) > 255 {
			return wire.BadRequest("Invalid input for field/attribute disabled_reason: at most 255 characters.")
		}
		reason = *reasonPtr
	}
	if entry {
		if err := s.reconfigure(r.Context(), name, m); err != nil {
			return err
		}
	}
	if placement {
		if err := s.sched.SetCloudEnabled(r.Context(), name, *enabled, reason); err != nil {
			return err
		}
	}
	c, err := s.findCloud(r.Context(), name)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"cloud": c})
	return nil
}

// Routing is where one resource lives.
type Routing struct {
	ResourceType string `json:"resource_type"` // server, volume or snapshot
	ResourceID   string `json:"resource_id"`
	ProjectID    string `json:"project_id"`
	Name         string `json:"name"`
	Cloud        string `json:"cloud"`
	Host         string `json:"host,omitempty"`
	BottomID     string `json:"bottom_id,omitempty"`
	State        string `json:"state"`
}

// resourceTypes is the order routings are listed in.
var resourceTypes = []string{"server", "volume", "snapshot"}

func (s *Service) listRoutings(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "project_id", "cloud", "resource_type", "state", "limit", "marker":
		default:
			return wire.BadRequest("Invalid input for query parameters %s: unknown filter (known: project_id, cloud, resource_type, state, limit, marker).", k)
		}
	}
	project := cmp.Or(q.Get("project_id"), "*")
	types := resourceTypes
	if t := q.Get("resource_type"); t != "" {
		if !slices.Contains(resourceTypes, t) {
			return wire.BadRequest("Invalid input for query parameters resource_type: %q is not one of server, volume, snapshot.", t)
		}
		types = []string{t}
	}
	limit := 1000
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return wire.BadRequest("Invalid input for query parameters limit: %q is not a positive integer.", l)
		}
		limit = min(n, 1000)
	}
	var all []Routing
	for _, t := range types {
		rs, err := s.routingsOf(r.Context(), t, project)
		if err != nil {
			return err
		}
		all = append(all, rs...)
	}
	out := make([]Routing, 0, min(len(all), limit))
	marker, seen := q.Get("marker"), q.Get("marker") == ""
	for _, rt := range all {
		if !seen {
			seen = rt.ResourceID == marker
			continue
		}
		if c := q.Get("cloud"); c != "" && rt.Cloud != c {
			continue
		}
		if st := q.Get("state"); st != "" && rt.State != st {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, rt)
	}
	if !seen {
		return wire.BadRequest("marker [%s] not found", marker)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"routings": out})
	return nil
}

// routingsOf lists the routings of one resource type in project ("*": all).
func (s *Service) routingsOf(ctx context.Context, typ, project string) ([]Routing, error) {
	var out []Routing
	switch typ {
	case "server":
		vs, err := s.servers.List(ctx, project, registry.Page{})
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			out = append(out, serverRouting(v))
		}
	case "volume":
		vs, err := s.volumes.List(ctx, project, registry.Page{})
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			out = append(out, volumeRouting(v))
		}
	case "snapshot":
		vs, err := s.snapshots.List(ctx, project, registry.Page{})
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			out = append(out, Routing{ResourceType: "snapshot", ResourceID: v.ID, ProjectID: v.ProjectID, Name: v.Name, Cloud: v.Cloud, State: v.Status})
		}
	}
	return out, nil
}

func serverRouting(v *registry.Server) Routing {
	return Routing{ResourceType: "server", ResourceID: v.ID, ProjectID: v.ProjectID, Name: v.Name,
		Cloud: v.Routing.Cloud, Host: v.Routing.Host, BottomID: v.Routing.BottomID, State: string(v.Routing.State)}
}

func volumeRouting(v *blockstorage.Volume) Routing {
	return Routing{ResourceType: "volume", ResourceID: v.ID, ProjectID: v.ProjectID, Name: v.Name,
		Cloud: v.Routing.Cloud, Host: v.Routing.Host, BottomID: v.Routing.BottomID, State: string(v.Routing.State)}
}

func (s *Service) showRouting(w http.ResponseWriter, r *http.Request) error {
	ctx, id := r.Context(), r.PathValue("id")
	var rt Routing
	if v, err := s.servers.Lookup(ctx, id); err == nil {
		rt = serverRouting(v.Value)
	} else if !errors.Is(err, registry.ErrNotFound) {
		return err
	} else if v, err := s.volumes.Lookup(ctx, id); err == nil {
		rt = volumeRouting(v.Value)
	} else if !errors.Is(err, registry.ErrNotFound) {
		return err
	} else if v, err := s.snapshots.Lookup(ctx, id); err == nil {
		rt = Routing{ResourceType: "snapshot", ResourceID: v.Value.ID, ProjectID: v.Value.ProjectID, Name: v.Value.Name, Cloud: v.Value.Cloud, State: v.Value.Status}
	} else if errors.Is(err, registry.ErrNotFound) {
		return wire.NotFound("No server, volume or snapshot %s is routed.", id)
	} else {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"routing": rt})
	return nil
}
