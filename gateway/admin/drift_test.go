package admin_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/admin"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// driftClouds is the app's side of the drift view: the clouds plus their
// findings read from the registry.
type driftClouds struct {
	clouds
	reg *registry.Registry
}

func (d driftClouds) CloudDrift(ctx context.Context, cloud string) (broker.DriftReport, error) {
	return broker.LoadDriftReport(ctx, d.reg, cloud)
}

// TestCloudDrift: a sync pass that finds an orphan in cloud "sim" shows it
// at GET /admin/v1/clouds/sim/drift, to admins only.
func TestCloudDrift(t *testing.T) {
	ctx := t.Context()
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	cloud := brokertest.NewBackend("sim")
	b := broker.New(reg, brokertest.NewPlacer("sim", "h1"), brokertest.NewImages(), brokertest.NewPorts(),
		map[string]proxies.Backend{"sim": cloud}, slog.New(slog.DiscardHandler), broker.Options{})
	t.Cleanup(b.Close)

	g := gateway.New(slog.New(slog.DiscardHandler), auth{})
	g.Mount(admin.New(reg, scheduler.New(reg, scheduler.Options{}), driftClouds{
		clouds: clouds{{Name: "sim", Type: "vmware"}, {Name: "idle", Type: "aws"}}, reg: reg}))
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)

	v := call(t, srv, "admin", "GET", "/admin/v1/clouds/sim/drift", "", 200)
	d := v["drift"].(map[string]any)
	if d["checked_at"] != nil || d["orphan_count"] != 0.0 || len(d["orphans"].([]any)) != 0 || len(d["corrections"].([]any)) != 0 {
		t.Errorf("before any pass: %v; want null checked_at and empty lists", d)
	}

	const orphan = "0a0a0a0a-0000-4000-8000-0000000000aa"
	if _, err := cloud.CreateServer(ctx, proxies.ServerSpec{ID: orphan, Host: "h1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SyncOnce(ctx, "sim", cloud); err != nil {
		t.Fatal(err)
	}
	d = call(t, srv, "admin", "GET", "/admin/v1/clouds/sim/drift", "", 200)["drift"].(map[string]any)
	os := d["orphans"].([]any)
	if d["cloud"] != "sim" || d["checked_at"] == nil || d["orphan_count"] != 1.0 || len(os) != 1 {
		t.Fatalf("after a pass: %v; want one orphan", d)
	}
	if o := os[0].(map[string]any); o["id"] != orphan || o["bottom_id"] != "bottom-"+orphan || o["host"] != "h1" || o["state"] != "active" {
		t.Errorf("orphan = %v", o)
	}
	if d := call(t, srv, "admin", "GET", "/admin/v1/clouds/idle/drift", "", 200)["drift"].(map[string]any); d["orphan_count"] != 0.0 {
		t.Errorf("another cloud's findings leaked: %v", d)
	}

	if f := call(t, srv, "admin", "GET", "/admin/v1/clouds/nowhere/drift", "", 404); f["itemNotFound"] == nil {
		t.Errorf("404 body %v is not Nova's fault shape", f)
	}
	if f := call(t, srv, "member", "GET", "/admin/v1/clouds/sim/drift", "", 403); f["forbidden"] == nil {
		t.Errorf("403 body %v is not Nova's fault shape", f)
	}
}

// TestCloudDriftWithoutSource: clouds that cannot read findings answer 501,
// never an empty report that looks like a clean cloud.
func TestCloudDriftWithoutSource(t *testing.T) {
	srv, _ := setup(t)
	call(t, srv, "admin", "GET", "/admin/v1/clouds/east/drift", "", 501)
}
