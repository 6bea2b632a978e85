package openstack_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/openstack"
	"github.com/canopy-cloud/canopy/proxies/openstack/bottomsim"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
)

// topGateway is a Canopy gateway whose clouds include OpenStack proxies.
type topGateway struct {
	url   string
	app   *app.App
	users []app.DevUser
}

// startTop runs a whole gateway (app.New over an in-memory registry, the
// dev bootstrap) with backends beside its local pool, served on loopback.
func startTop(t testing.TB, backends ...proxies.Backend) *topGateway {
	t.Helper()
	ctx := context.Background()
	dev, err := registry.StartDevServer(testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	top := &topGateway{url: "http://" + l.Addr().String()}
	local := localcloud.DefaultConfig()
	local.ApplyBuildDelay(10 * time.Millisecond)
	dir := t.TempDir()
	a, err := app.New(ctx, reg, app.Options{PublicURL: top.url, Region: "RegionOne", DataDir: dir, TokenTTL: time.Hour,
		Local: local, Backends: backends}, testLog())
	if err != nil {
		t.Fatalf("app.New with the OpenStack proxies: %v", err)
	}
	top.app = a
	if top.users, err = app.LoadOrCreateDevUsers(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := a.BootstrapDev(ctx, top.users); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start the top gateway: %v", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Serve(sctx, l) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	return top
}

// client is a gophercloud compute and network client of the top as user.
func (g *topGateway) client(t testing.TB, user string) (*gophercloud.ServiceClient, *gophercloud.ServiceClient) {
	t.Helper()
	return clientsFor(t, g.url+"/identity/v3", g.users, user)
}

func clientsFor(t testing.TB, authURL string, users []app.DevUser, user string) (*gophercloud.ServiceClient, *gophercloud.ServiceClient) {
	t.Helper()
	for _, u := range users {
		if u.Name != user {
			continue
		}
		pc, err := gos.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{IdentityEndpoint: authURL, Username: u.Name,
			Password: u.Password, DomainName: "Default", Scope: &gophercloud.AuthScope{ProjectName: u.Project, DomainName: "Default"}})
		if err != nil {
			t.Fatalf("authenticate to %s as %s: %v", authURL, user, err)
		}
		c, err := gos.NewComputeV2(pc, gophercloud.EndpointOpts{Region: "RegionOne"})
		if err != nil {
			t.Fatal(err)
		}
		n, err := gos.NewNetworkV2(pc, gophercloud.EndpointOpts{Region: "RegionOne"})
		if err != nil {
			t.Fatal(err)
		}
		return c, n
	}
	t.Fatalf("no user %s", user)
	return nil, nil
}

// bottomProxy starts a bottom Canopy and a proxy to it reporting zone az.
func bottomProxy(t testing.TB, name, az string) (*bottomsim.Sim, *openstack.Backend) {
	t.Helper()
	sim, err := bottomsim.Start(context.Background(), testLog(), bottomsim.Options{})
	if err != nil {
		t.Fatalf("start bottom %s: %v", name, err)
	}
	t.Cleanup(sim.Close)
	cfg := sim.Config
	cfg.AvailabilityZone = az
	b, err := openstack.New(context.Background(), name, cfg, testLog())
	if err != nil {
		t.Fatalf("openstack.New(%s): %v", name, err)
	}
	return sim, b
}

// waitTopServer polls the top until the server leaves BUILD.
func waitTopServer(t *testing.T, c *gophercloud.ServiceClient, id string) *servers.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for {
		s, err := servers.Get(ctx, c, id).Extract()
		if err == nil && s.Status != "BUILD" {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("server %s still building in the top: %+v, %v", id, s, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestTwoBottomsBehindOneTop is issue 4's integration: two bottom Canopys
// behind one top gateway. A server created through the top in each bottom's
// zone lands in that bottom with canopy_id metadata; the top's server list
// shows both.
func TestTwoBottomsBehindOneTop(t *testing.T) {
	sim1, b1 := bottomProxy(t, "os-one", "zone-one")
	sim2, b2 := bottomProxy(t, "os-two", "zone-two")
	top := startTop(t, b1, b2)
	compute, network := top.client(t, "demo")

	pages, err := networks.List(network, networks.ListOpts{Name: "private"}).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	nets, _ := networks.ExtractNetworks(pages)
	if len(nets) == 0 {
		t.Fatal("the top has no private network")
	}
	ids := map[string]string{} // zone → top server id
	for _, zone := range []string{"zone-one", "zone-two"} {
		s, err := servers.Create(t.Context(), compute, servers.CreateOpts{Name: "vm-" + zone, FlavorRef: "1", ImageRef: devImageA,
			AvailabilityZone: zone, Networks: []servers.Network{{UUID: nets[0].ID}}}, nil).Extract()
		if err != nil {
			t.Fatalf("create a server in %s through the top: %v", zone, err)
		}
		ids[zone] = s.ID
		t.Cleanup(func() { _ = servers.Delete(context.WithoutCancel(t.Context()), compute, s.ID).ExtractErr() })
	}
	for zone, id := range ids {
		s := waitTopServer(t, compute, id)
		if s.Status != "ACTIVE" {
			t.Fatalf("top server in %s is %s (fault %+v); want ACTIVE", zone, s.Status, s.Fault)
		}
	}
	for _, c := range []struct {
		sim        *bottomsim.Sim
		mine, them string
	}{{sim1, ids["zone-one"], ids["zone-two"]}, {sim2, ids["zone-two"], ids["zone-one"]}} {
		bc, _ := clientsFor(t, c.sim.AuthURL, c.sim.Users, "demo")
		pages, err := servers.List(bc, nil).AllPages(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		list, _ := servers.ExtractServers(pages)
		n, other := 0, 0
		for _, s := range list {
			switch s.Metadata["canopy_id"] {
			case c.mine:
				n++
			case c.them:
				other++
			}
		}
		if n != 1 || other != 0 {
			t.Errorf("bottom %s holds %d servers with canopy_id %s and %d of the other bottom's; want 1 and 0", c.sim.URL, n, c.mine, other)
		}
	}
	lp, err := servers.List(compute, nil).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	listed, _ := servers.ExtractServers(lp)
	seen := map[string]bool{}
	for _, s := range listed {
		seen[s.ID] = true
	}
	for zone, id := range ids {
		if !seen[id] {
			t.Errorf("the top's server list misses the server in %s (%s)", zone, id)
		}
	}
	// Deleting through the top removes the bottom servers.
	for _, id := range ids {
		if err := servers.Delete(t.Context(), compute, id).ExtractErr(); err != nil {
			t.Fatal(err)
		}
	}
	for zone, id := range ids {
		b := map[string]*openstack.Backend{"zone-one": b1, "zone-two": b2}[zone]
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := b.GetServer(t.Context(), id)
			if errors.Is(err, proxies.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %s is still in bottom %s after the top deleted it: %v", id, zone, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
