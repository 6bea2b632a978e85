package compute_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/compute"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// layoutHarness is a gateway whose layout APIs read a real scheduler over
// the in-memory registry: three hosts in two clouds, two servers placed.
type layoutHarness struct {
	*harness
	sched *scheduler.Scheduler
	srv1  string // on sim-1
	srv2  string // on aws:us-east-1a
}

var layoutNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func newLayoutHarness(t *testing.T) *layoutHarness {
	t.Helper()
	ctx := context.Background()
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cloud: brokertest.NewBackend("sim"), placer: brokertest.NewPlacer("sim", "host1"), ports: brokertest.NewPorts()}
	h.backends = map[string]proxies.Backend{"sim": h.cloud}
	h.b = broker.New(reg, h.placer, brokertest.NewImages(), h.ports, h.backends, slog.New(slog.DiscardHandler), broker.Options{})
	t.Cleanup(h.b.Close)
	ids := 0
	h.svc = compute.New(reg, h.b, compute.Options{Now: func() time.Time { return layoutNow }, NewID: func() string {
		ids++
		return fmt.Sprintf("aa11aa11-0000-4000-8000-%012d", ids)
	}})
	g := gateway.New(slog.New(slog.DiscardHandler), principals)
	g.Mount(h.svc)
	h.h = g.Handler()

	s := scheduler.New(reg, scheduler.Options{})
	if err := s.SyncHosts(ctx, "local", []proxies.Host{
		{Name: "sim-1", AvailabilityZone: "az1", HypervisorType: "QEMU", Up: true, Enabled: true, VCPUs: 8, RAMMB: 16384, DiskGB: 100},
		{Name: "sim-2", AvailabilityZone: "az1", HypervisorType: "QEMU", Up: true, Enabled: true, VCPUs: 8, RAMMB: 16384, DiskGB: 100},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncHosts(ctx, "aws", []proxies.Host{
		{Name: "aws:us-east-1a", AvailabilityZone: "us-east-1a", HypervisorType: "ec2", Up: true, Enabled: true, VCPUs: 32, RAMMB: 65536, DiskGB: 1000},
	}); err != nil {
		t.Fatal(err)
	}
	lh := &layoutHarness{harness: h, sched: s, srv1: "5e1f0000-0000-4000-8000-000000000001", srv2: "5e1f0000-0000-4000-8000-000000000002"}
	for _, c := range []struct{ id, name, host string }{{lh.srv1, "web-1", "sim-1"}, {lh.srv2, "db-1", "aws:us-east-1a"}} {
		if _, err := s.Place(ctx, scheduler.Request{ServerID: c.id, ProjectID: projectA, ForceHost: c.host,
			Flavor: proxies.Flavor{ID: "1", VCPUs: 2, RAMMB: 2048, DiskGB: 10}}); err != nil {
			t.Fatal(err)
		}
		if err := h.b.Servers().Create(ctx, projectA, c.id, layoutNow, &registry.Server{ID: c.id, ProjectID: projectA, Name: c.name}); err != nil {
			t.Fatal(err)
		}
	}
	return lh
}

// list returns the named list of a JSON body.
func list(t *testing.T, r resp, key string) []map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	raw, _ := r.json(t)[key].([]any)
	out := make([]map[string]any, len(raw))
	for i, x := range raw {
		out[i] = x.(map[string]any)
	}
	return out
}

func wantStatus(t *testing.T, r resp, status int, fragment string) {
	t.Helper()
	if r.status != status || !strings.Contains(string(r.body), fragment) {
		t.Errorf("got %d %s, want %d containing %q", r.status, r.body, status, fragment)
	}
}

const hv = "/compute/v2.1/os-hypervisors"

