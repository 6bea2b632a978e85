package vmware_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"

	"github.com/canopy-cloud/canopy/app/apptest"
	"github.com/canopy-cloud/canopy/proxies/vmware"
)

// watchBound is how soon a change made behind Canopy's back must show in
// the API. The periodic sync of a watched cloud runs every minute (10 s x
// broker.WatchedSyncFactor), so only the watch can meet it; it is a few
// times the one second the watch takes, for a loaded CI machine.
const watchBound = 5 * time.Second

// TestWatchShowsChangesMadeBehindCanopysBack runs the gateway over the
// vSphere simulator, boots a server through the Nova API, then powers its
// VM off and on with govmomi directly: the server shows SHUTOFF, then
// ACTIVE, through the API within watchBound, by the backend's
// PropertyCollector watch. The corrections show in the admin drift view and
// the metrics; a VM whose top record was deleted is reported as an orphan
// and left alone.
func TestWatchShowsChangesMadeBehindCanopysBack(t *testing.T) {
	ctx := t.Context()
	cfg, stop, err := vmware.DevSim(ctx, apptest.DevImageIDs()...)
	if err != nil {
		t.Fatalf("DevSim: %v", err)
	}
	t.Cleanup(stop)
	be, err := vmware.New(ctx, "vsphere", cfg, apptest.Log())
	if err != nil {
		t.Fatalf("vmware.New: %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	hosts, err := be.Inventory().Hosts(ctx)
	if err != nil || len(hosts) == 0 {
		t.Fatalf("Hosts = %v, %v", hosts, err)
	}
	g := &watchedGateway{Gateway: apptest.Start(t, be)}
	g.adminToken = g.AdminNova(t).ProviderClient.TokenID
	srv := g.BootServer(t, "watched", hosts[0].AvailabilityZone)
	vm, err := find.NewFinder(simClient(t, cfg).Client, true).VirtualMachine(ctx, "/DC0/vm/"+cfg.Folder+"/canopy-"+srv.ID)
	if err != nil {
		t.Fatalf("the server's VM is not in the simulator: %v", err)
	}

	power(t, vm, false)
	g.waitStatus(t, srv.ID, "SHUTOFF")
	power(t, vm, true)
	g.waitStatus(t, srv.ID, "ACTIVE")

	d := g.drift(t)
	if len(d.Corrections) < 2 {
		t.Fatalf("drift view = %+v; want the two corrections", d)
	}
	if c := d.Corrections[0]; c.ServerID != srv.ID || c.Kind != "state" || c.From != "SHUTOFF" || c.To != "ACTIVE" {
		t.Errorf("newest correction = %+v; want %s SHUTOFF -> ACTIVE", c, srv.ID)
	}

	// The top record goes (as when a create is retried after its record was
	// deleted): the next change the watch sees makes the VM an orphan.
	rec, err := g.App.Broker.Servers().Lookup(ctx, srv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.App.Broker.Servers().Delete(ctx, rec.Project, srv.ID); err != nil {
		t.Fatal(err)
	}
	power(t, vm, false)
	deadline := time.Now().Add(watchBound)
	for d = g.drift(t); d.OrphanCount != 1; d = g.drift(t) {
		if time.Now().After(deadline) {
			t.Fatalf("drift view = %+v; want the VM as an orphan", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if o := d.Orphans[0]; o.ID != srv.ID || o.BottomID != vm.Reference().Value || o.State != "stopped" {
		t.Errorf("orphan = %+v; want %s (%s), stopped", o, srv.ID, vm.Reference().Value)
	}
	if _, err := find.NewFinder(simClient(t, cfg).Client, true).VirtualMachine(ctx, vm.InventoryPath); err != nil {
		t.Errorf("the orphan's VM is gone (orphans are never deleted): %v", err)
	}
	metrics := g.get(t, "", "/metrics")
	for _, want := range []string{`canopy_sync_orphans{cloud="vsphere"} 1`, `canopy_sync_drift_total{cloud="vsphere",kind="state"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// power switches vm on or off directly on the simulator.
func power(t *testing.T, vm *object.VirtualMachine, on bool) {
	t.Helper()
	task, err := vm.PowerOff(t.Context())
	if on {
		task, err = vm.PowerOn(t.Context())
	}
	if err == nil {
		err = task.Wait(t.Context())
	}
	if err != nil {
		t.Fatalf("power on=%v: %v", on, err)
	}
}

// watchedGateway is the shared test gateway plus the admin token.
type watchedGateway struct {
	*apptest.Gateway
	adminToken string
}

// waitStatus polls the server through the Nova API until it shows want,
// failing past watchBound.
func (g *watchedGateway) waitStatus(t *testing.T, id, want string) {
	t.Helper()
	start := time.Now()
	for {
		status := "?"
		s, err := servers.Get(t.Context(), g.Nova, id).Extract()
		if err == nil {
			status = s.Status
		}
		if status == want {
			t.Logf("server %s showed %s after %v", id, want, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > watchBound {
			t.Fatalf("server %s: status %s (err %v) %v after the change; want %s", id, status, err, watchBound, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get reads path on the gateway with the admin token (none when tok is "").
func (g *watchedGateway) get(t *testing.T, tok, path string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", g.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("X-Auth-Token", tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

// driftView is the body of GET /admin/v1/clouds/{name}/drift.
type driftView struct {
	OrphanCount int `json:"orphan_count"`
	Orphans     []struct {
		ID       string `json:"id"`
		BottomID string `json:"bottom_id"`
		State    string `json:"state"`
	} `json:"orphans"`
	Corrections []struct {
		ServerID string `json:"server_id"`
		Kind     string `json:"kind"`
		From     string `json:"from_status"`
		To       string `json:"to_status"`
	} `json:"corrections"`
}

// drift reads the vsphere cloud's admin drift view.
func (g *watchedGateway) drift(t *testing.T) driftView {
	t.Helper()
	var v struct {
		Drift driftView `json:"drift"`
	}
	if err := json.Unmarshal([]byte(g.get(t, g.adminToken, "/admin/v1/clouds/vsphere/drift")), &v); err != nil {
		t.Fatal(err)
	}
	return v.Drift
}
