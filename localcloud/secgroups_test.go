package localcloud_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
)

// filteringHost is a simulated host that also records what a
// SecurityGroupHost (a KVM host) would be told.
type filteringHost struct {
	*localcloud.SimulatedHost
	mu      sync.Mutex
	groups  map[string]proxies.SecurityGroupSpec
	deleted []string
}

func (h *filteringHost) SetGroups(ctx context.Context, groups []proxies.SecurityGroupSpec) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range groups {
		h.groups[g.ID] = g
	}
	return nil
}

func (h *filteringHost) DeleteGroup(ctx context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.groups, id)
	h.deleted = append(h.deleted, id)
	return nil
}

// remotes is the remote prefixes of group id's rules as the host has them.
func (h *filteringHost) remotes(id string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.groups[id].Rules {
		if r.RemoteGroupID != "" {
			out = append(out, "unexpanded:"+r.RemoteGroupID)
		}
		if r.RemoteIPPrefix != "" {
			out = append(out, r.RemoteIPPrefix)
		}
	}
	slices.Sort(out)
	return out
}

var _ localcloud.SecurityGroupHost = (*filteringHost)(nil)

// plainHost hides every optional interface: a host that cannot filter
// traffic, as a bare-metal machine.
type plainHost struct{ localcloud.HostDriver }

