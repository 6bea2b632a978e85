package azure

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/azure/armsim"
)

func routedNet() proxies.NetworkSpec {
	return proxies.NetworkSpec{ID: "net-r1", ProjectID: "p1", Name: "routed", Subnets: []proxies.SubnetSpec{
		{ID: "sub-a", CIDR: "10.90.0.0/24", IPVersion: 4}, {ID: "sub-b", CIDR: "10.90.1.0/24", IPVersion: 4}}}
}

func TestRouters(t *testing.T) {
	b, sim := newSimBackend(t, armsim.Options{}, nil)
	ctx := t.Context()
	net := routedNet()
	if _, err := b.Networks().EnsureNetwork(ctx, net); err != nil {
		t.Fatal(err)
	}
	spec := proxies.RouterSpec{ID: "rtr-1", ProjectID: "p1", Name: "r", ExternalNetworkID: "ext",
		Interfaces: []proxies.RouterInterface{{PortID: "port-a", NetworkID: net.ID, SubnetID: "sub-a", IPAddress: "10.90.0.1"}},
		Routes:     []proxies.Route{{Destination: "172.16.0.0/16", NextHop: "10.90.0.254"}}}
	st, err := b.EnsureRouter(ctx, spec)
	if err != nil {
		t.Fatalf("EnsureRouter: %v", err)
	}
	if got, want := sim.Routes(rtName("rtr-1")), []string{"0.0.0.0/0 Internet", "172.16.0.0/16 VirtualAppliance 10.90.0.254"}; !slices.Equal(got, want) {
		t.Errorf("routes = %q; want %q", got, want)
	}
	if a, bb := sim.SubnetRouteTable(subnetName("sub-a")), sim.SubnetRouteTable(subnetName("sub-b")); a != rtName("rtr-1") || bb != "" {
		t.Errorf("subnet route tables = %q, %q; want %s on sub-a only", a, bb, rtName("rtr-1"))
	}
	// Re-ensuring the network keeps the association.
	if _, err := b.Networks().EnsureNetwork(ctx, net); err != nil {
		t.Fatal(err)
	}
	if a := sim.SubnetRouteTable(subnetName("sub-a")); a != rtName("rtr-1") {
		t.Errorf("EnsureNetwork dropped sub-a's route table (%q)", a)
	}
	// Converge: the interface moves to sub-b, no gateway, no routes.
	moved := spec
	moved.ExternalNetworkID, moved.Routes = "", nil
	moved.Interfaces = []proxies.RouterInterface{{PortID: "port-b", NetworkID: net.ID, SubnetID: "sub-b", IPAddress: "10.90.1.1"}}
	again, err := b.EnsureRouter(ctx, moved)
	if err != nil || again.BottomID != st.BottomID {
		t.Fatalf("EnsureRouter(moved) = %+v, %v; want the same route table", again, err)
	}
	if a, bb := sim.SubnetRouteTable(subnetName("sub-a")), sim.SubnetRouteTable(subnetName("sub-b")); a != "" || bb != rtName("rtr-1") {
		t.Errorf("after the move subnet route tables = %q, %q; want sub-b only", a, bb)
	}
	if got := sim.Routes(rtName("rtr-1")); len(got) != 0 {
		t.Errorf("routes after converging to none = %q", got)
	}
	other := proxies.RouterSpec{ID: "rtr-2", ProjectID: "p1", Interfaces: moved.Interfaces}
	if _, err := b.EnsureRouter(ctx, other); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("a second router on sub-b = %v; want ErrConflict", err)
	}
	for name, bad := range map[string]proxies.RouterSpec{
		"bad next hop":    {ID: "rtr-3", ProjectID: "p1", Routes: []proxies.Route{{Destination: "172.16.0.0/16", NextHop: "gateway"}}},
		"mixed families":  {ID: "rtr-3", ProjectID: "p1", Routes: []proxies.Route{{Destination: "2001:db8::/32", NextHop: "10.90.0.9"}}},
		"unknown network": {ID: "rtr-3", ProjectID: "p1", Interfaces: []proxies.RouterInterface{{PortID: "x", NetworkID: "nope", SubnetID: "s"}}},
	} {
		if _, err := b.EnsureRouter(ctx, bad); !errors.Is(err, proxies.ErrInvalid) {
			t.Errorf("%s: EnsureRouter = %v; want ErrInvalid", name, err)
		}
	}
	for i := range 2 {
		if err := b.DeleteRouter(ctx, "rtr-1"); err != nil {
			t.Errorf("DeleteRouter #%d = %v; want nil", i+1, err)
		}
	}
	if bb := sim.SubnetRouteTable(subnetName("sub-b")); bb != "" || sim.Counts()["routeTables"] != 1 {
		t.Errorf("after delete: sub-b uses %q, %d route tables; want none and only rtr-2's (refused, empty)", bb, sim.Counts()["routeTables"])
	}
	if err := b.DeleteRouter(ctx, "rtr-2"); err != nil {
		t.Errorf("DeleteRouter(rtr-2) = %v", err)
	}
	if err := b.Networks().DeleteNetwork(ctx, net.ID); err != nil {
		t.Errorf("DeleteNetwork after the routers = %v", err)
	}
}

