package network

import (
	"context"
	"errors"
	"net/netip"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// IPv6 automatic addresses. On a subnet whose ipv6_address_mode (or, when
// that is unset, ipv6_ra_mode) is slaac or dhcpv6-stateless, a port's
// address is not allocated from the pools: the host forms it from the
// router advertisement's prefix and its own MAC (modified EUI-64), so
// Neutron records exactly that address. Every such subnet of a network gives
// every port one address, whatever fixed_ips asked for, except router
// interfaces, which hold the gateway address like on any other subnet
// (Neutron's ipam_pluggable_backend._get_auto_address_ips).

// routerInterfaceOwners are Neutron's ROUTER_INTERFACE_OWNERS_SNAT: ports
// that may hold any address of an automatic subnet and get no EUI-64 one.
var routerInterfaceOwners = []string{ownerRouterInterface, "network:ha_router_replicated_interface",
	"network:router_interface_distributed", "network:router_centralized_snat"}

// addressee is who an address is for: the port's MAC (for EUI-64) and its
// device_owner (router interfaces are exempt from automatic addresses).
type addressee struct {
	mac, owner string
}

func (a addressee) routerInterface() bool { return slices.Contains(routerInterfaceOwners, a.owner) }

// autoAddress reports whether sub's addresses derive from MACs (Neutron's
// ipv6_utils.is_auto_address_subnet).
func autoAddress(sub *registry.Subnet) bool {
	auto := func(m *string) bool { return m != nil && (*m == "slaac" || *m == "dhcpv6-stateless") }
	return sub.IPVersion == 6 && (auto(sub.IPv6AddressMode) || auto(sub.IPv6RAMode))
}

// autoAddressOnly refuses an explicit address on an automatic subnet
// (ipam AllocationOnAutoAddressSubnet, a 400), unless who is a router
// interface.
func autoAddressOnly(sub *registry.Subnet, ip netip.Addr, who addressee) error {
	if !ip.IsValid() || !autoAddress(sub) || who.routerInterface() {
		return nil
	}
	return wire.BadRequest("IPv6 address %s cannot be directly assigned to a port on subnet %s as the subnet is configured for automatic addresses", ip, sub.ID).
		WithType("AllocationOnAutoAddressSubnet")
}

// assignAutoAddresses gives port portID its EUI-64 address on every
// automatic subnet of subs it holds no address on yet (held), and returns
// what it took. A router interface gets none.
func (s *Service) assignAutoAddresses(ctx context.Context, subs []*registry.Subnet, portID string, who addressee, held []registry.FixedIP) ([]registry.FixedIP, error) {
	if who.routerInterface() {
		return nil, nil
	}
	var taken []registry.FixedIP
	for _, sub := range subs {
		if !autoAddress(sub) || slices.ContainsFunc(held, func(f registry.FixedIP) bool { return f.SubnetID == sub.ID }) {
			continue
		}
		f, err := s.takeEUI64(ctx, sub, portID, who.mac)
		if err != nil {
			s.releaseIPs(ctx, portID, taken)
			return nil, err
		}
		taken = append(taken, f)
	}
	return taken, nil
}

// takeEUI64 records the EUI-64 address of mac on sub for portID in the
// subnet's allocator, so in-use checks and duplicate detection see it.
func (s *Service) takeEUI64(ctx context.Context, sub *registry.Subnet, portID, mac string) (registry.FixedIP, error) {
	pfx, err := netip.ParsePrefix(sub.CIDR)
	if err != nil {
		return registry.FixedIP{}, err
	}
	ip, err := registry.EUI64Address(pfx, mac)
	if err != nil {
		return registry.FixedIP{}, invalidInput("Unable to generate an EUI-64 address on subnet %s from MAC %s.", sub.ID, mac)
	}
	ips, err := s.allocator(sub)
	if err != nil {
		return registry.FixedIP{}, err
	}
	if err := ips.Reserve(ctx, ip, portID); errors.Is(err, registry.ErrIPInUse) {
		return registry.FixedIP{}, conflict("IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", ip, sub.ID)
	} else if err != nil {
		return registry.FixedIP{}, err
	}
	if err := s.keepAllocation(ctx, sub, ips, ip, portID); err != nil {
		return registry.FixedIP{}, err
	}
	return registry.FixedIP{SubnetID: sub.ID, IPAddress: ip.String()}, nil
}

// readdressForMAC recomputes a port's automatic addresses after its MAC
// changed to mac (Neutron re-derives them on update): the new ones are
// taken, and the old ones are returned for release once the update is
// stored.
func (s *Service) readdressForMAC(ctx context.Context, subs []*registry.Subnet, portID, mac string, fixed []registry.FixedIP) (next, added, old []registry.FixedIP, err error) {
	byID := map[string]*registry.Subnet{}
	for _, sub := range subs {
		byID[sub.ID] = sub
	}
	for _, f := range fixed {
		sub := byID[f.SubnetID]
		if sub == nil || !autoAddress(sub) {
			next = append(next, f)
			continue
		}
		nf, err := s.takeEUI64(ctx, sub, portID, mac)
		if err != nil {
			s.releaseIPs(ctx, portID, added)
			return nil, nil, nil, err
		}
		next, added, old = append(next, nf), append(added, nf), append(old, f)
	}
	return next, added, old, nil
}

// addressNetworkPorts gives every port already on n (router interfaces
// aside) its EUI-64 address on sub, a new automatic subnet (Neutron's
// _add_auto_addrs_on_network_ports). A port deleted meanwhile gives its
// address back. A port created concurrently with the subnet may miss it, as
// it read the network's subnets before the link.
func (s *Service) addressNetworkPorts(ctx context.Context, n *registry.Network, sub *registry.Subnet) error {
	ports, err := s.networkPorts(ctx, n)
	if err != nil {
		return err
	}
	for _, pt := range ports {
		if (addressee{owner: pt.DeviceOwner}).routerInterface() ||
			slices.ContainsFunc(pt.FixedIPs, func(f registry.FixedIP) bool { return f.SubnetID == sub.ID }) {
			continue
		}
		f, err := s.takeEUI64(ctx, sub, pt.ID, pt.MACAddress)
		if err != nil {
			return err
		}
		_, err = s.ports.Update(ctx, pt.ProjectID, pt.ID, func(cur *registry.Port) error {
			if !slices.ContainsFunc(cur.FixedIPs, func(x registry.FixedIP) bool { return x.SubnetID == sub.ID }) {
				cur.FixedIPs = append(cur.FixedIPs, f)
				cur.Revision++
				cur.Updated = s.now()
			}
			return nil
		})
		if errors.Is(err, registry.ErrNotFound) {
			s.releaseIPs(ctx, pt.ID, []registry.FixedIP{f})
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// stripAutoAddresses removes the addresses of an automatic subnet being
// deleted from the ports that hold them, as Neutron's delete_subnet does:
// only router interfaces keep such a subnet in use, and while one does,
// nothing is removed. It returns how many addresses are left allocated.
func (s *Service) stripAutoAddresses(ctx context.Context, sub *registry.Subnet, ips *registry.SubnetIPs) (int64, error) {
	held, err := ips.Allocated(ctx)
	if err != nil {
		return 0, err
	}
	holders := map[string]registry.Versioned[registry.Port]{}
	for _, portID := range held {
		v, err := s.ports.Lookup(ctx, portID)
		if errors.Is(err, registry.ErrNotFound) {
			continue // a port mid-create or mid-delete: it stays counted
		}
		if err != nil {
			return 0, err
		}
		if (addressee{owner: v.Value.DeviceOwner}).routerInterface() {
			return int64(len(held)), nil
		}
		holders[portID] = v
	}
	for addr, portID := range held {
		v, ok := holders[portID]
		if !ok {
			continue
		}
		_, err = s.ports.Update(ctx, v.Project, portID, func(cur *registry.Port) error {
			cur.FixedIPs = slices.DeleteFunc(cur.FixedIPs, func(f registry.FixedIP) bool { return f.SubnetID == sub.ID })
			cur.Revision++
			cur.Updated = s.now()
			return nil
		})
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return 0, err
		}
		if ip, perr := netip.ParseAddr(addr); perr == nil {
			if err := ips.Release(ctx, ip, portID); err != nil {
				return 0, err
			}
		}
	}
	return ips.InUse(ctx)
}