// poolWith builds a pool whose only host is h (taken from a simulated pool),
// configured as listed lists that host: as a KVM or bare-metal host, the
// way the pool's config names the hosts AddToPool adds.
func poolWith(t *testing.T, listed func(c *localcloud.Config, name string), wrap func(*localcloud.SimulatedHost) localcloud.HostDriver) *localcloud.Pool {
	t.Helper()
	src := newPool(t, func(c *localcloud.Config) { c.SimulatedHosts = 1 })
	hosts, err := src.Inventory().Hosts(t.Context())
	if err != nil || len(hosts) != 1 {
		t.Fatalf("Hosts = %v, %v", hosts, err)
	}
	sh, ok := src.SimulatedHost(hosts[0].Name)
	if !ok {
		t.Fatal("no simulated host")
	}
	cfg := localcloud.DefaultConfig()
	cfg.SimulatedHosts = 0
	listed(&cfg, sh.Name())
	p, err := localcloud.New("local-kvm", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddHost(wrap(sh)); err != nil {
		t.Fatal(err)
	}
	return p // src's cleanup closes the host
}

// asKVM and asBareMetal list the pool's one host in its config.
func asKVM(c *localcloud.Config, name string) {
	c.KVMHosts = []localcloud.KVMHostConfig{{Name: name}}
}

func asBareMetal(c *localcloud.Config, name string) {
	c.BareMetalHosts = []localcloud.BareMetalConfig{testBareMetal(name)}
}

// testBareMetal is a valid bare-metal host config named name.
func testBareMetal(name string) localcloud.BareMetalConfig {
	return localcloud.BareMetalConfig{Name: name, BMCAddress: "127.0.0.1:623", Username: "admin", PasswordFrom: "env:BMC_PASSWORD",
		VCPUs: 8, RAMMB: 16384, DiskGB: 100}
}

func nicOn(port, ip string, groups ...string) proxies.NIC {
	return proxies.NIC{PortID: port, NetworkID: "net-1", FixedIPs: []string{ip}, SecurityGroupIDs: groups}
}

// TestGroupsReachFilteringHosts: a host that enforces groups is given each
// group, with its remote-group rules expanded to the members' addresses and
// re-given as members come and go; a deleted group is removed from it.
func TestGroupsReachFilteringHosts(t *testing.T) {
	var fh *filteringHost
	p := poolWith(t, asKVM, func(sh *localcloud.SimulatedHost) localcloud.HostDriver {
		fh = &filteringHost{SimulatedHost: sh, groups: map[string]proxies.SecurityGroupSpec{}}
		return fh
	})
	if !p.Capabilities().SecurityGroups {
		t.Fatal("a pool with a filtering host declares no security groups")
	}
	ctx := t.Context()
	web := proxies.SecurityGroupSpec{ID: "web", Name: "web", Rules: []proxies.SecurityGroupRule{
		{ID: "r1", Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortMin: 80, PortMax: 80, RemoteGroupID: "web"},
		{ID: "r2", Direction: "ingress", EtherType: "IPv6", RemoteGroupID: "web"},
		{ID: "r3", Direction: "egress", EtherType: "IPv4", RemoteIPPrefix: "192.0.2.0/24"},
	}}
	if _, err := p.EnsureSecurityGroup(ctx, web); err != nil {
		t.Fatal(err)
	}
	if got := fh.remotes("web"); !slices.Equal(got, []string{"192.0.2.0/24"}) {
		t.Errorf("with no members the host has remotes %v; want only the prefix rule", got)
	}
	s1, s2 := spec("s1", ""), spec("s2", "")
	s1.NICs = []proxies.NIC{nicOn("p1", "10.0.0.5", "web")}
	s2.NICs = []proxies.NIC{nicOn("p2", "10.0.0.6", "web")}
	for _, s := range []proxies.ServerSpec{s1, s2} {
		if _, err := p.Servers().CreateServer(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := fh.remotes("web"), []string{"10.0.0.5/32", "10.0.0.6/32", "192.0.2.0/24"}; !slices.Equal(got, want) {
		t.Errorf("after two members joined the host has remotes %v; want %v", got, want)
	}
	if err := p.SetNICSecurityGroups(ctx, "s2", "p2", nil); err != nil {
		t.Fatal(err)
	}
	if got, want := fh.remotes("web"), []string{"10.0.0.5/32", "192.0.2.0/24"}; !slices.Equal(got, want) {
		t.Errorf("after s2 left the group the host has remotes %v; want %v", got, want)
	}
	if err := p.Servers().DeleteServer(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if got := fh.remotes("web"); !slices.Equal(got, []string{"192.0.2.0/24"}) {
		t.Errorf("after s1 was deleted the host has remotes %v; want only the prefix rule", got)
	}
	for range 2 {
		if err := p.DeleteSecurityGroup(ctx, "web"); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(fh.deleted, []string{"web"}) {
		t.Errorf("the host deleted groups %v; want web once", fh.deleted)
	}
}

// TestUnfilteredHostsTakeOnlyTheDefaultGroup: a host that cannot filter
// (bare metal) takes a NIC in the project's default group and refuses any
// other group rather than ignore its rules.
func TestUnfilteredHostsTakeOnlyTheDefaultGroup(t *testing.T) {
	p := poolWith(t, asBareMetal, func(sh *localcloud.SimulatedHost) localcloud.HostDriver { return plainHost{sh} })
	ctx := t.Context()
	for _, g := range []proxies.SecurityGroupSpec{{ID: "def", Name: "default"}, {ID: "web", Name: "web"}} {
		if _, err := p.EnsureSecurityGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	bad := spec("bm-1", "")
	bad.NICs = []proxies.NIC{nicOn("p1", "10.0.0.5", "web")}
	if _, err := p.Servers().CreateServer(ctx, bad); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("CreateServer with group web on a host that cannot filter = %v; want ErrConflict", err)
	}
	ok := spec("bm-2", "")
	ok.NICs = []proxies.NIC{nicOn("p2", "10.0.0.6", "def")}
	if _, err := p.Servers().CreateServer(ctx, ok); err != nil {
		t.Errorf("CreateServer with the default group = %v; want nil", err)
	}
	if err := p.SetNICSecurityGroups(ctx, "bm-2", "p2", []string{"web"}); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("SetNICSecurityGroups(web) on a host that cannot filter = %v; want ErrConflict", err)
	}
}

// TestCapabilitiesFollowTheHosts: a pool of bare metal only declares no
// security groups; any host that filters (simulated or KVM) makes it
// declare them.
func TestCapabilitiesFollowTheHosts(t *testing.T) {
	bm := testBareMetal("bm-1")
	cases := []struct {
		name   string
		mutate func(*localcloud.Config)
		want   bool
	}{
		{"simulated", func(c *localcloud.Config) {}, true},
		{"kvm", func(c *localcloud.Config) { c.SimulatedHosts = 0; c.KVMHosts = []localcloud.KVMHostConfig{{Name: "k"}} }, true},
		{"bare metal only", func(c *localcloud.Config) { c.SimulatedHosts = 0; c.BareMetalHosts = []localcloud.BareMetalConfig{bm} }, false},
		{"kvm and bare metal", func(c *localcloud.Config) {
			c.SimulatedHosts = 0
			c.KVMHosts = []localcloud.KVMHostConfig{{Name: "k"}}
			c.BareMetalHosts = []localcloud.BareMetalConfig{bm}
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPool(t, c.mutate)
			if got := p.Capabilities().SecurityGroups; got != c.want {
				t.Errorf("SecurityGroups = %v; want %v", got, c.want)
			}
		})
	}
}
