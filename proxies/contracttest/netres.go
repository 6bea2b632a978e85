package contracttest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

// The network-resource groups: security groups, routers and floating IPs.
// Each runs its checks when the backend declares the capability, and
// otherwise checks that the *Of accessor refuses the backend. They use only
// documentation and private addresses, and accept whatever public address a
// cloud assigns to a floating IP itself.

// wantInvalid fails unless call returns an error matching ErrInvalid.
func wantInvalid(t *testing.T, what string, call func() error) {
	t.Helper()
	if err := call(); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("%s = %v; want ErrInvalid", what, err)
	}
}

// netSpec is a network of one /24 subnet, 10.<octet>.0.0/24.
func netSpec(octet int) proxies.NetworkSpec {
	cidr := fmt.Sprintf("10.%d.0.0/24", octet)
	return proxies.NetworkSpec{ID: newID(), ProjectID: "contract", Name: "contract-net-" + fmt.Sprint(octet), MTU: 1450,
		Subnets: []proxies.SubnetSpec{{ID: newID(), CIDR: cidr, GatewayIP: fmt.Sprintf("10.%d.0.1", octet), IPVersion: 4,
			EnableDHCP: true, DNSNameservers: []string{"192.0.2.53"}}}}
}

// ensureNetwork realises spec and deletes it when the test ends.
func ensureNetwork(t *testing.T, b proxies.Backend, spec proxies.NetworkSpec) proxies.NetworkStatus {
	t.Helper()
	st, err := b.Networks().EnsureNetwork(t.Context(), spec)
	if err != nil {
		t.Fatalf("EnsureNetwork(%s): %v", spec.Name, err)
	}
	t.Cleanup(func() { _ = b.Networks().DeleteNetwork(context.WithoutCancel(t.Context()), spec.ID) })
	return st
}

// bootOnNetwork creates a server with one NIC on net (fixed address .10 of
// its first subnet, groups as given) and waits until it is active.
func (s *suite) bootOnNetwork(t *testing.T, b proxies.Backend, net proxies.NetworkSpec, groups []string) (proxies.ServerSpec, proxies.NIC) {
	t.Helper()
	s.importImage(t, b)
	spec := s.serverSpec()
	pfx := net.Subnets[0].CIDR
	nic := proxies.NIC{PortID: newID(), NetworkID: net.ID, MACAddress: "fa:16:3e:00:00:10",
		FixedIPs: []string{pfx[:len(pfx)-len("0/24")] + "10"}, SecurityGroupIDs: groups}
	spec.NICs = []proxies.NIC{nic}
	if _, err := b.Servers().CreateServer(t.Context(), spec); err != nil {
		t.Fatalf("CreateServer with a NIC on %s (groups %v): %v", net.Name, groups, err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		_ = b.Servers().DeleteServer(ctx, spec.ID)
		s.waitGoneQuietly(ctx, b, spec.ID)
	})
	s.wantSettled(t, b, spec.ID, proxies.StateActive, proxies.PowerRunning)
	return spec, nic
}

