package compute

import (
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/scheduler"
)

// Nova's admin views of the layout: os-hypervisors, os-services and
// os-aggregates, answered from the scheduler's hosts (every host of every
// cloud, public clouds as one pseudo-host per zone), its claims and its
// aggregates. Ids are stable: small integers numbered by the scheduler the
// first time it shows a host (before 2.53), UUIDv5 of cloud and host (from
// 2.53).

// layoutAPI serves the layout routes over one scheduler.
type layoutAPI struct {
	s     *Service
	sched *scheduler.Scheduler
}

// registerLayout mounts os-hypervisors, os-services and os-aggregates. The
// scheduler view is built over the service's registry (it does no I/O):
// the layout state lives in the registry, shared with the app's scheduler.
func (s *Service) registerLayout(r *gateway.Router) {
	l := &layoutAPI{s: s, sched: scheduler.New(s.reg, scheduler.Options{})}
	const p = "/compute/v2.1"
	r.Handle("GET "+p+"/os-hypervisors", mv(l.listHypervisors(false)))
	r.Handle("GET "+p+"/os-hypervisors/detail", mv(l.listHypervisors(true)))
	r.Handle("GET "+p+"/os-hypervisors/statistics", mv(l.hypervisorStatistics))
	r.Handle("GET "+p+"/os-hypervisors/{id}", mv(l.showHypervisor))
	r.Handle("GET "+p+"/os-hypervisors/{id}/uptime", mv(l.hypervisorUptime))
	r.Handle("GET "+p+"/os-hypervisors/{id}/search", mv(l.searchHypervisors(false)))
	r.Handle("GET "+p+"/os-hypervisors/{id}/servers", mv(l.searchHypervisors(true)))
	r.Handle("GET "+p+"/os-services", mv(l.listServices))
	r.Handle("PUT "+p+"/os-services/{id}", mv(l.updateService))
	r.Handle("GET "+p+"/os-aggregates", mv(l.listAggregates))
	r.Handle("POST "+p+"/os-aggregates", mv(l.createAggregate))
	r.Handle("GET "+p+"/os-aggregates/{id}", mv(l.showAggregate))
	r.Handle("PUT "+p+"/os-aggregates/{id}", mv(l.updateAggregate))
	r.Handle("DELETE "+p+"/os-aggregates/{id}", mv(l.deleteAggregate))
	r.Handle("POST "+p+"/os-aggregates/{id}/action", mv(l.aggregateAction))
}

// layoutNamespace is the UUIDv5 namespace of Canopy's layout ids.
var layoutNamespace = [16]byte{0x6c, 0x8e, 0x2f, 0x0a, 0x93, 0x1d, 0x4b, 0x52, 0x8a, 0x41, 0x0c, 0x7b, 0x5e, 0x2d, 0x19, 0x64}