func TestHypervisors(t *testing.T) {
	h := newLayoutHarness(t)
	wantStatus(t, h.do("GET", hv, tokMember, "", ""), http.StatusForbidden, "os_compute_api:os-hypervisors:list")

	// 2.1: integer ids in the order the hosts were first shown.
	hyps := list(t, h.do("GET", hv+"/detail", tokAdmin, "2.1", ""), "hypervisors")
	if len(hyps) != 3 {
		t.Fatalf("%d hypervisors", len(hyps))
	}
	byName := map[string]map[string]any{}
	for i, y := range hyps {
		byName[y["hypervisor_hostname"].(string)] = y
		if y["id"] != float64(i+1) {
			t.Errorf("hypervisor %d id = %v", i, y["id"])
		}
	}
	sim1, aws := byName["sim-1"], byName["aws:us-east-1a"]
	if sim1["running_vms"] != float64(1) || sim1["vcpus_used"] != float64(2) || sim1["memory_mb"] != float64(16384) ||
		sim1["free_ram_mb"] != float64(16384-2048) || sim1["cpu_info"] != "{}" || sim1["hypervisor_type"] != "QEMU" {
		t.Errorf("sim-1 = %v", sim1)
	}
	if aws["running_vms"] != float64(1) || aws["state"] != "up" || aws["status"] != "enabled" {
		t.Errorf("aws = %v", aws)
	}
	if byName["sim-2"]["running_vms"] != float64(0) {
		t.Errorf("sim-2 = %v", byName["sim-2"])
	}
	// 2.28: cpu_info is an object.
	if y := list(t, h.do("GET", hv+"/detail", tokAdmin, "2.28", ""), "hypervisors")[0]; fmt.Sprint(y["cpu_info"]) != "map[]" {
		t.Errorf("cpu_info at 2.28 = %#v", y["cpu_info"])
	}

	// Statistics count the enabled hosts only.
	if r := h.do("PUT", "/compute/v2.1/os-services/disable", tokAdmin, "2.1", `{"host": "sim-2", "binary": "nova-compute"}`); r.status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	st := h.do("GET", hv+"/statistics", tokAdmin, "2.1", "").json(t)["hypervisor_statistics"].(map[string]any)
	if st["count"] != float64(2) || st["vcpus"] != float64(40) || st["running_vms"] != float64(2) || st["vcpus_used"] != float64(4) {
		t.Errorf("statistics = %v", st)
	}

	// 2.33: paging by integer marker, with a next link.
	page := h.do("GET", hv+"?limit=2", tokAdmin, "2.33", "")
	if got := list(t, page, "hypervisors"); len(got) != 2 || !strings.Contains(string(page.body), "marker=2") {
		t.Errorf("page 1 = %s", page.body)
	}
	if got := list(t, h.do("GET", hv+"?limit=2&marker=2", tokAdmin, "2.33", ""), "hypervisors"); len(got) != 1 || got[0]["id"] != float64(3) {
		t.Errorf("page 2 = %v", got)
	}
	wantStatus(t, h.do("GET", hv+"?marker=99", tokAdmin, "2.33", ""), http.StatusBadRequest, "marker [99] not found")

	// 2.53: UUIDs, stable; pattern; with_servers.
	a := list(t, h.do("GET", hv, tokAdmin, "2.53", ""), "hypervisors")
	b := list(t, h.do("GET", hv, tokAdmin, "2.53", ""), "hypervisors")
	if len(a) != 3 || a[0]["id"] != b[0]["id"] || len(a[0]["id"].(string)) != 36 || a[0]["id"] == a[1]["id"] {
		t.Fatalf("2.53 ids: %v / %v", a, b)
	}
	sims := list(t, h.do("GET", hv+"/detail?hypervisor_hostname_pattern=sim&with_servers=true", tokAdmin, "2.53", ""), "hypervisors")
	if len(sims) != 2 {
		t.Fatalf("pattern sim: %v", sims)
	}
	srvs, _ := sims[0]["servers"].([]any)
	if sims[0]["hypervisor_hostname"] != "sim-1" || len(srvs) != 1 || srvs[0].(map[string]any)["name"] != "web-1" || srvs[0].(map[string]any)["uuid"] != h.srv1 {
		t.Errorf("sim-1 with servers = %v", sims[0])
	}
	if _, has := sims[1]["servers"]; has {
		t.Errorf("sim-2 has no servers and 2.53 < 2.75 shows none: %v", sims[1])
	}
	if y := list(t, h.do("GET", hv+"?hypervisor_hostname_pattern=sim-2&with_servers=1", tokAdmin, "2.75", ""), "hypervisors")[0]; fmt.Sprint(y["servers"]) != "[]" {
		t.Errorf("2.75 with_servers on an empty host = %v", y)
	}
	wantStatus(t, h.do("GET", hv+"?hypervisor_hostname_pattern=sim&limit=1", tokAdmin, "2.53", ""), http.StatusBadRequest, "Paging over hypervisors")
	wantStatus(t, h.do("GET", hv+"?hypervisor_hostname_pattern=nope", tokAdmin, "2.53", ""), http.StatusNotFound, "No hypervisor matching 'nope'")
	wantStatus(t, h.do("GET", hv+"?foo=1", tokAdmin, "2.53", ""), http.StatusBadRequest, "'foo' was unexpected")
	wantStatus(t, h.do("GET", hv+"?with_servers=maybe", tokAdmin, "2.53", ""), http.StatusBadRequest, "with_servers")

	// Show: by integer before 2.53, by UUID from 2.53.
	if y := h.do("GET", hv+"/1", tokAdmin, "2.1", "").json(t)["hypervisor"].(map[string]any); y["hypervisor_hostname"] != hyps[0]["hypervisor_hostname"] {
		t.Errorf("show 1 = %v", y)
	}
	id := a[2]["id"].(string)
	y := h.do("GET", hv+"/"+id+"?with_servers=true", tokAdmin, "2.53", "").json(t)["hypervisor"].(map[string]any)
	if y["id"] != id || y["service"].(map[string]any)["id"].(string) == id {
		t.Errorf("show %s = %v", id, y)
	}
	wantStatus(t, h.do("GET", hv+"/1", tokAdmin, "2.53", ""), http.StatusBadRequest, "Invalid uuid 1")
	wantStatus(t, h.do("GET", hv+"/"+id, tokAdmin, "2.1", ""), http.StatusNotFound, "could not be found")
	wantStatus(t, h.do("GET", hv+"/7", tokAdmin, "2.1", ""), http.StatusNotFound, "Hypervisor with ID '7' could not be found.")

	wantStatus(t, h.do("GET", hv+"/"+id+"/uptime", tokAdmin, "2.53", ""), http.StatusNotImplemented, "not supported")
	wantStatus(t, h.do("GET", hv+"/9/uptime", tokAdmin, "2.1", ""), http.StatusNotFound, "Hypervisor with ID '9' could not be found.")

	// search and servers until 2.52.
	if got := list(t, h.do("GET", hv+"/aws/servers", tokAdmin, "2.52", ""), "hypervisors"); len(got) != 1 || len(got[0]["servers"].([]any)) != 1 {
		t.Errorf("servers on aws = %v", got)
	}
	if got := list(t, h.do("GET", hv+"/sim/search", tokAdmin, "2.1", ""), "hypervisors"); len(got) != 2 {
		t.Errorf("search sim = %v", got)
	}
	wantStatus(t, h.do("GET", hv+"/sim/search", tokAdmin, "2.53", ""), http.StatusNotFound, "could not be found")
	wantStatus(t, h.do("GET", hv+"/zzz/search", tokAdmin, "2.1", ""), http.StatusNotFound, "No hypervisor matching 'zzz'")
}

