package openstack_test

import (
	"context"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
)

// TestSecurityGroupConverges: the bottom group ends with exactly the spec's
// rules (Neutron's default egress rules are removed, a dropped rule goes, a
// remote-group rule points at the bottom group).
func TestSecurityGroupConverges(t *testing.T) {
	b := newBackend(t, "demo", nil)
	in := inspect(t, "demo")
	spec := proxies.SecurityGroupSpec{ID: newID(t), ProjectID: "p-sg", Name: "web", Rules: []proxies.SecurityGroupRule{
		{ID: "r1", Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortMin: 443, PortMax: 443, RemoteIPPrefix: "0.0.0.0/0"},
		{ID: "r2", Direction: "ingress", EtherType: "IPv4", Protocol: "icmp", PortMin: -1, PortMax: -1},
	}}
	spec.Rules = append(spec.Rules, proxies.SecurityGroupRule{ID: "r3", Direction: "ingress", EtherType: "IPv4", RemoteGroupID: spec.ID})
	bottomRules := func(id string) []rules.SecGroupRule {
		pages, err := rules.List(in.network, rules.ListOpts{SecGroupID: id}).AllPages(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		rs, _ := rules.ExtractRules(pages)
		return rs
	}
	st, err := b.EnsureSecurityGroup(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteSecurityGroup(context.WithoutCancel(t.Context()), spec.ID) })
	rs := bottomRules(st.BottomID)
	if len(rs) != 3 {
		t.Fatalf("bottom group has %d rules; want exactly the 3 of the spec: %+v", len(rs), rs)
	}
	self := 0
	for _, r := range rs {
		if r.RemoteGroupID == st.BottomID {
			self++
		}
	}
	if self != 1 {
		t.Errorf("%d bottom rules point at the bottom group itself; want 1", self)
	}
	spec.Rules = spec.Rules[:1]
	if again, err := b.EnsureSecurityGroup(t.Context(), spec); err != nil || again.BottomID != st.BottomID {
		t.Fatalf("EnsureSecurityGroup converge = %+v, %v", again, err)
	}
	if rs := bottomRules(st.BottomID); len(rs) != 1 || rs[0].PortRangeMin != 443 {
		t.Errorf("after converging to one rule the bottom has %+v", rs)
	}
	pages, _ := groups.List(in.network, groups.ListOpts{Name: "canopy-" + spec.ID}).AllPages(t.Context())
	if gs, _ := groups.ExtractGroups(pages); len(gs) != 1 {
		t.Errorf("the bottom has %d groups canopy-%s; want 1", len(gs), spec.ID)
	}
}

// TestHostsFromLimits: one pseudo-host per bottom zone, in the configured
// top zone, sized by the bottom project's compute limits.
func TestHostsFromLimits(t *testing.T) {
	b := newBackend(t, "demo", nil)
	in := inspect(t, "demo")
	lim, err := limits.Get(t.Context(), in.compute, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := b.Inventory().Hosts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 || hosts[0].Name != "bottom-demo:nova" || hosts[0].AvailabilityZone != "nova" || !hosts[0].Up {
		t.Fatalf("Hosts = %+v; want one up pseudo-host bottom-demo:nova in zone nova", hosts)
	}
	if a := lim.Absolute; a.MaxTotalCores > 0 && (hosts[0].VCPUs != a.MaxTotalCores || hosts[0].RAMMB != a.MaxTotalRAMSize) {
		t.Errorf("pseudo-host capacity %d vCPUs / %d MB; want the limits %d / %d", hosts[0].VCPUs, hosts[0].RAMMB, a.MaxTotalCores, a.MaxTotalRAMSize)
	}
	zoned := newBackend(t, "demo", func(c *openstack.Config) { c.AvailabilityZone = "top-zone" })
	hosts, err = zoned.Inventory().Hosts(t.Context())
	if err != nil || len(hosts) != 1 || hosts[0].AvailabilityZone != "top-zone" || hosts[0].Labels["bottom_zone"] != "nova" {
		t.Errorf("Hosts with availability_zone top-zone = %+v, %v", hosts, err)
	}
}