// uuid5 is the RFC 9562 version 5 UUID of name in layoutNamespace.
func uuid5(name string) string {
	h := sha1.New()
	h.Write(layoutNamespace[:])
	h.Write([]byte(name))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = (b[6] & 0x0f) | 0x50
	b[8] = (b[8] & 0x3f) | 0x80
	x := hex.EncodeToString(b[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// isUUIDLike is oslo's is_uuid_like: 32 hex digits, dashes anywhere.
func isUUIDLike(s string) bool {
	x := strings.ReplaceAll(strings.ToLower(s), "-", "")
	if len(x) != 32 {
		return false
	}
	_, err := hex.DecodeString(x)
	return err == nil
}

// hypervisor is one scheduler host as Nova's views show it.
type hypervisor struct {
	h       *scheduler.HostState
	num     int
	running int
	servers []map[string]any
}

func (y *hypervisor) uuid() string {
	return uuid5("hypervisor/" + scheduler.HostKey(y.h.Cloud, y.h.Host))
}
func (y *hypervisor) serviceUUID() string { return computeServiceUUID(y.h) }

func computeServiceUUID(h *scheduler.HostState) string {
	return uuid5("service/nova-compute/" + scheduler.HostKey(h.Cloud, h.Host))
}

// controllerServices are the gateway's own services in os-services (ids 1
// and 2; compute services follow from 3).
var controllerServices = []string{"nova-scheduler", "nova-conductor"}

// hypervisors reads every host with its number and claim count, ordered by
// number (Nova's order: compute node id).
func (l *layoutAPI) hypervisors(ctx context.Context) ([]*hypervisor, error) {
	snap, err := l.sched.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	nums, err := l.sched.HostNumbers(ctx, snap.Hosts)
	if err != nil {
		return nil, err
	}
	claims, err := l.sched.Claims(ctx)
	if err != nil {
		return nil, err
	}
	running := scheduler.RunningServers(claims)
	out := make([]*hypervisor, len(snap.Hosts))
	for i := range snap.Hosts {
		h := &snap.Hosts[i]
		k := scheduler.HostKey(h.Cloud, h.Host)
		out[i] = &hypervisor{h: h, num: nums[k], running: running[k]}
	}
	slices.SortFunc(out, func(a, b *hypervisor) int { return cmp.Compare(a.num, b.num) })
	return out, nil
}

// attachServers fills in the servers (uuid, name) each hypervisor runs,
// from the claims and the server records.
func (l *layoutAPI) attachServers(ctx context.Context, hyps []*hypervisor) error {
	claims, err := l.sched.Claims(ctx)
	if err != nil {
		return err
	}
	byHost := map[string]*hypervisor{}
	for _, y := range hyps {
		byHost[scheduler.HostKey(y.h.Cloud, y.h.Host)] = y
	}
	byProject := map[string][]string{}
	where := map[string]*hypervisor{}
	for _, c := range claims {
		if y := byHost[scheduler.HostKey(c.Cloud, c.Host)]; y != nil {
			byProject[c.ProjectID] = append(byProject[c.ProjectID], c.ServerID)
			where[c.ServerID] = y
		}
	}
	for project, ids := range byProject {
		slices.Sort(ids)
		recs, err := l.s.b.Servers().GetMany(ctx, project, ids)
		if err != nil {
			return err
		}
		for _, srv := range recs {
			y := where[srv.ID]
			y.servers = append(y.servers, map[string]any{"uuid": srv.ID, "name": srv.Name})
		}
	}
	for _, y := range hyps {
		slices.SortFunc(y.servers, func(a, b map[string]any) int { return cmp.Compare(a["uuid"].(string), b["uuid"].(string)) })
	}
	return nil
}

// hypervisorView renders y at v: the summary, or the detail.
func hypervisorView(y *hypervisor, v wire.Version, detail, withServers bool) map[string]any {
	h := y.h
	m := map[string]any{"hypervisor_hostname": h.Host, "state": upDown(h.Up), "status": enabledDisabled(h.Enabled)}
	if v.AtLeast(2, 53) {
		m["id"] = y.uuid()
	} else {
		m["id"] = y.num
	}
	if detail {
		var svcID any = y.num + len(controllerServices)
		if v.AtLeast(2, 53) {
			svcID = y.serviceUUID()
		}
		m["service"] = map[string]any{"id": svcID, "host": h.Host, "disabled_reason": nullable(h.DisabledReason)}
		m["hypervisor_type"], m["hypervisor_version"], m["host_ip"] = h.HypervisorType, 1, nil
		m["vcpus"], m["memory_mb"], m["local_gb"] = h.VCPUs, h.RAMMB, h.DiskGB
		m["vcpus_used"], m["memory_mb_used"], m["local_gb_used"] = h.UsedVCPUs, h.UsedRAMMB, h.UsedDiskGB
		m["free_ram_mb"], m["free_disk_gb"] = h.RAMMB-h.UsedRAMMB, h.DiskGB-h.UsedDiskGB
		m["current_workload"], m["running_vms"], m["disk_available_least"] = 0, y.running, h.DiskGB-h.UsedDiskGB
		if v.AtLeast(2, 28) {
			m["cpu_info"] = map[string]any{}
		} else {
			m["cpu_info"] = "{}"
		}
	}
	if len(y.servers) > 0 {
		m["servers"] = y.servers
	} else if withServers && v.AtLeast(2, 75) {
		m["servers"] = []any{}
	}
	return m
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func enabledDisabled(en bool) string {
	if en {
		return "enabled"
	}
	return "disabled"
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// checkQuery refuses query parameters outside allowed (Nova's
// additionalProperties: false on the query schema).
func checkQuery(r *http.Request, allowed ...string) error {
	for k := range r.URL.Query() {
		if !slices.Contains(allowed, k) {
			return wire.BadRequest("Invalid input for query parameters %s. Value: %s. Additional properties are not allowed ('%s' was unexpected)",
				k, r.URL.Query().Get(k), k)
		}
	}
	return nil
}

// queryBool is oslo's bool_from_string(strict=True) for query parameter
// name (false when absent).
func queryBool(r *http.Request, name string) (bool, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(q.Get(name))) {
	case "1", "t", "true", "on", "y", "yes":
		return true, nil
	case "0", "f", "false", "off", "n", "no":
		return false, nil
	}
	return false, wire.BadRequest("Invalid input for query parameters %s. Value: %s. '%s' is not one of ['True', 'true', 'False', 'false', '1', '0', 'on', 'off', 'yes', 'no', 't', 'f', 'y', 'n']",
		name, q.Get(name), q.Get(name))
}

// listHypervisors answers GET /os-hypervisors and /os-hypervisors/detail.
func (l *layoutAPI) listHypervisors(detail bool) handler {
	rule := "os_compute_api:os-hypervisors:list"
	if detail {
		rule += "-detail"
	}
	return func(w http.ResponseWriter, r *http.Request, v wire.Version) error {
		if err := requireAdmin(r, rule); err != nil {
			return err
		}
		q := r.URL.Query()
		pattern, hasPattern, withServers := "", false, false
		if v.AtLeast(2, 53) {
			if err := checkQuery(r, "limit", "marker", "hypervisor_hostname_pattern", "with_servers"); err != nil {
				return err
			}
			var err error
			if withServers, err = queryBool(r, "with_servers"); err != nil {
				return err
			}
			pattern, hasPattern = q.Get("hypervisor_hostname_pattern"), q.Has("hypervisor_hostname_pattern")
		}
		paged := v.AtLeast(2, 33)
		var page wire.Paging
		if paged {
			var werr *wire.Error
			if page, werr = wire.ParsePaging(r, l.s.opts.MaxLimit); werr != nil {
				return werr
			}
		}
		if hasPattern && (q.Has("limit") || page.Marker != "") {
			return wire.BadRequest("Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.")
		}
		hyps, err := l.hypervisors(r.Context())
		if err != nil {
			return err
		}
		if hasPattern {
			if hyps = matching(hyps, pattern); len(hyps) == 0 {
				return wire.NotFound("No hypervisor matching '%s' could be found.", pattern)
			}
			paged = false
		}
		if paged {
			if page.Marker != "" {
				i := slices.IndexFunc(hyps, func(y *hypervisor) bool { return hypervisorID(y, v) == page.Marker })
				if i < 0 {
					return wire.BadRequest("marker [%s] not found", page.Marker)
				}
				hyps = hyps[i+1:]
			}
			hyps = hyps[:min(len(hyps), page.Limit)]
		}
		if withServers {
			if err := l.attachServers(r.Context(), hyps); err != nil {
				return err
			}
		}
		out := make([]map[string]any, len(hyps))
		for i, y := range hyps {
			out[i] = hypervisorView(y, v, detail, withServers)
		}
		body := map[string]any{"hypervisors": out}
		if paged && page.Limit > 0 && len(hyps) == page.Limit {
			body["hypervisors_links"] = nextLink(r, wire.BaseURL(r), hypervisorID(hyps[len(hyps)-1], v))
		}
		wire.WriteJSON(w, http.StatusOK, body)
		return nil
	}
}

// hypervisorID is y's id at v, as text.
func hypervisorID(y *hypervisor, v wire.Version) string {
	if v.AtLeast(2, 53) {
		return y.uuid()
	}
	return strconv.Itoa(y.num)
}

// matching keeps the hypervisors whose host name contains pattern (Nova's
// SQL LIKE '%pattern%').
func matching(hyps []*hypervisor, pattern string) []*hypervisor {
	var out []*hypervisor
	for _, y := range hyps {
		if strings.Contains(y.h.Host, pattern) {
			out = append(out, y)
		}
	}
	return out
}

// findHypervisor resolves the {id} of the path at v: an integer before
// 2.53 (404 otherwise), a UUID from 2.53 (400 otherwise).
func (l *layoutAPI) findHypervisor(r *http.Request, v wire.Version) (*hypervisor, error) {
	id := r.PathValue("id")
	want := strings.ToLower(id)
	if v.AtLeast(2, 53) {
		if !isUUIDLike(id) {
			return nil, wire.BadRequest("Invalid uuid %s", id)
		}
	} else {
		n, err := strconv.Atoi(strings.TrimSpace(id))
		if err != nil {
			return nil, wire.NotFound("Hypervisor with ID '%s' could not be found.", id)
		}
		want = strconv.Itoa(n)
	}
	hyps, err := l.hypervisors(r.Context())
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(hyps, func(y *hypervisor) bool { return hypervisorID(y, v) == want })
	if i < 0 {
		return nil, wire.NotFound("Hypervisor with ID '%s' could not be found.", id)
	}
	return hyps[i], nil
}

// hypervisorUptime answers GET /os-hypervisors/{id}/uptime: no cloud
// reports its hosts' uptime, so, as Nova does for a driver without it, 501.
func (l *layoutAPI) hypervisorUptime(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireAdmin(r, "os_compute_api:os-hypervisors:uptime"); err != nil {
		return err
	}
	if _, err := l.findHypervisor(r, v); err != nil {
		return err
	}
	return &wire.Error{Status: http.StatusNotImplemented, Message: "The requested functionality is not supported."}
}

// showHypervisor answers GET /os-hypervisors/{id}.
func (l *layoutAPI) showHypervisor(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireAdmin(r, "os_compute_api:os-hypervisors:show"); err != nil {
		return err
	}
	withServers := false
	if v.AtLeast(2, 53) {
		if err := checkQuery(r, "with_servers"); err != nil {
			return err
		}
		var err error
		if withServers, err = queryBool(r, "with_servers"); err != nil {
			return err
		}
	}
	found, err := l.findHypervisor(r, v)
	if err != nil {
		return err
	}
	y := []*hypervisor{found}
	if withServers {
		if err := l.attachServers(r.Context(), y); err != nil {
			return err
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"hypervisor": hypervisorView(y[0], v, true, withServers)})
	return nil
}

// searchHypervisors answers GET /os-hypervisors/{pattern}/search and
// /servers, which 2.53 replaced with query parameters.
func (l *layoutAPI) searchHypervisors(withServers bool) handler {
	rule := "os_compute_api:os-hypervisors:search"
	if withServers {
		rule = "os_compute_api:os-hypervisors:servers"
	}
	return func(w http.ResponseWriter, r *http.Request, v wire.Version) error {
		if v.AtLeast(2, 53) {
			return wire.NotFound("The resource could not be found.")
		}
		if err := requireAdmin(r, rule); err != nil {
			return err
		}
		pattern := r.PathValue("id")
		hyps, err := l.hypervisors(r.Context())
		if err != nil {
			return err
		}
		if hyps = matching(hyps, pattern); len(hyps) == 0 {
			return wire.NotFound("No hypervisor matching '%s' could be found.", pattern)
		}
		if withServers {
			if err := l.attachServers(r.Context(), hyps); err != nil {
				return err
			}
		}
		out := make([]map[string]any, len(hyps))
		for i, y := range hyps {
			out[i] = hypervisorView(y, v, false, false)
		}
		wire.WriteJSON(w, http.StatusOK, map[string]any{"hypervisors": out})
		return nil
	}
}

// hypervisorStatistics answers GET /os-hypervisors/statistics: the sums
// over the enabled hosts, as Nova's compute_node_statistics.
func (l *layoutAPI) hypervisorStatistics(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireAdmin(r, "os_compute_api:os-hypervisors:statistics"); err != nil {
		return err
	}
	hyps, err := l.hypervisors(r.Context())
	if err != nil {
		return err
	}
	st := map[string]int{"count": 0, "vcpus": 0, "memory_mb": 0, "local_gb": 0, "vcpus_used": 0, "memory_mb_used": 0,
		"local_gb_used": 0, "free_ram_mb": 0, "free_disk_gb": 0, "current_workload": 0, "running_vms": 0, "disk_available_least": 0}
	for _, y := range hyps {
		h := y.h
		if !h.Enabled {
			continue
		}
		st["count"]++
		st["vcpus"] += h.VCPUs
		st["memory_mb"] += h.RAMMB
		st["local_gb"] += h.DiskGB
		st["vcpus_used"] += h.UsedVCPUs
		st["memory_mb_used"] += h.UsedRAMMB
		st["local_gb_used"] += h.UsedDiskGB
		st["free_ram_mb"] += h.RAMMB - h.UsedRAMMB
		st["free_disk_gb"] += h.DiskGB - h.UsedDiskGB
		st["disk_available_least"] += h.DiskGB - h.UsedDiskGB
		st["running_vms"] += y.running
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"hypervisor_statistics": st})
	return nil
}
