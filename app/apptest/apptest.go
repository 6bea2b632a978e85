// Package apptest runs a whole Canopy gateway in a test: an in-memory
// registry, the dev bootstrap (users, flavors, images, networks), the local
// pool and the extra clouds the test gives, served over HTTP, with
// gophercloud clients logged in as the demo user. The cloud proxies' gateway
// tests use it to boot servers through the real Nova API.
package apptest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// Gateway is a running gateway and the demo user's clients.
type Gateway struct {
	App  *app.App
	URL  string
	Demo app.DevUser
	// Admin is the admin user (for AdminNova).
	Admin    app.DevUser
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

// Options adjust the gateway Start runs; the zero value is the default.
type Options struct {
	// ComputeQuota is every project's default compute quota (zero value:
	// Nova's defaults, 10 instances). Benchmarks that boot hundreds of
	// servers lift it.
	ComputeQuota broker.Quota
	// BuildCloud, when set, makes the cloud builder of the admin API's
	// cloud registration (cmd passes app/backends.BuildOne) over the
	// gateway's registry.
	BuildCloud func(reg *registry.Registry, log *slog.Logger) app.CloudBuilder
	// Registry, when set, is the registry the gateway uses (so two
	// gateways can share one); else each gateway gets its own in-memory one.
	Registry *registry.Registry
	// DataDir, when set, is the gateway's data directory (two gateways
	// sharing a registry must share it too: it holds the dev users and the
	// token keys); else a fresh temporary one.
	DataDir string
	// InventoryInterval is the app's inventory (and cloud reconcile)
	// interval; zero keeps the app's default.
	InventoryInterval time.Duration
}

// UnlimitedQuota is a compute quota with no limit on anything.
var UnlimitedQuota = broker.Quota{Instances: -1, Cores: -1, RAM: -1, KeyPairs: -1, MetadataItems: -1,
	ServerGroups: -1, ServerGroupMembers: -1}

// Start runs a gateway over the local pool (instant builds) and clouds, and
// stops it when the test (or benchmark) ends.
func Start(t testing.TB, clouds ...proxies.Backend) *Gateway {
	t.Helper()
	return StartWith(t, Options{}, clouds...)
}

// StartWith is Start with options.
func StartWith(t testing.TB, o Options, clouds ...proxies.Backend) *Gateway {
	t.Helper()
	ctx := t.Context()
	log := Log()
	reg := o.Registry
	if reg == nil {
		dev, err := registry.StartDevServer(nil)
		if err != nil {
			t.Fatalf("registry: %v", err)
		}
		t.Cleanup(dev.Close)
		if reg, err = dev.Open(ctx); err != nil {
			t.Fatalf("registry: %v", err)
		}
		t.Cleanup(func() { reg.Close() })
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{URL: "http://" + l.Addr().String(), Registry: reg}
	dir := o.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	local := localcloud.DefaultConfig() // the built-in pool is always there; the clouds are beside it
	local.ApplyBuildDelay(0)
	var build app.CloudBuilder
	if o.BuildCloud != nil {
		build = o.BuildCloud(reg, log)
	}
	a, err := app.New(ctx, reg, app.Options{PublicURL: g.URL, Region: "RegionOne", DataDir: dir, TokenTTL: time.Hour,
		Local: local, Backends: clouds, ComputeQuota: o.ComputeQuota, BuildCloud: build, InventoryInterval: o.InventoryInterval}, log)
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
		switch u.Name {
		case "demo":
			g.Demo = u
		case "admin":
			g.Admin = u
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
func (g *Gateway) BootServer(t testing.TB, name, zone string) *servers.Server {
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
func (g *Gateway) DeleteServer(t testing.TB, id string) {
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

// AdminNova logs the admin user in and returns its Nova client, for what
// only an operator may do (aggregates, quotas, hypervisors).
func (g *Gateway) AdminNova(t testing.TB) *gophercloud.ServiceClient {
	t.Helper()
	provider, err := openstack.AuthenticatedClient(t.Context(), gophercloud.AuthOptions{
		IdentityEndpoint: g.URL + "/identity/v3", Username: g.Admin.Name, Password: g.Admin.Password,
		DomainName: "Default", TenantName: g.Admin.Project,
	})
	if err != nil {
		t.Fatalf("authenticate admin: %v", err)
	}
	nova, err := openstack.NewComputeV2(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatal(err)
	}
	return nova
}

// CreateServers asks for n servers of flavor 1 from the first dev image on
// the private network in zone, named prefix-0…prefix-(n-1), from workers
// concurrent clients, and returns their ids in order. It does not wait for
// them to build (see WaitActive).
func (g *Gateway) CreateServers(t testing.TB, n, workers int, prefix, zone string) []string {
	t.Helper()
	ctx := t.Context()
	ids := make([]string, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Go(func() {
			for i := range next {
				s, err := servers.Create(ctx, g.Nova, servers.CreateOpts{
					Name: fmt.Sprintf("%s-%d", prefix, i), FlavorRef: "1", ImageRef: app.DevImages[0].ID,
					AvailabilityZone: zone, Networks: []servers.Network{{UUID: g.PrivateNetwork}},
				}, nil).Extract()
				if err != nil {
					errs[i] = err
					continue
				}
				ids[i] = s.ID
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("create servers: %v", err)
	}
	return ids
}

// WaitActive polls the demo project's server list until every one of ids
// is ACTIVE, failing the test when one goes ERROR or timeout passes.
func (g *Gateway) WaitActive(t testing.TB, ids []string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	for {
		pages, err := servers.List(g.Nova, servers.ListOpts{}).AllPages(ctx)
		list, xerr := servers.ExtractServers(pages)
		if err == nil && xerr == nil {
			active := 0
			for _, s := range list {
				if !want[s.ID] {
					continue
				}
				switch s.Status {
				case "ACTIVE":
					active++
				case "ERROR":
					t.Fatalf("server %s went ERROR: %v", s.ID, s.Fault)
				}
			}
			if active == len(ids) {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%d of %d servers ACTIVE after %s", active, len(ids), timeout)
			}
		} else if ctx.Err() != nil {
			t.Fatalf("listing servers: %v", errors.Join(err, xerr))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// DeleteServers deletes every one of ids through the API and waits until
// the demo project lists none of them, failing the test after timeout.
func (g *Gateway) DeleteServers(t testing.TB, ids []string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		if err := servers.Delete(ctx, g.Nova, id).ExtractErr(); err != nil {
			t.Fatalf("delete server %s: %v", id, err)
		}
		want[id] = true
	}
	for {
		pages, err := servers.List(g.Nova, servers.ListOpts{}).AllPages(ctx)
		list, xerr := servers.ExtractServers(pages)
		if err == nil && xerr == nil {
			left := 0
			for _, s := range list {
				if want[s.ID] {
					left++
				}
			}
			if left == 0 {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%d of %d servers still listed %s after delete", left, len(ids), timeout)
			}
		} else if ctx.Err() != nil {
			t.Fatalf("listing servers: %v", errors.Join(err, xerr))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
