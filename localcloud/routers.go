package localcloud

import (
	"context"
	"net/netip"
	"slices"

	"github.com/canopy-cloud/canopy/proxies"
)

var (
	_ proxies.RouterDriver     = (*Pool)(nil)
	_ proxies.FloatingIPDriver = (*Pool)(nil)
)

// EnsureRouter realises a router (a namespace on a KVM host) or converges
// it to spec. Every interface must be on a network realised in the pool.
func (p *Pool) EnsureRouter(ctx context.Context, spec proxies.RouterSpec) (proxies.RouterStatus, error) {
	const op = "EnsureRouter"
	bad := func(format string, args ...any) (proxies.RouterStatus, error) {
		return proxies.RouterStatus{}, proxies.Errorf(proxies.ErrInvalid, op, format, args...)
	}
	if spec.ID == "" {
		return bad("the router needs an id")
	}
	for _, ip := range spec.ExternalIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return bad("router %s: external address %q is not an IP address", spec.ID, ip)
		}
	}
	if len(spec.ExternalIPs) > 0 && spec.ExternalNetworkID == "" {
		return bad("router %s: external addresses need an external network", spec.ID)
	}
	for _, itf := range spec.Interfaces {
		if itf.PortID == "" || itf.NetworkID == "" {
			return bad("router %s: an interface needs a port and a network", spec.ID)
		}
		if _, err := netip.ParseAddr(itf.IPAddress); err != nil {
			return bad("router %s: interface %s: address %q is not an IP address", spec.ID, itf.PortID, itf.IPAddress)
		}
		if !p.networks.has(itf.NetworkID) {
			return bad("router %s: network %s of interface %s is not realised in this cloud", spec.ID, itf.NetworkID, itf.PortID)
		}
	}
	for _, rt := range spec.Routes {
		if _, err := netip.ParsePrefix(rt.Destination); err != nil {
			return bad("router %s: route destination %q is not a CIDR", spec.ID, rt.Destination)
		}
		if _, err := netip.ParseAddr(rt.NextHop); err != nil {
			return bad("router %s: route nexthop %q is not an IP address", spec.ID, rt.NextHop)
		}
	}
	spec.ExternalIPs = slices.Clone(spec.ExternalIPs)
	spec.Interfaces = slices.Clone(spec.Interfaces)
	spec.Routes = slices.Clone(spec.Routes)
	p.netres.mu.Lock()
	p.netres.routers[spec.ID] = spec
	p.netres.mu.Unlock()
	return proxies.RouterStatus{ID: spec.ID, BottomID: "qrouter-" + spec.ID}, nil
}

// Router returns the realised spec of router id (for tests).
func (p *Pool) Router(id string) (proxies.RouterSpec, bool) {
	p.netres.mu.Lock()
	defer p.netres.mu.Unlock()
	r, ok := p.netres.routers[id]
	return r, ok
}

// DeleteRouter removes a router. Idempotent.
func (p *Pool) DeleteRouter(ctx context.Context, id string) error {
	p.netres.mu.Lock()
	delete(p.netres.routers, id)
	p.netres.mu.Unlock()
	return nil
}

// EnsureFloatingIP realises a floating IP with the address the registry
// allocated and associates it with spec.PortID, which must be a NIC of a
// server in the pool (of spec.ServerID when given); no PortID disassociates.
func (p *Pool) EnsureFloatingIP(ctx context.Context, spec proxies.FloatingIPSpec) (proxies.FloatingIPStatus, error) {
	const op = "EnsureFloatingIP"
	bad := func(format string, args ...any) (proxies.FloatingIPStatus, error) {
		return proxies.FloatingIPStatus{}, proxies.Errorf(proxies.ErrInvalid, op, format, args...)
	}
	if spec.ID == "" {
		return bad("the floating IP needs an id")
	}
	if spec.FloatingNetworkID == "" {
		return bad("floating IP %s needs a floating network", spec.ID)
	}
	if _, err := netip.ParseAddr(spec.Address); err != nil {
		return bad("floating IP %s: address %q is not an IP address", spec.ID, spec.Address)
	}
	if spec.PortID == "" {
		spec.ServerID, spec.FixedIP = "", ""
	} else {
		nic, serverID, err := p.findPort(ctx, op, spec.ServerID, spec.PortID)
		if err != nil {
			return proxies.FloatingIPStatus{}, err
		}
		if spec.FixedIP == "" && len(nic.FixedIPs) > 0 {
			spec.FixedIP = nic.FixedIPs[0]
		}
		if spec.FixedIP != "" && !slices.Contains(nic.FixedIPs, spec.FixedIP) {
			return bad("floating IP %s: port %s has no fixed address %s", spec.ID, spec.PortID, spec.FixedIP)
		}
		spec.ServerID = serverID
	}
	p.netres.mu.Lock()
	defer p.netres.mu.Unlock()
	for id, other := range p.netres.fips {
		if id == spec.ID {
			continue
		}
		if other.Address == spec.Address {
			return proxies.FloatingIPStatus{}, proxies.Errorf(proxies.ErrConflict, op, "address %s is held by floating IP %s", spec.Address, id)
		}
		if spec.PortID != "" && other.PortID == spec.PortID && other.FixedIP == spec.FixedIP {
			return proxies.FloatingIPStatus{}, proxies.Errorf(proxies.ErrConflict, op,
				"fixed address %s of port %s already has floating IP %s", spec.FixedIP, spec.PortID, id)
		}
	}
	p.netres.fips[spec.ID] = spec
	return proxies.FloatingIPStatus{ID: spec.ID, BottomID: "fip-" + spec.ID, PublicAddress: spec.Address, PortID: spec.PortID}, nil
}

// findPort finds the NIC of port portID on server serverID, or on any
// server of the pool when serverID is "".
func (p *Pool) findPort(ctx context.Context, op, serverID, portID string) (proxies.NIC, string, error) {
	ids := []string{serverID}
	if serverID == "" {
		ids = p.serverIDs()
	}
	for _, sid := range ids {
		nics, err := p.serverNICs(ctx, op, sid)
		if err != nil {
			if serverID != "" {
				return proxies.NIC{}, "", err
			}
			continue
		}
		if i := slices.IndexFunc(nics, func(n proxies.NIC) bool { return n.PortID == portID }); i >= 0 {
			return nics[i], sid, nil
		}
	}
	return proxies.NIC{}, "", proxies.Errorf(proxies.ErrNotFound, op, "port %s is not plugged into a server in this cloud", portID)
}

// FloatingIP returns the realised spec of floating IP id (for tests).
func (p *Pool) FloatingIP(id string) (proxies.FloatingIPSpec, bool) {
	p.netres.mu.Lock()
	defer p.netres.mu.Unlock()
	f, ok := p.netres.fips[id]
	return f, ok
}

// ReleaseFloatingIP disassociates and releases a floating IP. Idempotent.
func (p *Pool) ReleaseFloatingIP(ctx context.Context, id string) error {
	p.netres.mu.Lock()
	delete(p.netres.fips, id)
	p.netres.mu.Unlock()
	return nil
}
