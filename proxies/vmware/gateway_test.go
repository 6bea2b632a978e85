package vmware_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/mo"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/vmware"
	"github.com/canopy-cloud/canopy/registry"
)

// TestGatewayBootsOnVSphere runs the gateway itself (app.New with the
// vSphere backend over the simulator), creates a server through the Nova API
// with gophercloud in the backend's availability zone, and checks the VM in
// the simulator: named and tagged with the top id. Then it deletes it.
func TestGatewayBootsOnVSphere(t *testing.T) {
	// mapped: the dev images are mapped to simulator VMs as templates;
	// imported: nothing is mapped and the broker imports the image bytes.
	for _, mapped := range []bool{true, false} {
		name := "imported_by_broker"
		if mapped {
			name = "mapped_templates"
		}
		t.Run(name, func(t *testing.T) { bootOnVSphere(t, mapped) })
	}
}

func bootOnVSphere(t *testing.T, mapped bool) {
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ids := make([]string, 0, len(app.DevImages))
	for _, im := range app.DevImages {
		ids = append(ids, im.ID)
	}
	if !mapped {
		ids = nil
	}
	cfg, stop, err := vmware.DevSim(ctx, ids...)
	if err != nil {
		t.Fatalf("DevSim: %v", err)
	}
	t.Cleanup(stop)
	be, err := vmware.New(ctx, "vsphere", cfg, log)
	if err != nil {
		t.Fatalf("vmware.New: %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	hosts, err := be.Inventory().Hosts(ctx)
	if err != nil || len(hosts) == 0 {
		t.Fatalf("Hosts = %v, %v", hosts, err)
	}
	zone := hosts[0].AvailabilityZone

	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(ctx)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	t.Cleanup(func() { reg.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + l.Addr().String()
	dir := t.TempDir()
	local := localcloud.DefaultConfig() // the built-in pool is always there; the test lands beside it
	local.ApplyBuildDelay(0)
	a, err := app.New(ctx, reg, app.Options{PublicURL: public, Region: "RegionOne", DataDir: dir, TokenTTL: time.Hour,
		Local: local, Backends: []proxies.Backend{be}}, log)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	users, err := app.LoadOrCreateDevUsers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.BootstrapDev(ctx, users); err != nil {
		t.Fatalf("BootstrapDev: %v", err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan struct{})
	go func() { defer close(served); _ = a.Serve(serveCtx, l) }()
	t.Cleanup(func() { stopServe(); <-served; a.Close() })

	var demo app.DevUser
	for _, u := range users {
		if u.Name == "demo" {
			demo = u
		}
	}
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: public + "/identity/v3", Username: demo.Name, Password: demo.Password,
		DomainName: "Default", TenantName: demo.Project,
	})
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	eo := gophercloud.EndpointOpts{Region: "RegionOne"}
	nova, err := openstack.NewComputeV2(provider, eo)
	if err != nil {
		t.Fatal(err)
	}
	neutron, err := openstack.NewNetworkV2(provider, eo)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := networks.List(neutron, networks.ListOpts{Name: "private"}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	nets, err := networks.ExtractNetworks(pages)
	if err != nil || len(nets) != 1 {
		t.Fatalf("network private = %v, %v", nets, err)
	}

	srv, err := servers.Create(ctx, nova, servers.CreateOpts{
		Name: "vm-on-vsphere", FlavorRef: "1", ImageRef: app.DevImages[0].ID, AvailabilityZone: zone,
		Networks: []servers.Network{{UUID: nets[0].ID}},
	}, nil).Extract()
	if err != nil {
		t.Fatalf("create server: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := servers.WaitForStatus(wctx, nova, srv.ID, "ACTIVE"); err != nil {
		got, _ := servers.Get(ctx, nova, srv.ID).Extract()
		t.Fatalf("server did not become ACTIVE: %v (server %+v)", err, got)
	}
	got, err := servers.Get(ctx, nova, srv.ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if got.AvailabilityZone != zone {
		t.Errorf("server's availability zone = %q; want the vSphere zone %q", got.AvailabilityZone, zone)
	}

	vc := simClient(t, cfg)
	if !mapped {
		if _, err := find.NewFinder(vc.Client, true).VirtualMachine(ctx, "/DC0/vm/"+cfg.Folder+"/canopy-img-"+app.DevImages[0].ID); err != nil {
			t.Errorf("the broker did not import the image as a template: %v", err)
		}
	}
	vm, err := find.NewFinder(vc.Client, true).VirtualMachine(ctx, "/DC0/vm/"+cfg.Folder+"/canopy-"+srv.ID)
	if err != nil {
		t.Fatalf("the server's VM is not in the simulator: %v", err)
	}
	var m mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"config.extraConfig", "runtime.powerState", "config.hardware"}, &m); err != nil {
		t.Fatal(err)
	}
	if tag := extraValue(&m, "canopy.id"); tag != srv.ID {
		t.Errorf("VM extraConfig canopy.id = %q; want the top id %s", tag, srv.ID)
	}
	if m.Runtime.PowerState != "poweredOn" || m.Config.Hardware.NumCPU != 1 || m.Config.Hardware.MemoryMB != 512 {
		t.Errorf("VM power=%s cpus=%d mem=%d; want poweredOn, 1 CPU, 512 MB (m1.tiny)", m.Runtime.PowerState, m.Config.Hardware.NumCPU, m.Config.Hardware.MemoryMB)
	}

	if err := servers.Delete(ctx, nova, srv.ID).ExtractErr(); err != nil {
		t.Fatalf("delete server: %v", err)
	}
	for {
		_, err := servers.Get(wctx, nova, srv.ID).Extract()
		if gophercloud.ResponseCodeIs(err, 404) {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("server still there after delete: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var nf *find.NotFoundError
	if _, err := find.NewFinder(vc.Client, true).VirtualMachine(ctx, "/DC0/vm/"+cfg.Folder+"/canopy-"+srv.ID); !errors.As(err, &nf) {
		t.Errorf("after delete the VM lookup = %v; want not found", err)
	}
}

// simClient is a govmomi client of its own on the simulator, to look at
// what the backend made.
func simClient(t *testing.T, cfg vmware.Config) *govmomi.Client {
	t.Helper()
	pw, err := config.Secret(cfg.PasswordFrom)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(cfg.Username, pw)
	c, err := govmomi.NewClient(t.Context(), u, true)
	if err != nil {
		t.Fatalf("govmomi client: %v", err)
	}
	t.Cleanup(func() { _ = c.Logout(context.WithoutCancel(t.Context())) })
	return c
}

func extraValue(m *mo.VirtualMachine, key string) string {
	for _, o := range m.Config.ExtraConfig {
		if ov := o.GetOptionValue(); ov.Key == key {
			s, _ := ov.Value.(string)
			return s
		}
	}
	return ""
}