func TestRemoteGroupRules(t *testing.T) {
	b, sim := newSimBackend(t, armsim.Options{}, nil)
	ctx := t.Context()
	net := routedNet()
	if _, err := b.Networks().EnsureNetwork(ctx, net); err != nil {
		t.Fatal(err)
	}
	db := proxies.SecurityGroupSpec{ID: "sg-db", ProjectID: "p1", Rules: []proxies.SecurityGroupRule{
		{ID: "r1", Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortMin: 5432, PortMax: 5432, RemoteGroupID: "sg-app"},
		{ID: "r2", Direction: "egress", EtherType: "IPv4", RemoteGroupID: "sg-db"},
	}}
	if _, err := b.EnsureSecurityGroup(ctx, db); err != nil {
		t.Fatalf("EnsureSecurityGroup(db): %v", err)
	}
	in := sim.SecurityRule(sgName("sg-db"), "canopy-r1")
	if in == nil || len(in.Properties.SourceApplicationSecurityGroups) != 1 || in.Properties.SourceAddressPrefix != nil ||
		!endsWith(*in.Properties.SourceApplicationSecurityGroups[0].ID, asgName("sg-app")) {
		t.Fatalf("ingress rule = %+v; want source = the application security group of sg-app, no address prefix", in)
	}
	out := sim.SecurityRule(sgName("sg-db"), "canopy-r2")
	if out == nil || len(out.Properties.DestinationApplicationSecurityGroups) != 1 ||
		!endsWith(*out.Properties.DestinationApplicationSecurityGroups[0].ID, asgName("sg-db")) {
		t.Fatalf("egress rule = %+v; want destination = sg-db's own application security group", out)
	}
	app := proxies.SecurityGroupSpec{ID: "sg-app", ProjectID: "p1", Rules: []proxies.SecurityGroupRule{{ID: "r3", Direction: "egress", EtherType: "IPv4"}}}
	if _, err := b.EnsureSecurityGroup(ctx, app); err != nil {
		t.Fatalf("EnsureSecurityGroup(app): %v", err)
	}
	if n := sim.Counts()["applicationSecurityGroups"]; n != 2 {
		t.Errorf("%d application security groups; want 2 (one per group, none twice)", n)
	}
	srv := serverSpec("7d1e0c1e-0000-4000-8000-00000000b001")
	srv.NICs = []proxies.NIC{{PortID: "port-app", NetworkID: net.ID, FixedIPs: []string{"10.90.0.10"}, SecurityGroupIDs: []string{"sg-app"}}}
	if _, err := b.Servers().CreateServer(ctx, srv); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	if got := sim.NICApplicationSecurityGroups(nicName("port-app")); !slices.Equal(got, []string{asgName("sg-app")}) {
		t.Errorf("NIC joins %q; want [%s]", got, asgName("sg-app"))
	}
	if err := b.SetNICSecurityGroups(ctx, srv.ID, "port-app", []string{"sg-app", "sg-db"}); err != nil {
		t.Fatalf("SetNICSecurityGroups: %v", err)
	}
	if got := sim.NICApplicationSecurityGroups(nicName("port-app")); !slices.Equal(got, []string{asgName("sg-app"), asgName("sg-db")}) {
		t.Errorf("NIC joins %q; want both groups' application security groups", got)
	}
	if err := b.SetNICSecurityGroups(ctx, srv.ID, "port-app", []string{"sg-db"}); err != nil {
		t.Fatalf("SetNICSecurityGroups(db): %v", err)
	}
	// sg-app's ASG is still named by sg-db's rule: Azure refuses to delete it.
	if err := b.DeleteSecurityGroup(ctx, "sg-app"); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("DeleteSecurityGroup(app) while sg-db's rule names it = %v; want ErrConflict", err)
	}
}

func endsWith(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

func TestReservedAddresses(t *testing.T) {
	b, _ := newSimBackend(t, armsim.Options{}, nil)
	ctx := t.Context()
	net := routedNet()
	if _, err := b.Networks().EnsureNetwork(ctx, net); err != nil {
		t.Fatal(err)
	}
	for i, ip := range []string{"10.90.0.0", "10.90.0.1", "10.90.0.3", "10.90.0.255"} {
		srv := serverSpec("8e2f0c1e-0000-4000-8000-00000000c00" + string(rune('0'+i)))
		srv.NICs = []proxies.NIC{{PortID: "port-r" + ip, NetworkID: net.ID, FixedIPs: []string{ip}}}
		if _, err := b.Servers().CreateServer(ctx, srv); !errors.Is(err, proxies.ErrInvalid) {
			t.Errorf("CreateServer with fixed IP %s = %v; want ErrInvalid (Azure reserves it)", ip, err)
		}
	}
	for ip, want := range map[string]bool{"10.90.1.4": false, "10.90.1.2": true, "10.90.1.255": true, "10.90.1.254": false} {
		if got := azureReserved(netip.MustParsePrefix("10.90.1.0/24"), netip.MustParseAddr(ip)); got != want {
			t.Errorf("azureReserved(%s) = %v; want %v", ip, got, want)
		}
	}
}
