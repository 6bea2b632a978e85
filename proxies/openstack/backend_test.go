package openstack_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/openstack"
	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
)

// inspector reads the bottom directly (not through the proxy), to count
// what the proxy made there.
type inspector struct {
	compute, network, image, identity *gophercloud.ServiceClient
}

func inspect(t *testing.T, user string) inspector {
	t.Helper()
	cfg, err := bottom(t).ConfigFor(user)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := config.Secret(cfg.Auth.PasswordFrom)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := gos.AuthenticatedClient(t.Context(), gophercloud.AuthOptions{IdentityEndpoint: cfg.AuthURL, Username: cfg.Auth.Username,
		Password: pw, DomainName: "Default", Scope: &gophercloud.AuthScope{ProjectName: cfg.Auth.ProjectName, DomainName: "Default"}})
	if err != nil {
		t.Fatalf("authenticate to the bottom as %s: %v", user, err)
	}
	eo := gophercloud.EndpointOpts{Region: "RegionOne"}
	var in inspector
	for _, c := range []struct {
		dst **gophercloud.ServiceClient
		new func(*gophercloud.ProviderClient, gophercloud.EndpointOpts) (*gophercloud.ServiceClient, error)
	}{{&in.compute, gos.NewComputeV2}, {&in.network, gos.NewNetworkV2}, {&in.image, gos.NewImageV2}, {&in.identity, gos.NewIdentityV3}} {
		if *c.dst, err = c.new(pc, eo); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

// serversWith lists the bottom servers whose metadata carries canopy_id=id.
func (in inspector) serversWith(t *testing.T, id string, allTenants bool) []servers.Server {
	t.Helper()
	pages, err := servers.List(in.compute, servers.ListOpts{AllTenants: allTenants}).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		t.Fatal(err)
	}
	var out []servers.Server
	for _, s := range all {
		if s.Metadata["canopy_id"] == id {
			out = append(out, s)
		}
	}
	return out
}

func serverSpec(t *testing.T, project string) proxies.ServerSpec {
	id := newID(t)
	return proxies.ServerSpec{ID: id, ProjectID: project, Name: "vm-" + id[:8],
		Flavor: proxies.Flavor{ID: "top-tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1}, ImageID: devImageA}
}

// devImageA is a bootstrapped image id, the same in every Canopy dev (top
// and bottom), so an unmapped top image resolves by id.
const devImageA = "a1b2c3d4-0000-4000-8000-00000000000a"

// waitActive polls GetServer until the server settles active.
func waitState(t *testing.T, b proxies.Backend, id string, want proxies.ServerState) proxies.ServerStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		st, err := b.Servers().GetServer(ctx, id)
		if err == nil && st.State == want && st.TaskState == "" {
			return st
		}
		if err == nil && st.State == proxies.StateError {
			t.Fatalf("server %s went to error: %s", id, st.Fault)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("server %s did not reach %s: last %+v, %v", id, want, st, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestCreateIsIdempotent: a retried create and two concurrent creates of
// one top id make exactly one bottom server, tagged with the top id.
func TestCreateIsIdempotent(t *testing.T) {
	b := newBackend(t, "demo", nil)
	in := inspect(t, "demo")
	spec := serverSpec(t, "p-idem")
	var wg sync.WaitGroup
	errs := make([]error, 3)
	sts := make([]proxies.ServerStatus, 3)
	for i := range 3 {
		wg.Go(func() { sts[i], errs[i] = b.CreateServer(t.Context(), spec) })
	}
	wg.Wait()
	t.Cleanup(func() { _ = b.DeleteServer(context.WithoutCancel(t.Context()), spec.ID) })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create #%d: %v", i, err)
		}
		if sts[i].BottomID != sts[0].BottomID {
			t.Errorf("create #%d made bottom %s; #0 made %s", i, sts[i].BottomID, sts[0].BottomID)
		}
	}
	if _, err := b.CreateServer(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	// A fresh backend (no cache: as after a gateway restart) finds it too.
	fresh := newBackend(t, "demo", nil)
	if st, err := fresh.CreateServer(t.Context(), spec); err != nil || st.BottomID != sts[0].BottomID {
		t.Fatalf("create through a fresh backend = %+v, %v; want bottom %s", st, err, sts[0].BottomID)
	}
	got := in.serversWith(t, spec.ID, false)
	if len(got) != 1 {
		t.Fatalf("the bottom has %d servers with canopy_id %s; want 1", len(got), spec.ID)
	}
	if got[0].Metadata["canopy_project"] != "p-idem" {
		t.Errorf("bottom metadata = %v; want canopy_project p-idem", got[0].Metadata)
	}
	st := waitState(t, fresh, spec.ID, proxies.StateActive)
	if st.Host != "bottom-demo:nova" {
		t.Errorf("host = %q; want the pseudo-host of the bottom zone, bottom-demo:nova", st.Host)
	}
	if err := fresh.DeleteServer(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteServer(t.Context(), spec.ID); err != nil {
		t.Errorf("a second delete (other backend) = %v; want nil", err)
	}
}

// TestFlavorMapping: an unmapped flavor becomes the smallest bottom flavor
// that fits; flavor_map wins; nothing fits → ErrCapacity.
func TestFlavorMapping(t *testing.T) {
	cases := []struct {
		name   string
		flavor proxies.Flavor
		fmap   map[string]string
		want   string // bottom flavor id; "" = ErrCapacity
	}{
		{"tiny fits m1.tiny", proxies.Flavor{ID: "t1", VCPUs: 1, RAMMB: 512, DiskGB: 1}, nil, "1"},
		{"1GB RAM needs m1.small", proxies.Flavor{ID: "t2", VCPUs: 1, RAMMB: 1024, DiskGB: 5}, nil, "2"},
		{"3 vCPUs need m1.large", proxies.Flavor{ID: "t3", VCPUs: 3, RAMMB: 512, DiskGB: 1}, nil, "4"},
		{"explicit map", proxies.Flavor{ID: "t4", VCPUs: 1, RAMMB: 512, DiskGB: 1}, map[string]string{"t4": "3"}, "3"},
		{"too big", proxies.Flavor{ID: "t5", VCPUs: 64, RAMMB: 512, DiskGB: 1}, nil, ""},
	}
	in := inspect(t, "demo")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBackend(t, "demo", func(cfg *openstack.Config) { cfg.FlavorMap = c.fmap })
			spec := serverSpec(t, "p-flavor")
			spec.Flavor = c.flavor
			_, err := b.CreateServer(t.Context(), spec)
			if c.want == "" {
				if !errors.Is(err, proxies.ErrCapacity) {
					t.Fatalf("CreateServer with flavor %+v = %v; want ErrCapacity", c.flavor, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.DeleteServer(context.WithoutCancel(t.Context()), spec.ID) })
			got := in.serversWith(t, spec.ID, false)
			if len(got) != 1 || got[0].Flavor["id"] != c.want {
				var f any
				if len(got) == 1 {
					f = got[0].Flavor
				}
				t.Errorf("bottom flavor = %v; want id %s", f, c.want)
			}
		})
	}
}

// TestImageImport: an import is verified against the spec's hashes (a
// mismatch is ErrInvalid and leaves no bottom image); a good import is
// made once however often it is retried.
func TestImageImport(t *testing.T) {
	b := newBackend(t, "demo", nil)
	in := inspect(t, "demo")
	count := func(id string) int {
		pages, err := images.List(in.image, images.ListOpts{Name: "canopy-" + id}).AllPages(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		list, _ := images.ExtractImages(pages)
		return len(list)
	}
	data := []byte(strings.Repeat("canopy image bytes\n", 500))
	reader := func(ctx context.Context) (io.ReadSeekCloser, error) {
		return readSeekNopCloser{bytes.NewReader(data)}, nil
	}

	bad := imageSpec(newID(t), data)
	bad.SHA512 = strings.Repeat("0", 128)
	if _, err := b.Images().ImportImage(t.Context(), bad, reader); !errors.Is(err, proxies.ErrInvalid) {
		t.Fatalf("ImportImage with a wrong sha512 = %v; want ErrInvalid", err)
	}
	if n := count(bad.ID); n != 0 {
		t.Errorf("after a failed verification the bottom holds %d copies; want 0 (deleted)", n)
	}
	badMD5 := imageSpec(newID(t), data)
	badMD5.Checksum = strings.Repeat("f", 32)
	if _, err := b.Images().ImportImage(t.Context(), badMD5, reader); !errors.Is(err, proxies.ErrInvalid) {
		t.Fatalf("ImportImage with a wrong checksum = %v; want ErrInvalid", err)
	}

	good := imageSpec(newID(t), data)
	first, err := b.Images().ImportImage(t.Context(), good, reader)
	if err != nil || !first.Ready || first.Size != int64(len(data)) {
		t.Fatalf("ImportImage = %+v, %v; want a ready copy of %d bytes", first, err, len(data))
	}
	for range 2 {
		again, err := newBackend(t, "demo", nil).Images().ImportImage(t.Context(), good, reader)
		if err != nil || again.BottomID != first.BottomID {
			t.Fatalf("ImportImage retried = %+v, %v; want %s", again, err, first.BottomID)
		}
	}
	if n := count(good.ID); n != 1 {
		t.Errorf("the bottom holds %d copies of image %s; want 1", n, good.ID)
	}
	// A server boots from the imported copy.
	spec := serverSpec(t, "p-img")
	spec.ImageID = good.ID
	if _, err := b.CreateServer(t.Context(), spec); err != nil {
		t.Fatalf("CreateServer from the imported image: %v", err)
	}
	t.Cleanup(func() { _ = b.DeleteServer(context.WithoutCancel(t.Context()), spec.ID) })
	if got := in.serversWith(t, spec.ID, false); len(got) != 1 || got[0].Image["id"] != first.BottomID {
		t.Errorf("bottom server image = %v; want the imported copy %s", got, first.BottomID)
	}
	if err := b.Images().DeleteImage(t.Context(), good.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Images().GetImage(t.Context(), good.ID); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetImage after delete = %v; want ErrNotFound", err)
	}
	// An image the bottom has neither copy nor id of is refused.
	spec2 := serverSpec(t, "p-img")
	spec2.ImageID = newID(t)
	if _, err := b.CreateServer(t.Context(), spec2); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateServer from an unknown image = %v; want ErrInvalid", err)
	}
}

// TestNetworkMapping: a top network becomes one bottom network with its
// subnet; a server NIC on it is a bottom port canopy-<top port> with the
// bottom's own address in that subnet.
func TestNetworkMapping(t *testing.T) {
	b := newBackend(t, "demo", nil)
	in := inspect(t, "demo")
	spec := proxies.NetworkSpec{ID: newID(t), ProjectID: "p-net", Name: "app", MTU: 1450,
		Subnets: []proxies.SubnetSpec{{ID: newID(t), CIDR: "10.91.0.0/24", GatewayIP: "10.91.0.1", IPVersion: 4, EnableDHCP: true}}}
	for range 2 {
		if _, err := b.Networks().EnsureNetwork(t.Context(), spec); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = b.Networks().DeleteNetwork(context.WithoutCancel(t.Context()), spec.ID) })
	pages, err := networks.List(in.network, networks.ListOpts{Name: "canopy-" + spec.ID}).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	nets, _ := networks.ExtractNetworks(pages)
	if len(nets) != 1 {
		t.Fatalf("the bottom has %d networks canopy-%s; want 1", len(nets), spec.ID)
	}
	spages, _ := subnets.List(in.network, subnets.ListOpts{NetworkID: nets[0].ID}).AllPages(t.Context())
	sns, _ := subnets.ExtractSubnets(spages)
	if len(sns) != 1 || sns[0].CIDR != "10.91.0.0/24" {
		t.Fatalf("bottom subnets = %+v; want one 10.91.0.0/24", sns)
	}
	srv := serverSpec(t, "p-net")
	nic := proxies.NIC{PortID: newID(t), NetworkID: spec.ID, FixedIPs: []string{"10.91.0.10"}}
	srv.NICs = []proxies.NIC{nic}
	if _, err := b.CreateServer(t.Context(), srv); err != nil {
		t.Fatal(err)
	}
	waitState(t, b, srv.ID, proxies.StateActive)
	ppages, _ := ports.List(in.network, ports.ListOpts{Name: "canopy-" + nic.PortID}).AllPages(t.Context())
	ps, _ := ports.ExtractPorts(ppages)
	if len(ps) != 1 || len(ps[0].FixedIPs) == 0 {
		t.Fatalf("bottom ports canopy-%s = %+v; want one with an address", nic.PortID, ps)
	}
	if a, err := netip.ParseAddr(ps[0].FixedIPs[0].IPAddress); err != nil || !netip.MustParsePrefix("10.91.0.0/24").Contains(a) {
		t.Errorf("bottom port address %q is not in 10.91.0.0/24", ps[0].FixedIPs[0].IPAddress)
	}
	// A second NIC through os-interface, then detached.
	extra := proxies.NIC{PortID: newID(t), NetworkID: spec.ID}
	for range 2 {
		if _, err := b.AttachNIC(t.Context(), srv.ID, extra); err != nil {
			t.Fatalf("AttachNIC: %v", err)
		}
	}
	ppages, _ = ports.List(in.network, ports.ListOpts{Name: "canopy-" + extra.PortID}).AllPages(t.Context())
	if ps, _ := ports.ExtractPorts(ppages); len(ps) != 1 {
		t.Errorf("after two attaches the bottom has %d ports for the extra NIC; want 1", len(ps))
	}
	for range 2 {
		if err := b.DetachNIC(t.Context(), srv.ID, extra.PortID); err != nil {
			t.Fatalf("DetachNIC: %v", err)
		}
	}
	if err := b.DeleteServer(t.Context(), srv.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.Networks().DeleteNetwork(t.Context(), spec.ID); err != nil {
		// the bottom may still hold the server's port a moment: retry once
		time.Sleep(300 * time.Millisecond)
		if err := b.Networks().DeleteNetwork(t.Context(), spec.ID); err != nil {
			t.Errorf("DeleteNetwork: %v", err)
		}
	}
}

// TestResizeAndRebuild: a resize lands on the bigger bottom flavor and is
// confirmed; a rebuild keeps the canopy metadata.
func TestResizeAndRebuild(t *testing.T) {
	b := newBackend(t, "demo", nil)
	in := inspect(t, "demo")
	spec := serverSpec(t, "p-resize")
	if _, err := b.CreateServer(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteServer(context.WithoutCancel(t.Context()), spec.ID) })
	waitState(t, b, spec.ID, proxies.StateActive)
	if _, err := b.ResizeServer(t.Context(), spec.ID, proxies.Flavor{ID: "top-small", VCPUs: 1, RAMMB: 2048, DiskGB: 20}); err != nil {
		t.Fatalf("ResizeServer: %v", err)
	}
	waitState(t, b, spec.ID, proxies.StateActive)
	if got := in.serversWith(t, spec.ID, false); len(got) != 1 || got[0].Flavor["id"] != "2" || got[0].Status != "ACTIVE" {
		t.Errorf("after resize the bottom server is %v; want ACTIVE on flavor 2", got)
	}
	if _, err := b.RebuildServer(t.Context(), spec.ID, proxies.RebuildSpec{ImageID: "a1b2c3d4-0000-4000-8000-00000000000b", Name: spec.Name,
		Metadata: map[string]string{"role": "web"}}); err != nil {
		t.Fatalf("RebuildServer: %v", err)
	}
	waitState(t, b, spec.ID, proxies.StateActive)
	got := in.serversWith(t, spec.ID, false)
	if len(got) != 1 || got[0].Metadata["role"] != "web" || got[0].Image["id"] != "a1b2c3d4-0000-4000-8000-00000000000b" {
		t.Errorf("after rebuild the bottom server is %+v; want image b, metadata role=web and canopy_id kept", got)
	}
}

// TestProjectMapping: with admin credentials each top project gets its own
// bottom project canopy-<top>, made once; project_map pins one explicitly.
func TestProjectMapping(t *testing.T) {
	sim := bottom(t)
	b := newBackend(t, "admin", func(c *openstack.Config) { c.ProjectMap = map[string]string{"pinned": sim.Projects["alt"]} })
	admin := inspect(t, "admin")
	top := "tp" + newID(t)[:8]
	var specs []proxies.ServerSpec
	for range 2 {
		spec := serverSpec(t, top)
		if _, err := b.CreateServer(t.Context(), spec); err != nil {
			t.Fatalf("CreateServer in top project %s: %v", top, err)
		}
		t.Cleanup(func() { _ = b.DeleteServer(context.WithoutCancel(t.Context()), spec.ID) })
		specs = append(specs, spec)
	}
	pages, err := projects.List(admin.identity, projects.ListOpts{Name: "canopy-" + top}).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := projects.ExtractProjects(pages)
	if len(ps) != 1 {
		t.Fatalf("the bottom has %d projects canopy-%s; want 1", len(ps), top)
	}
	for _, spec := range specs {
		got := admin.serversWith(t, spec.ID, true)
		if len(got) != 1 || got[0].TenantID != ps[0].ID {
			t.Errorf("server %s in the bottom = %+v; want one in project %s", spec.ID, got, ps[0].ID)
		}
	}
	pinned := serverSpec(t, "pinned")
	if _, err := b.CreateServer(t.Context(), pinned); err != nil {
		t.Fatalf("CreateServer in the pinned project: %v", err)
	}
	t.Cleanup(func() { _ = b.DeleteServer(context.WithoutCancel(t.Context()), pinned.ID) })
	if got := admin.serversWith(t, pinned.ID, true); len(got) != 1 || got[0].TenantID != sim.Projects["alt"] {
		t.Errorf("pinned server = %+v; want it in project alt %s", got, sim.Projects["alt"])
	}
	all, err := b.ListServers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, st := range all {
		seen[st.ID] = true
	}
	for _, spec := range append(specs, pinned) {
		if !seen[spec.ID] {
			t.Errorf("ListServers misses %s (project %s)", spec.ID, spec.ProjectID)
		}
	}
}

// TestConfigValidate: each bad field is named with its fix.
func TestConfigValidate(t *testing.T) {
	good := openstack.Config{AuthURL: "https://keystone.example:5000/v3",
		Auth: openstack.Auth{Username: "u", PasswordFrom: "env:OS_PW", ProjectName: "p"}}
	cases := []struct {
		name string
		edit func(*openstack.Config)
		want string // "" = valid
	}{
		{"good", func(*openstack.Config) {}, ""},
		{"no auth_url", func(c *openstack.Config) { c.AuthURL = "" }, "openstack.auth_url"},
		{"inline password", func(c *openstack.Config) { c.Auth.PasswordFrom = "hunter2" }, "openstack.auth.password_from"},
		{"no project", func(c *openstack.Config) { c.Auth.ProjectName = "" }, "openstack.auth.project_name"},
		{"bad interface", func(c *openstack.Config) { c.Interface = "private" }, "openstack.interface"},
		{"app credential with project_map", func(c *openstack.Config) {
			c.Auth = openstack.Auth{ApplicationCredentialID: "ac", ApplicationCredentialSecretFrom: "env:AC"}
			c.ProjectMap = map[string]string{"a": "b"}
		}, "openstack.auth.application_credential_id"},
		{"app credential", func(c *openstack.Config) {
			c.Auth = openstack.Auth{ApplicationCredentialID: "ac", ApplicationCredentialSecretFrom: "env:AC"}
		}, ""},
		{"empty map value", func(c *openstack.Config) { c.FlavorMap = map[string]string{"1": ""} }, "openstack.flavor_map"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			cfg.SetDefaults()
			err := cfg.Validate()
			if c.want == "" && err != nil {
				t.Fatalf("Validate = %v; want nil", err)
			}
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Validate = %v; want an error naming %s", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error echoes the inline password: %v", err)
			}
		})
	}
}

// TestKeypairAndUserData: a public key becomes one shared bottom keypair
// named after its hash; user data reaches the bottom.
func TestKeypairAndUserData(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKVx9Dz6aXEvZ2Gw8ZbyN3m0nVxN6qXbLr3Zp2YqB1dC proxy@canopy"
	b := newBackend(t, "demo", nil)
	in := inspect(t, "demo")
	var names []string
	for range 2 {
		spec := serverSpec(t, "p-key")
		spec.PublicKey, spec.KeyName, spec.UserData = key, "mykey", []byte("#cloud-config\n")
		if _, err := b.CreateServer(t.Context(), spec); err != nil {
			t.Fatalf("CreateServer with a key and user data: %v", err)
		}
		t.Cleanup(func() { _ = b.DeleteServer(context.WithoutCancel(t.Context()), spec.ID) })
		got := in.serversWith(t, spec.ID, false)
		if len(got) != 1 || !strings.HasPrefix(got[0].KeyName, "canopy-") {
			t.Fatalf("bottom server = %+v; want key_name canopy-<hash>", got)
		}
		names = append(names, got[0].KeyName)
	}
	if names[0] != names[1] {
		t.Errorf("two servers with one key got keypairs %v; want one shared keypair", names)
	}
}
