package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/admin"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// auth knows two tokens: "admin" (admin role) and "member".
type auth struct{}

func (auth) Authenticate(_ context.Context, tok string) (*wire.Principal, error) {
	switch tok {
	case "admin":
		return &wire.Principal{UserID: "u-admin", ProjectID: "p-admin", Roles: []string{"admin", "member", "reader"}}, nil
	case "member":
		return &wire.Principal{UserID: "u", ProjectID: "p1", Roles: []string{"member"}}, nil
	}
	return nil, wire.Unauthorized("The request you have made requires authentication.")
}

type clouds []admin.CloudRef

func (c clouds) CloudList() []admin.CloudRef { return c }

func setup(t *testing.T) (*httptest.Server, *registry.Registry) {
	t.Helper()
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	sched := scheduler.New(reg, scheduler.Options{})
	ctx := t.Context()
	for _, c := range []struct {
		cloud, az string
		up        bool
	}{{"local", "nova", true}, {"east", "east-1a", true}, {"west", "west-1a", false}} {
		if err := sched.SyncHosts(ctx, c.cloud, []proxies.Host{{Name: c.cloud + "-h1", AvailabilityZone: c.az, HypervisorType: "qemu",
			Up: c.up, Enabled: true, VCPUs: 8, RAMMB: 16384, DiskGB: 100}}); err != nil {
			t.Fatal(err)
		}
	}
	cs := clouds{
		{Name: "east", Type: "openstack", Health: admin.Health{Status: "up", CheckedAt: time.Now()}},
		{Name: "local", Type: "local", Health: admin.Health{Status: "up"}},
		{Name: "west", Type: "aws", Health: admin.Health{Status: "down", Error: "backend unavailable"}},
	}
	servers := registry.NewCollection[registry.Server](reg, registry.KindServer, nil)
	for i, s := range []registry.Server{
		{ID: "s1", ProjectID: "p1", Name: "web", Routing: registry.Routing{State: registry.RoutingActive, Cloud: "east", BottomID: "b-1"}},
		{ID: "s2", ProjectID: "p2", Name: "db", Routing: registry.Routing{State: registry.RoutingBuilding, Cloud: "local", Host: "local-h1", BottomID: "b-2"}},
	} {
		if err := servers.Create(ctx, s.ProjectID, s.ID, time.Unix(int64(1000+i), 0), &s); err != nil {
			t.Fatal(err)
		}
	}
	g := gateway.New(slog.New(slog.DiscardHandler), auth{})
	g.Mount(admin.New(reg, sched, cs))
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return srv, reg
}

func call(t *testing.T, srv *httptest.Server, tok, method, path, body string, wantStatus int) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("X-Auth-Token", tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, b)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s: body is not JSON: %s", method, path, b)
	}
	return v
}

