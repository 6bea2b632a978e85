// Package apptest runs a whole Canopy gateway in a test: an in-memory
// registry, the dev bootstrap (users, flavors, images, networks), the local
// pool and the extra clouds the test gives, served over HTTP, with
// gophercloud clients logged in as the demo user. The cloud proxies' gateway
// tests use it to boot servers through the real Nova API.
package apptest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// Gateway is a running gateway and the demo user's clients.
type Gateway struct {
	App      *app.App
	URL      string
	Demo     app.DevUser
	Nova     *gophercloud.ServiceClient
	Neutron  *gophercloud.ServiceClient
	Registry *registry.Registry
	// PrivateNetwork is the demo project's bootstrapped "private" network.
	PrivateNetwork string
}

// Log is the logger the tests' gateways use: warnings and errors only.
func Log() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// DevImageIDs are the ids of the bootstrapped images.
func DevImageIDs() []string {
	ids := make([]string, 0, len(app.DevImages))
	for _, im := range app.DevImages {
		ids = append(ids, im.ID)
	}
	return ids
}

// Start runs a gateway over the local pool (instant builds) and clouds, and
// stops it when the test ends.
func Start(t *testing.T, clouds ...proxies.Backend) *Gateway {
	t.Helper()
	ctx := t.Context()
	log := Log()
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
	g := &Gateway{URL: "http://" + l.Addr().String(), Registry: reg}
	dir := t.TempDir()
	local := localcloud.DefaultConfig() // the built-in pool is always there; the clouds are beside it
	local.ApplyBuildDelay(0)
	a, err := app.New(ctx, reg, app.Options{PublicURL: g.URL, Region: "RegionOne", DataDir: dir, TokenTTL: time.Hour,
		Local: local, Backends: clouds}, log)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	g.App = a
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

	for _, u := range users {
		if u.Name == "demo" {
			g.Demo = u
		}
	}
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: g.URL + "/identity/v3", Username: g.Demo.Name, Password: g.Demo.Password,
		DomainName: "Default", TenantName: g.Demo.Project,
	})
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	eo := gophercloud.EndpointOpts{Region: "RegionOne"}
	if g.Nova, err = openstack.NewComputeV2(provider, eo); err != nil {
		t.Fatal(err)
	}
	if g.Neutron, err = openstack.NewNetworkV2(provider, eo); err != nil {
		t.Fatal(err)
	}
	pages, err := networks.List(g.Neutron, networks.ListOpts{Name: "private"}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	nets, err := networks.ExtractNetworks(pages)
	if err != nil || len(nets) != 1 {
		t.Fatalf("network private = %v, %v", nets, err)
	}
	g.PrivateNetwork = nets[0].ID
	return g
}

// BootServer creates a server of flavor 1 from the first dev image on the
// private network in zone, waits (up to 90 s) for it to be ACTIVE and
// returns it; it fails the test otherwise, or when the server lands in
// another zone.
func (g *Gateway) BootServer(t *testing.T, name, zone string) *servers.Server {
	t.Helper()
	ctx := t.Context()
	srv, err := servers.Create(ctx, g.Nova, servers.CreateOpts{
		Name: name, FlavorRef: "1", ImageRef: app.DevImages[0].ID, AvailabilityZone: zone,
		Networks: []servers.Network{{UUID: g.PrivateNetwork}},
	}, nil).Extract()
	if err != nil {
		t.Fatalf("create server: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := servers.WaitForStatus(wctx, g.Nova, srv.ID, "ACTIVE"); err != nil {
		got, _ := servers.Get(ctx, g.Nova, srv.ID).Extract()
		t.Fatalf("server did not become ACTIVE: %v (server %+v)", err, got)
	}
	got, err := servers.Get(ctx, g.Nova, srv.ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if got.AvailabilityZone != zone {
		t.Errorf("server's availability zone = %q; want %q", got.AvailabilityZone, zone)
	}
	return got
}

// DeleteServer deletes a server through the API and waits (up to 90 s) for
// it to be gone.
func (g *Gateway) DeleteServer(t *testing.T, id string) {
	t.Helper()
	ctx := t.Context()
	if err := servers.Delete(ctx, g.Nova, id).ExtractErr(); err != nil {
		t.Fatalf("delete server: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		_, err := servers.Get(wctx, g.Nova, id).Extract()
		if gophercloud.ResponseCodeIs(err, 404) {
			return
		}
		if wctx.Err() != nil {
			t.Fatalf("server %s still there after delete: %v", id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
