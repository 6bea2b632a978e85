package network

import (
	"context"
	"errors"
	"net/netip"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/redis/go-redis/v9"
)

// Which floating IP points at which fixed address of a port is claimed in a
// hash next to the port (in the port's project slot): field
// "<external network>/<fixed ip>" → floating IP id, taken with HSETNX. So
// two floating IPs of one external network can never both hold the same
// (port, fixed address), Neutron's FloatingIPPortAlreadyAssociated, and a
// port delete finds its floating IPs without a scan.
//
// Associating claims first, then writes the floating IP, then re-reads the
// port; deleting a port deletes its record first, then clears every claimed
// floating IP. Whichever runs second sees the other, so no floating IP is
// left pointing at a deleted port.

func fipClaimsKey(portProject, portID string) string {
	return registry.Key(portProject, "port", portID, "fips")
}

func claimField(networkID, fixedIP string) string { return networkID + "/" + fixedIP }

// releaseClaimScript deletes a claim only if fip still holds it.
var releaseClaimScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`)

// claim takes (port, fixed address) on f's external network for f.
func (s *Service) claim(ctx context.Context, f *floatingIP, a association) error {
	key, field := fipClaimsKey(a.PortProject, a.PortID), claimField(f.NetworkID, a.FixedIP)
	rdb := s.reg.Client()
	ok, err := rdb.HSetNX(ctx, key, field, f.ID).Result()
	if err != nil || ok {
		return err
	}
	holder, err := rdb.HGet(ctx, key, field).Result()
	if errors.Is(err, redis.Nil) {
		return s.claim(ctx, f, a) // released in between: try again
	}
	if err != nil || holder == f.ID {
		return err
	}
	return conflict("FloatingIPPortAlreadyAssociated", "Cannot associate floating IP %s (%s) with port %s using fixed IP %s, as that fixed IP already has a floating IP on external network %s.",
		f.Address, f.ID, a.PortID, a.FixedIP, f.NetworkID)
}

// unclaim gives back a claim f holds. It runs on cleanup paths, so it
// ignores cancellation.
func (s *Service) unclaim(ctx context.Context, f *floatingIP, a association) {
	if a.PortID == "" {
		return
	}
	releaseClaimScript.Run(context.WithoutCancel(ctx), s.reg.Client(),
		[]string{fipClaimsKey(a.PortProject, a.PortID)}, claimField(f.NetworkID, a.FixedIP), f.ID)
}

func badFloatingIP(format string, args ...any) *wire.Error {
	return wire.BadRequest("Bad floatingip request: "+format+".", args...).WithType("BadRequest")
}

// resolveAssociation is Neutron's _internal_fip_assoc_data and
// get_router_for_floatingip: the port's fixed IPv4 address to use and the
// router that connects its subnet to f's external network.
func (s *Service) resolveAssociation(ctx context.Context, p *wire.Principal, f *floatingIP, portID, fixedIP string) (association, error) {
	pt, err := s.port(ctx, p, portID)
	if err != nil {
		return association{}, err
	}
	if pt.ProjectID != f.ProjectID {
		return association{}, badFloatingIP("Cannot process floating IP association with Port %s, since that port is owned by a different tenant", portID)
	}
	if pt.DeviceOwner == "network:dhcp" || pt.DeviceOwner == ownerFloatingIP || pt.DeviceOwner == ownerRouterGateway {
		return association{}, badFloatingIP("Port %%(id)s is unable to be assigned a floating IP")
	}
	var chosen *registry.FixedIP
	if fixedIP != "" {
		ip, _ := netip.ParseAddr(fixedIP)
		if !ip.Is4() {
			return association{}, badFloatingIP("Cannot process floating IP association with %s, since that is not an IPv4 address", fixedIP)
		}
		for i, f := range pt.FixedIPs {
			if f.IPAddress == ip.String() {
				chosen = &pt.FixedIPs[i]
			}
		}
		if chosen == nil {
			return association{}, badFloatingIP("Port %s does not have fixed ip %s", pt.ID, fixedIP)
		}
	} else {
		var v4 []registry.FixedIP
		for _, f := range pt.FixedIPs {
			if ip, err := netip.ParseAddr(f.IPAddress); err == nil && ip.Is4() {
				v4 = append(v4, f)
			}
		}
		switch len(v4) {
		case 0:
			return association{}, badFloatingIP("Cannot add floating IP to port %s that has no fixed IPv4 addresses", pt.ID)
		case 1:
			chosen = &v4[0]
		default:
			return association{}, badFloatingIP("Port %s has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP", pt.ID)
		}
	}
	routerID, err := s.routerForFloatingIP(ctx, pt, chosen.SubnetID, f.NetworkID)
	if err != nil {
		return association{}, err
	}
	if err := s.checkFloatingIPPort(ctx, pt); err != nil {
		return association{}, err
	}
	return association{PortID: pt.ID, PortProject: pt.ProjectID, FixedIP: chosen.IPAddress, RouterID: routerID}, nil
}

// routerForFloatingIP finds a router with an interface on subnetID (of
// pt's network) and its gateway on externalID, preferring the one that
// holds the subnet's gateway address, as Neutron does.
func (s *Service) routerForFloatingIP(ctx context.Context, pt *registry.Port, subnetID, externalID string) (string, error) {
	notReachable := wire.NotFound("External network %s is not reachable from subnet %s.  Therefore, cannot associate Port %s with a Floating IP.",
		externalID, subnetID, pt.ID).WithType("ExternalGatewayForFloatingIPNotFound")
	n, err := s.networks.Lookup(ctx, pt.NetworkID)
	if errors.Is(err, registry.ErrNotFound) {
		return "", notReachable
	}
	if err != nil {
		return "", err
	}
	ports, err := s.networkPorts(ctx, n.Value)
	if err != nil {
		return "", err
	}
	ifaceIP := map[string]string{} // router id → its address on the subnet
	var ids []string
	for _, o := range ports {
		if o.DeviceOwner != ownerRouterInterface || o.DeviceID == "" {
			continue
		}
		for _, f := range o.FixedIPs {
			if f.SubnetID == subnetID {
				if _, seen := ifaceIP[o.DeviceID]; !seen {
					ids = append(ids, o.DeviceID)
				}
				ifaceIP[o.DeviceID] = f.IPAddress
			}
		}
	}
	routers, err := s.routers.GetMany(ctx, "*", ids)
	if err != nil {
		return "", err
	}
	sub, err := s.subnets.Lookup(ctx, subnetID)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return "", err
	}
	first := ""
	for _, rt := range routers {
		if rt.Deleting || rt.Gateway == nil || rt.Gateway.NetworkID != externalID {
			continue
		}
		if sub.Value != nil && sub.Value.GatewayIP != nil && *sub.Value.GatewayIP == ifaceIP[rt.ID] {
			return rt.ID, nil
		}
		if first == "" {
			first = rt.ID
		}
	}
	if first == "" {
		return "", notReachable
	}
	return first, nil
}

// associate points f at next (the zero association: at nothing). The new
// claim is taken before the record changes and the old one given back
// after, so a failure leaves f as it was. It returns the stored record.
func (s *Service) associate(ctx context.Context, f *floatingIP, next association, desc *string) (*floatingIP, error) {
	if next.PortID != "" {
		if err := s.claim(ctx, f, next); err != nil {
			return nil, err
		}
	}
	var prev association
	out, err := s.fips.Update(ctx, f.ProjectID, f.ID, func(cur *floatingIP) error {
		prev = cur.association()
		cur.setAssociation(next)
		if desc != nil {
			cur.Description = *desc
		}
		cur.Revision++
		cur.Updated = s.now()
		return nil
	})
	if err != nil {
		if !sameClaim(next, f.association()) {
			s.unclaim(ctx, f, next)
		}
		if errors.Is(err, registry.ErrNotFound) {
			return nil, floatingIPNotFound(f.ID)
		}
		return nil, err
	}
	if prev.PortID != "" && !sameClaim(prev, next) {
		s.unclaim(ctx, f, prev)
	}
	if next.PortID != "" {
		// A port deleted while we associated: its delete may have run
		// before our write, so undo what it could not see.
		if _, err := s.ports.Get(ctx, next.PortProject, next.PortID); errors.Is(err, registry.ErrNotFound) {
			if out, err = s.associate(ctx, out, association{}, nil); err != nil {
				return nil, err
			}
			return out, nil // the nested call told the realiser
		}
	}
	s.floatingIPChanged(ctx, out.ProjectID, out.ID)
	return out, nil
}

// disassociatePort clears every floating IP that points at pt (a port
// being deleted), as Neutron's port delete does.
func (s *Service) disassociatePort(ctx context.Context, pt *registry.Port) error {
	key := fipClaimsKey(pt.ProjectID, pt.ID)
	held, err := s.reg.Client().HGetAll(ctx, key).Result()
	if err != nil {
		return err
	}
	for _, fipID := range held {
		v, err := s.fips.Lookup(ctx, fipID)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if v.Value.PortID != pt.ID {
			continue
		}
		if _, err := s.associate(ctx, v.Value, association{}, nil); err != nil && !isNotFound(err) {
			return err
		}
	}
	return s.reg.Client().Del(ctx, key).Err()
}

func isNotFound(err error) bool {
	var e *wire.Error
	return errors.Is(err, registry.ErrNotFound) || errors.As(err, &e) && e.Status == 404
}

// sameClaim reports whether two associations hold the same claim.
func sameClaim(a, b association) bool {
	return a.PortID == b.PortID && a.PortProject == b.PortProject && a.FixedIP == b.FixedIP
}

// routerFloatingIPs returns the floating IPs that go through router rt
// (those of its project: Neutron's own and the only ones a member makes).
func (s *Service) routerFloatingIPs(ctx context.Context, rt *router) ([]*floatingIP, error) {
	all, err := s.fips.List(ctx, rt.ProjectID, registry.Page{})
	if err != nil {
		return nil, err
	}
	var out []*floatingIP
	for _, f := range all {
		if f.RouterID == rt.ID && f.PortID != "" {
			out = append(out, f)
		}
	}
	return out, nil
}

// checkInterfaceFreeOfFloatingIPs is Neutron's RouterInterfaceInUseByFloatingIP:
// an interface cannot go while a floating IP reaches a fixed address of its
// subnet through the router.
func (s *Service) checkInterfaceFreeOfFloatingIPs(ctx context.Context, rt *router, subnetID string) error {
	sub, err := s.subnets.Lookup(ctx, subnetID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	pfx, err := netip.ParsePrefix(sub.Value.CIDR)
	if err != nil {
		return err
	}
	fips, err := s.routerFloatingIPs(ctx, rt)
	if err != nil {
		return err
	}
	for _, f := range fips {
		if ip, err := netip.ParseAddr(f.FixedIP); err == nil && pfx.Contains(ip) {
			return conflict("RouterInterfaceInUseByFloatingIP", "Router interface for subnet %s on router %s cannot be deleted, as it is required by one or more floating IPs.", subnetID, rt.ID)
		}
	}
	return nil
}

// checkGatewayFreeOfFloatingIPs is Neutron's RouterExternalGatewayInUseByFloatingIp:
// a gateway cannot go (or move) while floating IPs use the router.
func (s *Service) checkGatewayFreeOfFloatingIPs(ctx context.Context, rt *router) error {
	if rt.Gateway == nil {
		return nil
	}
	fips, err := s.routerFloatingIPs(ctx, rt)
	if err != nil {
		return err
	}
	if len(fips) > 0 {
		return conflict("RouterExternalGatewayInUseByFloatingIp", "Gateway cannot be updated for router %s, since a gateway to external network %s is required by one or more floating IPs.", rt.ID, rt.Gateway.NetworkID)
	}
	return nil
}