func TestClouds(t *testing.T) {
	srv, _ := setup(t)
	call(t, srv, "", "GET", "/admin/v1/clouds", "", 401)
	f := call(t, srv, "member", "GET", "/admin/v1/clouds", "", 403)
	if _, ok := f["forbidden"]; !ok {
		t.Errorf("403 body %v is not Nova's fault shape", f)
	}
	v := call(t, srv, "admin", "GET", "/admin/v1/clouds", "", 200)
	cs := v["clouds"].([]any)
	if len(cs) != 3 {
		t.Fatalf("%d clouds, want 3", len(cs))
	}
	east := cs[0].(map[string]any)
	if east["name"] != "east" || east["type"] != "openstack" || east["enabled"] != true {
		t.Errorf("east = %v", east)
	}
	if c := east["capacity"].(map[string]any); c["vcpus"] != 8.0 || c["memory_mb"] != 16384.0 {
		t.Errorf("east capacity = %v", c)
	}
	west := cs[2].(map[string]any)
	if h := west["health"].(map[string]any); h["status"] != "down" || h["error"] != "backend unavailable" {
		t.Errorf("west health = %v", h)
	}
	if c := west["capacity"].(map[string]any); c["vcpus"] != 0.0 {
		t.Errorf("a down host's capacity counts: %v", c)
	}

	// Disable east: placements avoid it, the API shows it with the reason.
	v = call(t, srv, "admin", "PATCH", "/admin/v1/clouds/east", `{"cloud": {"enabled": false, "disabled_reason": "upgrade"}}`, 200)
	c := v["cloud"].(map[string]any)
	if c["enabled"] != false || c["disabled_reason"] != "upgrade" {
		t.Errorf("after disable: %v", c)
	}
	if hs := c["hosts"].([]any); len(hs) != 1 || hs[0].(map[string]any)["status"] != "disabled" {
		t.Errorf("hosts after disable: %v", c["hosts"])
	}
	v = call(t, srv, "admin", "PATCH", "/admin/v1/clouds/east", `{"cloud": {"enabled": true}}`, 200)
	if c := v["cloud"].(map[string]any); c["enabled"] != true || c["disabled_reason"] != nil {
		t.Errorf("after enable: %v", c)
	}
	// Bad input: named field, nothing changed.
	for _, body := range []string{`{}`, `{"cloud": {}}`, `{"cloud": {"enabled": true, "disabled_reason": "x"}}`, `{"cloud": {"enabled": "no"}}`, `{"cloud": {"enabled": false, "colour": 1}}`} {
		call(t, srv, "admin", "PATCH", "/admin/v1/clouds/east", body, 400)
	}
	call(t, srv, "admin", "GET", "/admin/v1/clouds/mars", "", 404)
	call(t, srv, "admin", "PATCH", "/admin/v1/clouds/mars", `{"cloud": {"enabled": false}}`, 404)
	call(t, srv, "admin", "POST", "/admin/v1/clouds", `{"cloud": {"name": "x"}}`, 501)
	call(t, srv, "admin", "GET", "/admin/v1/clouds/east", "", 200)
}

func TestRoutings(t *testing.T) {
	srv, _ := setup(t)
	v := call(t, srv, "admin", "GET", "/admin/v1/routings", "", 200)
	if rs := v["routings"].([]any); len(rs) != 2 {
		t.Fatalf("routings = %v", rs)
	}
	v = call(t, srv, "admin", "GET", "/admin/v1/routings?cloud=east", "", 200)
	rs := v["routings"].([]any)
	if len(rs) != 1 || rs[0].(map[string]any)["resource_id"] != "s1" || rs[0].(map[string]any)["bottom_id"] != "b-1" {
		t.Fatalf("cloud=east: %v", rs)
	}
	v = call(t, srv, "admin", "GET", "/admin/v1/routings?project_id=p2&state=building", "", 200)
	if rs := v["routings"].([]any); len(rs) != 1 || rs[0].(map[string]any)["host"] != "local-h1" {
		t.Fatalf("project p2 building: %v", rs)
	}
	v = call(t, srv, "admin", "GET", "/admin/v1/routings?limit=1", "", 200)
	first := v["routings"].([]any)[0].(map[string]any)["resource_id"].(string)
	v = call(t, srv, "admin", "GET", "/admin/v1/routings?limit=1&marker="+first, "", 200)
	if rs := v["routings"].([]any); len(rs) != 1 || rs[0].(map[string]any)["resource_id"] == first {
		t.Fatalf("second page: %v", rs)
	}
	call(t, srv, "admin", "GET", "/admin/v1/routings?marker=nope", "", 400)
	call(t, srv, "admin", "GET", "/admin/v1/routings?resource_type=vm", "", 400)
	call(t, srv, "admin", "GET", "/admin/v1/routings?limit=0", "", 400)
	call(t, srv, "admin", "GET", "/admin/v1/routings?colour=red", "", 400)
	v = call(t, srv, "admin", "GET", "/admin/v1/routings/s2", "", 200)
	if r := v["routing"].(map[string]any); r["cloud"] != "local" || r["resource_type"] != "server" {
		t.Errorf("routing s2 = %v", r)
	}
	call(t, srv, "admin", "GET", "/admin/v1/routings/nope", "", 404)
	call(t, srv, "member", "GET", "/admin/v1/routings", "", 403)
}