const svcs = "/compute/v2.1/os-services"

func TestServices(t *testing.T) {
	h := newLayoutHarness(t)
	ctx := t.Context()
	wantStatus(t, h.do("GET", svcs, tokMember, "", ""), http.StatusForbidden, "os_compute_api:os-services:list")
	all := list(t, h.do("GET", svcs, tokAdmin, "2.1", ""), "services")
	if len(all) != 5 || all[0]["binary"] != "nova-scheduler" || all[1]["binary"] != "nova-conductor" || all[2]["id"] != float64(3) {
		t.Fatalf("services = %v", all)
	}
	byHost := map[string]map[string]any{}
	for _, s := range all[2:] {
		byHost[s["host"].(string)] = s
	}
	if s := byHost["sim-1"]; s["zone"] != "az1" || s["state"] != "up" || s["status"] != "enabled" || s["updated_at"] == nil || s["disabled_reason"] != nil {
		t.Errorf("sim-1 service = %v", s)
	}
	if _, has := all[2]["forced_down"]; has {
		t.Errorf("forced_down before 2.11: %v", all[2])
	}
	if got := list(t, h.do("GET", svcs+"?binary=nova-compute&host=sim-2", tokAdmin, "2.11", ""), "services"); len(got) != 1 || got[0]["forced_down"] != false {
		t.Errorf("filtered = %v", got)
	}

	wantStatus(t, h.do("GET", svcs+"?zone=az1", tokAdmin, "2.75", ""), http.StatusBadRequest, "'zone' was unexpected")
	wantStatus(t, h.do("GET", svcs+"?zone=az1", tokAdmin, "2.74", ""), http.StatusOK, "nova-compute")

	// The old actions, by host and binary.
	r := h.do("PUT", svcs+"/disable-log-reason", tokAdmin, "2.1", `{"host": "sim-1", "binary": "nova-compute", "disabled_reason": "fan"}`)
	if r.status != http.StatusOK || r.json(t)["service"].(map[string]any)["disabled_reason"] != "fan" {
		t.Fatalf("disable-log-reason: %d %s", r.status, r.body)
	}
	wantStatus(t, h.do("PUT", svcs+"/force-down", tokAdmin, "2.11", `{"host": "sim-2", "binary": "nova-compute", "forced_down": true}`), http.StatusOK, `"forced_down":true`)
	wantStatus(t, h.do("PUT", svcs+"/force-down", tokAdmin, "2.10", `{"host": "sim-2", "binary": "nova-compute", "forced_down": true}`), http.StatusNotFound, "Unknown action")
	wantStatus(t, h.do("PUT", svcs+"/disable", tokAdmin, "2.1", `{"host": "canopy", "binary": "nova-scheduler"}`), http.StatusBadRequest, "Only nova-compute services")
	wantStatus(t, h.do("PUT", svcs+"/disable", tokAdmin, "2.1", `{"host": "sim-9", "binary": "nova-compute"}`), http.StatusNotFound, "Could not find binary nova-compute on host sim-9.")
	wantStatus(t, h.do("PUT", svcs+"/reboot", tokAdmin, "2.1", `{"host": "sim-1", "binary": "nova-compute"}`), http.StatusNotFound, "Unknown action")
	wantStatus(t, h.do("PUT", svcs+"/disable-log-reason", tokAdmin, "2.1", `{"host": "sim-1", "binary": "nova-compute"}`), http.StatusBadRequest, "Missing disabled reason field")

	// Placement sees both: only the AWS zone is left.
	snap, err := h.sched.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cands := scheduler.Decide(snap, scheduler.Request{ServerID: "x", ProjectID: projectA, Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512}},
		scheduler.DefaultFilters(0, 0, 0), scheduler.DefaultWeighers())
	if len(cands) != 1 || cands[0].Host != "aws:us-east-1a" {
		t.Fatalf("candidates after disable and force-down: %v", cands)
	}
	s253 := map[string]map[string]any{}
	for _, s := range list(t, h.do("GET", svcs+"?binary=nova-compute", tokAdmin, "2.53", ""), "services") {
		s253[s["host"].(string)] = s
	}
	sim1, sim2 := s253["sim-1"], s253["sim-2"]
	if sim1["status"] != "disabled" || sim1["disabled_reason"] != "fan" || len(sim1["id"].(string)) != 36 || sim2["state"] != "down" || sim2["forced_down"] != true {
		t.Errorf("2.53 services = %v", s253)
	}

	// 2.53: by UUID.
	id := sim1["id"].(string)
	r = h.do("PUT", svcs+"/"+id, tokAdmin, "2.53", `{"status": "enabled"}`)
	if r.status != http.StatusOK || r.json(t)["service"].(map[string]any)["status"] != "enabled" {
		t.Fatalf("enable by uuid: %d %s", r.status, r.body)
	}
	wantStatus(t, h.do("PUT", svcs+"/"+id, tokAdmin, "2.53", `{"status": "enabled", "disabled_reason": "x"}`), http.StatusBadRequest, "Specifying 'disabled_reason' with status 'enabled' is invalid.")
	wantStatus(t, h.do("PUT", svcs+"/"+id, tokAdmin, "2.53", `{}`), http.StatusBadRequest, "No updates were requested")
	wantStatus(t, h.do("PUT", svcs+"/"+id, tokAdmin, "2.53", `{"status": "off"}`), http.StatusBadRequest, "is not one of")
	wantStatus(t, h.do("PUT", svcs+"/disable", tokAdmin, "2.53", `{"host": "sim-1", "binary": "nova-compute"}`), http.StatusBadRequest, "Invalid uuid disable")
	wantStatus(t, h.do("PUT", svcs+"/3", tokAdmin, "2.53", `{"status": "disabled"}`), http.StatusBadRequest, "Invalid uuid 3")
	sched := list(t, h.do("GET", svcs+"?binary=nova-scheduler", tokAdmin, "2.53", ""), "services")[0]["id"].(string)
	wantStatus(t, h.do("PUT", svcs+"/"+sched, tokAdmin, "2.53", `{"status": "disabled"}`), http.StatusBadRequest, "Updating a nova-scheduler service is not supported")
	wantStatus(t, h.do("PUT", svcs+"/00000000-0000-4000-8000-000000000000", tokAdmin, "2.53", `{"status": "disabled"}`), http.StatusNotFound, "could not be found")
	r = h.do("PUT", svcs+"/"+sim2["id"].(string), tokAdmin, "2.53", `{"forced_down": false, "status": "disabled", "disabled_reason": "drain"}`)
	if svc := r.json(t)["service"].(map[string]any); svc["forced_down"] != false || svc["state"] != "up" || svc["disabled_reason"] != "drain" {
		t.Errorf("lift forced_down and disable: %s", r.body)
	}
	snap, _ = h.sched.Snapshot(ctx)
	for _, hs := range snap.Hosts {
		if want := hs.Host != "sim-2"; hs.Enabled != want || !hs.Up {
			t.Errorf("%s enabled=%v up=%v", hs.Host, hs.Enabled, hs.Up)
		}
	}
}

