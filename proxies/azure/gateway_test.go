package azure_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/azure"
	"github.com/canopy-cloud/canopy/proxies/azure/armsim"
	"github.com/canopy-cloud/canopy/registry"
)

// TestGatewayBootsOnAzure runs the gateway itself (app.New with the Azure
// backend over the ARM simulator), creates a server through the Nova API
// with gophercloud in one of the backend's zones, and checks the VM in the
// simulator: tagged with the top id, its NIC on the private network's
// virtual network. Then it deletes it through the API and checks the VM is
// gone.
func TestGatewayBootsOnAzure(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, sim, stop, err := azure.DevSim(ctx, armsim.Options{})
	if err != nil {
		t.Fatalf("DevSim: %v", err)
	}
	t.Cleanup(stop)
	be, err := azure.New(ctx, "azure", cfg, log)
	if err != nil {
		t.Fatalf("azure.New: %v", err)
	}
	hosts, err := be.Inventory().Hosts(ctx)
	if err != nil || len(hosts) == 0 {
		t.Fatalf("Hosts = %v, %v", hosts, err)
	}
	zone := hosts[1].AvailabilityZone

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
	local := localcloud.DefaultConfig()
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
		Name: "vm-on-azure", FlavorRef: "1", ImageRef: app.DevImages[0].ID, AvailabilityZone: zone,
		Networks: []servers.Network{{UUID: nets[0].ID}},
	}, nil).Extract()
	if err != nil {
		t.Fatalf("create server: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
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
		t.Errorf("server's availability zone = %q; want the Azure zone %q", got.AvailabilityZone, zone)
	}
	vm := "canopy-" + srv.ID
	tags, ok := sim.VMTags()[vm]
	if !ok || tags["canopy-id"] != srv.ID {
		t.Fatalf("the simulator has no VM %s tagged canopy-id=%s (VMs: %v)", vm, srv.ID, sim.VMTags())
	}
	subnets := sim.VMSubnets(vm)
	if len(subnets) != 1 || !strings.Contains(subnets[0], "/virtualNetworks/canopy-net-"+nets[0].ID+"/") {
		t.Errorf("the VM's NICs are on subnets %v; want one on the private network's virtual network", subnets)
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
	if _, ok := sim.VMTags()[vm]; ok {
		t.Errorf("after delete the simulator still has VM %s", vm)
	}
}