func TestExplain(t *testing.T) {
	srv, reg := setup(t)
	flavors := registry.NewCollection(reg, registry.KindFlavor, func(f *registry.Flavor) string { return f.Name })
	if err := flavors.Create(t.Context(), "_", "big", time.Unix(1, 0), &registry.Flavor{ID: "big", Name: "m1.big", VCPUs: 4, RAMMB: 20000, DiskGB: 10}); err != nil {
		t.Fatal(err)
	}
	if err := flavors.Create(t.Context(), "_", "small", time.Unix(2, 0), &registry.Flavor{ID: "small", Name: "m1.small", VCPUs: 1, RAMMB: 512, DiskGB: 1}); err != nil {
		t.Fatal(err)
	}
	// The small flavor in zone east-1a: only east's host is a candidate.
	v := call(t, srv, "admin", "POST", "/admin/v1/scheduler/explain", `{"explain": {"flavor_id": "small", "availability_zone": "east-1a"}}`, 200)
	ex := v["explanation"].(map[string]any)
	hosts := ex["hosts"].([]any)
	if len(hosts) != 3 {
		t.Fatalf("hosts = %v", hosts)
	}
	first := hosts[0].(map[string]any)
	if first["host"] != "east-h1" || first["rank"] != 1.0 {
		t.Errorf("first = %v, want east-h1 ranked 1", first)
	}
	why := map[string]string{}
	for _, h := range hosts[1:] {
		h := h.(map[string]any)
		why[h["host"].(string)] = h["rejected_by"].(string)
	}
	if why["local-h1"] != "AvailabilityZoneFilter" || why["west-h1"] != "AvailabilityZoneFilter" {
		t.Errorf("rejections = %v", why)
	}
	v = call(t, srv, "admin", "POST", "/admin/v1/scheduler/explain", `{"explain": {"flavor_id": "big"}}`, 200)
	why = map[string]string{}
	for _, h := range v["explanation"].(map[string]any)["hosts"].([]any) {
		h := h.(map[string]any)
		if r, ok := h["rejected_by"].(string); ok {
			why[h["host"].(string)] = r
		}
	}
	if why["west-h1"] != "ComputeFilter" || len(why) != 1 {
		t.Errorf("big flavor: rejections %v, want only west-h1 (down) by ComputeFilter", why)
	}
	v = call(t, srv, "admin", "POST", "/admin/v1/scheduler/explain", `{"explain": {"server_id": "s1"}}`, 200)
	if len(v["explanation"].(map[string]any)["hosts"].([]any)) != 3 {
		t.Errorf("server explain = %v", v)
	}
	for _, body := range []string{`{}`, `{"explain": {}}`, `{"explain": {"flavor_id": "small", "server_id": "s1"}}`,
		`{"explain": {"flavor_id": "nope"}}`, `{"explain": {"server_id": "s1", "project_id": "p"}}`, `{"explain": {"flavor_id": "small", "x": 1}}`} {
		call(t, srv, "admin", "POST", "/admin/v1/scheduler/explain", body, 400)
	}
	call(t, srv, "admin", "POST", "/admin/v1/scheduler/explain", `{"explain": {"server_id": "nope"}}`, 404)
	call(t, srv, "member", "POST", "/admin/v1/scheduler/explain", `{"explain": {"flavor_id": "small"}}`, 403)
}

type fakePushes struct{ pending map[string][]string }

func (f *fakePushes) Pending(_ context.Context, cloud string) ([]string, error) {
	return f.pending[cloud], nil
}

func (f *fakePushes) RepushPending(_ context.Context, cloud string) (int, error) {
	n := len(f.pending[cloud])
	delete(f.pending, cloud)
	return n, nil
}