const aggs = "/compute/v2.1/os-aggregates"

func TestAggregates(t *testing.T) {
	h := newLayoutHarness(t)
	ctx := t.Context()
	wantStatus(t, h.do("GET", aggs, tokMember, "", ""), http.StatusForbidden, "os_compute_api:os-aggregates:index")
	r := h.do("POST", aggs, tokAdmin, "2.41", `{"aggregate": {"name": "gpu", "availability_zone": "az1"}}`)
	if r.status != http.StatusOK {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	created := r.json(t)["aggregate"].(map[string]any)
	if created["id"] != float64(1) || created["availability_zone"] != "az1" || created["uuid"] == nil || created["hosts"] != nil {
		t.Errorf("created = %v", created)
	}
	wantStatus(t, h.do("POST", aggs, tokAdmin, "2.1", `{"aggregate": {"name": "gpu"}}`), http.StatusConflict, "Aggregate gpu already exists.")
	wantStatus(t, h.do("POST", aggs, tokAdmin, "2.1", `{"aggregate": {"name": " gpu"}}`), http.StatusBadRequest, "does not match")
	wantStatus(t, h.do("POST", aggs, tokAdmin, "2.1", `{"aggregate": {"name": "x", "flavor": 1}}`), http.StatusBadRequest, "")
	wantStatus(t, h.do("POST", aggs, tokAdmin, "2.1", `{"aggregate": {"name": "iso"}}`), http.StatusOK, `"id":2`)

	act := func(id int, body string) resp {
		return h.do("POST", fmt.Sprintf("%s/%d/action", aggs, id), tokAdmin, "2.41", body)
	}
	wantStatus(t, act(1, `{"add_host": {"host": "sim-1"}}`), http.StatusOK, `"hosts":["sim-1"]`)
	wantStatus(t, act(1, `{"add_host": {"host": "sim-1"}}`), http.StatusConflict, "Aggregate 1 already has host sim-1.")
	wantStatus(t, act(1, `{"add_host": {"host": "sim-9"}}`), http.StatusNotFound, "Compute host sim-9 could not be found.")
	wantStatus(t, act(1, `{"add_host": {"host": "aws:us-east-1a"}}`), http.StatusConflict, "One or more hosts already in availability zone(s) ['us-east-1a']")
	wantStatus(t, act(9, `{"add_host": {"host": "sim-1"}}`), http.StatusNotFound, "Aggregate 9 could not be found.")
	wantStatus(t, act(1, `{"set_metadata": {"metadata": {"gpu": "a100", "cpu_allocation_ratio": "2"}}}`), http.StatusOK, `"gpu":"a100"`)
	wantStatus(t, act(1, `{"set_metadata": {"metadata": {"cpu_allocation_ratio": "fast"}}}`), http.StatusBadRequest, "cpu_allocation_ratio must be a positive number")
	wantStatus(t, act(1, `{"set_metadata": {"metadata": {"availability_zone": "us-east-1a"}}}`), http.StatusBadRequest, "Cannot update metadata of aggregate 1")
	wantStatus(t, act(1, `{"set_metadata": {"metadata": {"cpu_allocation_ratio": null}}}`), http.StatusOK, `"metadata":{"availability_zone":"az1","gpu":"a100"}`)
	wantStatus(t, act(2, `{"add_host": {"host": "sim-2"}}`), http.StatusOK, "sim-2")
	wantStatus(t, act(2, `{"set_metadata": {"metadata": {"filter_tenant_id": "`+projectB+`"}}}`), http.StatusOK, projectB)
	wantStatus(t, act(2, `{"remove_host": {"host": "sim-1"}}`), http.StatusNotFound, "Cannot remove host sim-1 in aggregate 2")
	wantStatus(t, act(2, `{"explode": {}}`), http.StatusBadRequest, "There is no such action: explode")
	wantStatus(t, h.do("PUT", aggs+"/2", tokAdmin, "2.1", `{"aggregate": {"name": "gpu"}}`), http.StatusConflict, "Aggregate gpu already exists.")
	wantStatus(t, h.do("PUT", aggs+"/2", tokAdmin, "2.1", `{"aggregate": {"name": "isolated"}}`), http.StatusOK, `"name":"isolated"`)
	wantStatus(t, h.do("PUT", aggs+"/2", tokAdmin, "2.1", `{"aggregate": {}}`), http.StatusBadRequest, "At least one")
	wantStatus(t, h.do("GET", aggs+"/abc", tokAdmin, "2.1", ""), http.StatusBadRequest, "id must be an integer")

	// The scheduler places by the aggregates: the GPU flavor on sim-1 (az1,
	// gpu=a100), any flavor of project A off sim-2 (reserved for B).
	gpu := proxies.Flavor{ID: "g", VCPUs: 1, RAMMB: 512, ExtraSpecs: map[string]string{"aggregate_instance_extra_specs:gpu": "a100"}}
	if p, err := h.sched.Place(ctx, scheduler.Request{ServerID: "g1", ProjectID: projectA, Flavor: gpu}); err != nil || p.Host != "sim-1" {
		t.Errorf("gpu placement = %+v, %v", p, err)
	}
	snap, err := h.sched.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plain := scheduler.Request{ServerID: "p1", ProjectID: projectA, Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512}}
	for _, c := range scheduler.Decide(snap, plain, scheduler.DefaultFilters(0, 0, 0), scheduler.DefaultWeighers()) {
		if c.Host == "sim-2" {
			t.Errorf("project A may not use sim-2 (reserved for B)")
		}
	}

	// Delete refuses a non-empty aggregate.
	wantStatus(t, h.do("DELETE", aggs+"/2", tokAdmin, "2.1", ""), http.StatusBadRequest, "Host aggregate is not empty")
	wantStatus(t, act(2, `{"remove_host": {"host": "sim-2"}}`), http.StatusOK, `"hosts":[]`)
	wantStatus(t, h.do("DELETE", aggs+"/2", tokAdmin, "2.1", ""), http.StatusOK, "")
	wantStatus(t, h.do("GET", aggs+"/2", tokAdmin, "2.1", ""), http.StatusNotFound, "Aggregate 2 could not be found.")
	if got := list(t, h.do("GET", aggs, tokAdmin, "2.1", ""), "aggregates"); len(got) != 1 || got[0]["name"] != "gpu" || got[0]["uuid"] != nil {
		t.Errorf("list = %v", got)
	}
}