// waitGoneQuietly waits (bounded) for a deleted server to disappear, for
// cleanups that then delete what it used.
func (s *suite) waitGoneQuietly(ctx context.Context, b proxies.Backend, id string) {
	ctx, cancel := context.WithTimeout(ctx, s.h.Timeout)
	defer cancel()
	for ctx.Err() == nil {
		if s.h.Settle != nil {
			s.h.Settle(ctx, b, id)
		}
		if _, err := b.Servers().GetServer(ctx, id); err != nil {
			return // gone, or a failure the servers group reports
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// networkResources extends the networks group: the new spec fields are
// accepted and invalid specs refused.
func (s *suite) networkResources(t *testing.T) {
	b := s.h.New(t)
	if !b.Capabilities().Networks {
		return
	}
	d, ctx := b.Networks(), t.Context()
	ext := netSpec(79)
	ext.External = true
	first := ensureNetwork(t, b, ext)
	if again, err := d.EnsureNetwork(ctx, ext); err != nil || again.BottomID != first.BottomID {
		t.Errorf("EnsureNetwork(external) retried = %+v, %v; want the same network %+v", again, err, first)
	}
	wantInvalid(t, "EnsureNetwork with no id", func() error {
		_, err := d.EnsureNetwork(ctx, proxies.NetworkSpec{Name: "contract-noid"})
		return err
	})
	wantInvalid(t, "EnsureNetwork with a bad cidr", func() error {
		bad := netSpec(80)
		bad.Subnets[0].CIDR = "10.80.0.0/33"
		_, err := d.EnsureNetwork(ctx, bad)
		return err
	})
}

// groupSpec is a group that allows ssh and ping in, everything out.
func groupSpec() proxies.SecurityGroupSpec {
	return proxies.SecurityGroupSpec{ID: newID(), ProjectID: "contract", Name: "contract-sg", Description: "contract suite",
		Rules: []proxies.SecurityGroupRule{
			{ID: newID(), Direction: "egress", EtherType: "IPv4"},
			{ID: newID(), Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortMin: 22, PortMax: 22, RemoteIPPrefix: "192.0.2.0/24"},
			{ID: newID(), Direction: "ingress", EtherType: "IPv4", Protocol: "icmp", PortMin: -1, PortMax: -1},
		}}
}

// securityGroups: create, converge, bind to a NIC, delete (idempotent), or
// no driver when undeclared.
func (s *suite) securityGroups(t *testing.T) {
	b := s.h.New(t)
	d, ok := proxies.SecurityGroupsOf(b)
	if !b.Capabilities().SecurityGroups {
		if ok {
			t.Error("SecurityGroupsOf reports a driver for a backend that does not declare security_groups")
		}
		return
	}
	if !ok {
		t.Fatal("the backend declares security_groups but SecurityGroupsOf finds no SecurityGroupDriver")
	}
	ctx := t.Context()
	spec := groupSpec()
	var first proxies.SecurityGroupStatus
	t.Run("create_and_converge", func(t *testing.T) {
		var err error
		first, err = d.EnsureSecurityGroup(ctx, spec)
		if err != nil {
			t.Fatalf("EnsureSecurityGroup: %v", err)
		}
		if first.ID != spec.ID || first.BottomID == "" {
			t.Errorf("EnsureSecurityGroup = %+v; want id %s and a bottom id", first, spec.ID)
		}
		fewer := spec
		fewer.Rules = spec.Rules[:2]
		if st, err := d.EnsureSecurityGroup(ctx, fewer); err != nil || st.BottomID != first.BottomID {
			t.Errorf("EnsureSecurityGroup with a rule removed = %+v, %v; want the same group %s", st, err, first.BottomID)
		}
		more := spec
		more.Rules = append(spec.Rules[:2:2], proxies.SecurityGroupRule{ID: newID(), Direction: "ingress", EtherType: "IPv4",
			Protocol: "udp", PortMin: 53, PortMax: 53, RemoteIPPrefix: "198.51.100.0/24"})
		if st, err := d.EnsureSecurityGroup(ctx, more); err != nil || st.BottomID != first.BottomID {
			t.Errorf("EnsureSecurityGroup with a rule added = %+v, %v; want the same group %s", st, err, first.BottomID)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		noID := groupSpec()
		noID.ID = ""
		wantInvalid(t, "EnsureSecurityGroup with no id", func() error { _, err := d.EnsureSecurityGroup(ctx, noID); return err })
		dir := groupSpec()
		dir.Rules[1].Direction = "sideways"
		wantInvalid(t, "EnsureSecurityGroup with direction sideways", func() error { _, err := d.EnsureSecurityGroup(ctx, dir); return err })
		pfx := groupSpec()
		pfx.Rules[1].RemoteIPPrefix = "192.0.2.0/99"
		wantInvalid(t, "EnsureSecurityGroup with a bad remote prefix", func() error { _, err := d.EnsureSecurityGroup(ctx, pfx); return err })
	})
	if b.Capabilities().Servers && b.Capabilities().Networks {
		t.Run("nic", func(t *testing.T) {
			net := netSpec(81)
			ensureNetwork(t, b, net)
			g := groupSpec()
			g.NetworkIDs = []string{net.ID}
			if _, err := d.EnsureSecurityGroup(ctx, g); err != nil {
				t.Fatalf("EnsureSecurityGroup: %v", err)
			}
			srv, nic := s.bootOnNetwork(t, b, net, []string{g.ID})
			t.Cleanup(func() { _ = d.DeleteSecurityGroup(context.WithoutCancel(ctx), g.ID) })
			other := groupSpec()
			other.NetworkIDs = []string{net.ID}
			if _, err := d.EnsureSecurityGroup(ctx, other); err != nil {
				t.Fatalf("EnsureSecurityGroup(second): %v", err)
			}
			t.Cleanup(func() { _ = d.DeleteSecurityGroup(context.WithoutCancel(ctx), other.ID) })
			for i := range 2 {
				if err := d.SetNICSecurityGroups(ctx, srv.ID, nic.PortID, []string{g.ID, other.ID}); err != nil {
					t.Fatalf("SetNICSecurityGroups #%d: %v; want nil (idempotent)", i+1, err)
				}
			}
			if err := d.DeleteSecurityGroup(ctx, other.ID); !errors.Is(err, proxies.ErrConflict) {
				t.Errorf("DeleteSecurityGroup of a group a NIC uses = %v; want ErrConflict", err)
			}
			if err := d.SetNICSecurityGroups(ctx, srv.ID, nic.PortID, []string{g.ID}); err != nil {
				t.Fatalf("SetNICSecurityGroups back to one group: %v", err)
			}
			if err := d.DeleteSecurityGroup(ctx, other.ID); err != nil {
				t.Errorf("DeleteSecurityGroup of a group no NIC uses any more = %v; want nil", err)
			}
		})
	}
	t.Run("delete_is_idempotent", func(t *testing.T) {
		for i := range 2 {
			if err := d.DeleteSecurityGroup(ctx, spec.ID); err != nil {
				t.Errorf("DeleteSecurityGroup #%d = %v; want nil (idempotent)", i+1, err)
			}
		}
	})
}

// routers: an interface on an ensured network, converge to none, delete
// twice, invalid specs; or no driver when undeclared.
func (s *suite) routers(t *testing.T) {
	b := s.h.New(t)
	d, ok := proxies.RoutersOf(b)
	if !b.Capabilities().Routers {
		if ok {
			t.Error("RoutersOf reports a driver for a backend that does not declare routers")
		}
		return
	}
	if !ok {
		t.Fatal("the backend declares routers but RoutersOf finds no RouterDriver")
	}
	ctx := t.Context()
	net := netSpec(82)
	ensureNetwork(t, b, net)
	spec := proxies.RouterSpec{ID: newID(), ProjectID: "contract", Name: "contract-router",
		Interfaces: []proxies.RouterInterface{{PortID: newID(), NetworkID: net.ID, SubnetID: net.Subnets[0].ID, IPAddress: "10.82.0.1"}}}
	first, err := d.EnsureRouter(ctx, spec)
	if err != nil {
		t.Fatalf("EnsureRouter with an interface on %s: %v", net.Name, err)
	}
	if first.ID != spec.ID || first.BottomID == "" {
		t.Errorf("EnsureRouter = %+v; want id %s and a bottom id", first, spec.ID)
	}
	bare := spec
	bare.Interfaces = nil
	if st, err := d.EnsureRouter(ctx, bare); err != nil || st.BottomID != first.BottomID {
		t.Errorf("EnsureRouter converged to no interfaces = %+v, %v; want the same router %s", st, err, first.BottomID)
	}
	noID := spec
	noID.ID = ""
	wantInvalid(t, "EnsureRouter with no id", func() error { _, err := d.EnsureRouter(ctx, noID); return err })
	badRoute := bare
	badRoute.Routes = []proxies.Route{{Destination: "10.183.0.0/40", NextHop: "10.82.0.254"}}
	wantInvalid(t, "EnsureRouter with a bad route destination", func() error { _, err := d.EnsureRouter(ctx, badRoute); return err })
	for i := range 2 {
		if err := d.DeleteRouter(ctx, spec.ID); err != nil {
			t.Errorf("DeleteRouter #%d = %v; want nil (idempotent)", i+1, err)
		}
	}
}

// floatingIPs: associate with a server's port, disassociate, release twice,
// invalid specs; or no driver when undeclared.
func (s *suite) floatingIPs(t *testing.T) {
	b := s.h.New(t)
	d, ok := proxies.FloatingIPsOf(b)
	if !b.Capabilities().FloatingIPs {
		if ok {
			t.Error("FloatingIPsOf reports a driver for a backend that does not declare floating_ips")
		}
		return
	}
	if !ok {
		t.Fatal("the backend declares floating_ips but FloatingIPsOf finds no FloatingIPDriver")
	}
	ctx := t.Context()
	ext := netSpec(83)
	ext.External = true
	ensureNetwork(t, b, ext)
	spec := proxies.FloatingIPSpec{ID: newID(), ProjectID: "contract", FloatingNetworkID: ext.ID, Address: "10.83.0.50"}
	noID := spec
	noID.ID = ""
	wantInvalid(t, "EnsureFloatingIP with no id", func() error { _, err := d.EnsureFloatingIP(ctx, noID); return err })
	if b.Capabilities().Servers && b.Capabilities().Networks {
		net := netSpec(84)
		ensureNetwork(t, b, net)
		var groups []string
		if sg, ok := proxies.SecurityGroupsOf(b); ok {
			g := groupSpec()
			g.NetworkIDs = []string{net.ID}
			if _, err := sg.EnsureSecurityGroup(ctx, g); err != nil {
				t.Fatalf("EnsureSecurityGroup: %v", err)
			}
			t.Cleanup(func() { _ = sg.DeleteSecurityGroup(context.WithoutCancel(ctx), g.ID) })
			groups = []string{g.ID}
		}
		if rd, ok := proxies.RoutersOf(b); ok {
			// Clouds route floating IPs through the network's router.
			rt := proxies.RouterSpec{ID: newID(), ProjectID: "contract", Name: "contract-fip-router", ExternalNetworkID: ext.ID, SNAT: true,
				Interfaces: []proxies.RouterInterface{{PortID: newID(), NetworkID: net.ID, SubnetID: net.Subnets[0].ID, IPAddress: "10.84.0.1"}}}
			if _, err := rd.EnsureRouter(ctx, rt); err != nil {
				t.Fatalf("EnsureRouter: %v", err)
			}
			t.Cleanup(func() { _ = rd.DeleteRouter(context.WithoutCancel(ctx), rt.ID) })
		}
		srv, nic := s.bootOnNetwork(t, b, net, groups)
		assoc := spec
		assoc.PortID, assoc.ServerID, assoc.FixedIP = nic.PortID, srv.ID, nic.FixedIPs[0]
		first, err := d.EnsureFloatingIP(ctx, assoc)
		if err != nil {
			t.Fatalf("EnsureFloatingIP on the port of server %s: %v", srv.ID, err)
		}
		t.Cleanup(func() { _ = d.ReleaseFloatingIP(context.WithoutCancel(ctx), spec.ID) })
		if first.ID != spec.ID || first.BottomID == "" || first.PublicAddress == "" || first.PortID != nic.PortID {
			t.Errorf("EnsureFloatingIP = %+v; want id %s, a bottom id, a public address and port %s", first, spec.ID, nic.PortID)
		}
		again, err := d.EnsureFloatingIP(ctx, assoc)
		if err != nil || again.BottomID != first.BottomID || again.PublicAddress != first.PublicAddress {
			t.Errorf("EnsureFloatingIP retried = %+v, %v; want the same %+v", again, err, first)
		}
		free, err := d.EnsureFloatingIP(ctx, spec)
		if err != nil || free.PortID != "" || free.BottomID != first.BottomID {
			t.Errorf("EnsureFloatingIP with no port = %+v, %v; want %s disassociated", free, err, first.BottomID)
		}
		stray := spec
		stray.PortID = newID()
		if _, err := d.EnsureFloatingIP(ctx, stray); err == nil {
			t.Error("EnsureFloatingIP on a port no server has = nil; want an error")
		}
	}
	for i := range 2 {
		if err := d.ReleaseFloatingIP(ctx, spec.ID); err != nil {
			t.Errorf("ReleaseFloatingIP #%d = %v; want nil (idempotent)", i+1, err)
		}
	}
}