func TestJobs(t *testing.T) {
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	ctx := t.Context()
	servers := registry.NewCollection[registry.Server](reg, registry.KindServer, nil)
	for i, s := range []registry.Server{
		{ID: "b1", ProjectID: "p1", Status: "BUILD", TaskState: "spawning", Routing: registry.Routing{Cloud: "east"}},
		{ID: "a1", ProjectID: "p1", Status: "ACTIVE", Routing: registry.Routing{Cloud: "east"}},
		{ID: "r1", ProjectID: "p2", Status: "ACTIVE", TaskState: "resize_migrating", Routing: registry.Routing{Cloud: "local"}},
		{ID: "e1", ProjectID: "p2", Status: "ERROR", Routing: registry.Routing{Cloud: "local"},
			Fault: &registry.Fault{Code: 500, Message: "No valid host was found. "}},
	} {
		if err := servers.Create(ctx, s.ProjectID, s.ID, time.Unix(int64(10+i), 0), &s); err != nil {
			t.Fatal(err)
		}
	}
	pushes := &fakePushes{pending: map[string][]string{"east": {"secgroup|p1|sg-1", "floatingip|p1|fip-1"}}}
	svc := admin.New(reg, scheduler.New(reg, scheduler.Options{}), clouds{{Name: "east"}, {Name: "local"}})
	svc.SetPushes(pushes)
	g := gateway.New(slog.New(slog.DiscardHandler), auth{})
	g.Mount(svc)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)

	v := call(t, srv, "admin", "GET", "/admin/v1/jobs", "", 200)
	jobs := v["jobs"].([]any)
	if len(jobs) != 4 {
		t.Fatalf("jobs = %v; want 2 builds (b1, r1) and 2 pushes", jobs)
	}
	v = call(t, srv, "admin", "GET", "/admin/v1/jobs?type=push&cloud=east", "", 200)
	jobs = v["jobs"].([]any)
	if len(jobs) != 2 || jobs[0].(map[string]any)["resource_type"] != "secgroup" || jobs[0].(map[string]any)["resource_id"] != "sg-1" {
		t.Fatalf("east pushes = %v", jobs)
	}
	v = call(t, srv, "admin", "GET", "/admin/v1/jobs?type=build&cloud=local", "", 200)
	if jobs := v["jobs"].([]any); len(jobs) != 1 || jobs[0].(map[string]any)["task_state"] != "resize_migrating" {
		t.Fatalf("local builds = %v", jobs)
	}
	// One job at a time, by resource id: builds with progress, a failure with its fault, a push.
	for id, want := range map[string]string{
		"b1":    `{"cloud":"east","progress":0,"project_id":"p1","resource_id":"b1","resource_type":"server","state":"running","task_state":"spawning","type":"build"`,
		"a1":    `{"cloud":"east","progress":100,"project_id":"p1","resource_id":"a1","resource_type":"server","state":"done","type":"build"`,
		"r1":    `{"cloud":"local","progress":0,"project_id":"p2","resource_id":"r1","resource_type":"server","state":"running","task_state":"resize_migrating","type":"task"`,
		"e1":    `{"cloud":"local","error":"No valid host was found. ","progress":0,"project_id":"p2","resource_id":"e1","resource_type":"server","state":"failed","type":"build"`,
		"fip-1": `{"cloud":"east","project_id":"p1","resource_id":"fip-1","resource_type":"floatingip","state":"pending","type":"push"}`,
	} {
		j, _ := json.Marshal(call(t, srv, "admin", "GET", "/admin/v1/jobs/"+id, "", 200)["job"])
		if !strings.HasPrefix(string(j), want) {
			t.Errorf("job %s = %s; want %s…", id, j, want)
		}
	}
	call(t, srv, "admin", "GET", "/admin/v1/jobs/nothing", "", 404)
	v = call(t, srv, "admin", "POST", "/admin/v1/clouds/east/redo", "", 200)
	if r := v["redo"].(map[string]any); r["pushed"] != 2.0 || r["still_pending"] != 0.0 {
		t.Fatalf("redo = %v", r)
	}
	call(t, srv, "admin", "POST", "/admin/v1/clouds/mars/redo", "", 404)
	call(t, srv, "admin", "GET", "/admin/v1/jobs?type=nope", "", 400)
	call(t, srv, "admin", "GET", "/admin/v1/jobs?colour=red", "", 400)
	call(t, srv, "member", "GET", "/admin/v1/jobs", "", 403)
}