// TestLayoutMatchesTempestSchemas checks the layout APIs' responses against
// tempest's schemas at every microversion where they change.
func TestLayoutMatchesTempestSchemas(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import tempest.lib.common.rest_client, jsonschema").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tempest is required in CI (apt-get install tempest): %v", err)
		}
		t.Skip("tempest's Python library is not installed")
	}
	h := newLayoutHarness(t)
	var checks []check
	add := func(name, client, cls, schema, version, method, path, body string) resp {
		r := h.do(method, path, tokAdmin, version, body)
		var decoded any
		if len(r.body) > 0 {
			if err := json.Unmarshal(r.body, &decoded); err != nil {
				t.Fatalf("%s@%s: %d %q", name, version, r.status, r.body)
			}
		}
		hdr := map[string]string{}
		for k := range r.header {
			hdr[k] = r.header.Get(k)
		}
		checks = append(checks, check{Name: name, Client: client, Cls: cls, Schema: schema, Version: version, Status: r.status, Headers: hdr, Body: decoded})
		return r
	}
	const hc, hcls = "hypervisor_client", "HypervisorClient"
	for _, v := range []string{"2.1", "2.28", "2.33", "2.52", "2.53", "2.75", "2.79"} {
		add("list", hc, hcls, "list_search_hypervisors", v, "GET", hv, "")
		add("detail", hc, hcls, "list_hypervisors_detail", v, "GET", hv+"/detail", "")
		add("statistics", hc, hcls, "get_hypervisor_statistics", v, "GET", hv+"/statistics", "")
		first := list(t, h.do("GET", hv, tokAdmin, v, ""), "hypervisors")[0]["id"]
		add("show", hc, hcls, "get_hypervisor", v, "GET", fmt.Sprintf("%s/%v", hv, first), "")
		if before(v, "2.53") {
			add("search", hc, hcls, "list_search_hypervisors", v, "GET", hv+"/sim/search", "")
			add("servers", hc, hcls, "get_hypervisors_servers", v, "GET", hv+"/sim/servers", "")
		} else {
			add("detail with servers", hc, hcls, "list_hypervisors_detail", v, "GET", hv+"/detail?with_servers=true", "")
			add("list with servers", hc, hcls, "list_search_hypervisors", v, "GET", hv+"?with_servers=true&hypervisor_hostname_pattern=sim", "")
			add("show with servers", hc, hcls, "get_hypervisor", v, "GET", fmt.Sprintf("%s/%v?with_servers=true", hv, first), "")
		}
		if !before(v, "2.33") {
			add("paged", hc, hcls, "list_hypervisors_detail", v, "GET", hv+"/detail?limit=1", "")
		}
	}
	const sc, scls = "services_client", "ServicesClient"
	for _, v := range []string{"2.1", "2.11", "2.52", "2.53", "2.79"} {
		add("services", sc, scls, "list_services", v, "GET", svcs, "")
		if before(v, "2.53") {
			add("disable", sc, scls, "enable_disable_service", v, "PUT", svcs+"/disable", `{"host": "sim-2", "binary": "nova-compute"}`)
			add("disable reason", sc, scls, "disable_log_reason", v, "PUT", svcs+"/disable-log-reason", `{"host": "sim-2", "binary": "nova-compute", "disabled_reason": "r"}`)
			add("enable", sc, scls, "enable_disable_service", v, "PUT", svcs+"/enable", `{"host": "sim-2", "binary": "nova-compute"}`)
			if !before(v, "2.11") {
				add("force down", "v2_11.services", "", "update_forced_down", v, "PUT", svcs+"/force-down", `{"host": "sim-2", "binary": "nova-compute", "forced_down": false}`)
			}
		} else {
			id := list(t, h.do("GET", svcs+"?host=sim-2", tokAdmin, v, ""), "services")[0]["id"].(string)
			add("update", sc, scls, "update_service", v, "PUT", svcs+"/"+id, `{"status": "disabled", "disabled_reason": "r"}`)
			add("update enable", sc, scls, "update_service", v, "PUT", svcs+"/"+id, `{"status": "enabled", "forced_down": false}`)
		}
	}
	const ac, acls = "aggregates_client", "AggregatesClient"
	for _, v := range []string{"2.1", "2.40", "2.41", "2.79"} {
		name := "agg-" + strings.ReplaceAll(v, ".", "-")
		r := add("create", ac, acls, "create_aggregate", v, "POST", aggs, `{"aggregate": {"name": "`+name+`", "availability_zone": "az1"}}`)
		id := int(r.json(t)["aggregate"].(map[string]any)["id"].(float64))
		path := fmt.Sprintf("%s/%d", aggs, id)
		add("add host", ac, acls, "aggregate_add_remove_host", v, "POST", path+"/action", `{"add_host": {"host": "sim-1"}}`)
		add("set metadata", ac, acls, "aggregate_set_metadata", v, "POST", path+"/action", `{"set_metadata": {"metadata": {"gpu": "a100"}}}`)
		add("show", ac, acls, "get_aggregate", v, "GET", path, "")
		add("list", ac, acls, "list_aggregates", v, "GET", aggs, "")
		add("update", ac, acls, "update_aggregate", v, "PUT", path, `{"aggregate": {"name": "`+name+`-x"}}`)
		add("remove host", ac, acls, "aggregate_add_remove_host", v, "POST", path+"/action", `{"remove_host": {"host": "sim-1"}}`)
		add("delete", ac, acls, "delete_aggregate", v, "DELETE", path, "")
	}
	for _, c := range checks {
		if c.Status >= 300 {
			t.Errorf("%s@%s answered %d: %v", c.Name, c.Version, c.Status, c.Body)
		}
	}

	dir := t.TempDir()
	data, _ := json.Marshal(checks)
	in, script := filepath.Join(dir, "checks.json"), filepath.Join(dir, "validate.py")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(validatorScript), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(py, script, in).CombinedOutput(); err != nil {
		t.Errorf("%d responses checked; tempest schema failures:\n%s", len(checks), out)
	}
	// Control: the validator must reject a 2.53 UUID id at 2.1's services schema pattern.
	bad := check{Name: "control", Client: sc, Cls: scls, Schema: "list_services", Version: "2.1", Status: 200, Headers: map[string]string{},
		Body: map[string]any{"services": []any{map[string]any{"id": "not-a-nova-id", "zone": "z", "host": "h", "state": "up", "binary": "b",
			"status": "enabled", "updated_at": nil, "disabled_reason": nil}}}}
	data, _ = json.Marshal([]check{bad})
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(py, script, in).CombinedOutput(); err == nil {
		t.Errorf("validator accepted a body tempest rejects: %s", out)
	}
}
