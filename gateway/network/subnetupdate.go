package network

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

func (s *Service) updateSubnet(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	id := r.PathValue("id")
	cur, n, err := s.subnet(ctx, p, id)
	if err != nil {
		return err
	}
	if cur.ProjectID != p.ProjectID && n.ProjectID != p.ProjectID && !p.IsAdmin() || !p.CanWrite() {
		return policyDenied("update_subnet")
	}
	a, err := readBody(r, "subnet", subnetUpdateAttrs)
	if err != nil {
		return err
	}
	gw, pools, err := s.newAddressing(ctx, cur, a)
	if err != nil {
		return err
	}
	sub, err := s.subnets.Update(ctx, cur.ProjectID, id, func(sub *registry.Subnet) error {
		if !slices.Equal(sub.AllocationPools, cur.AllocationPools) || !samePtr(sub.GatewayIP, cur.GatewayIP) {
			return conflict("SubnetInUse", "Unable to complete operation on subnet %s: the subnet changed during the update; retry it.", id)
		}
		if v, err := a.str("name", 255); err != nil {
			return err
		} else if v != nil {
			sub.Name = *v
		}
		if v, err := a.str("description", 255); err != nil {
			return err
		} else if v != nil {
			sub.Description = *v
		}
		if err := parseSubnetOptions(a, sub); err != nil {
			return err
		}
		if !sub.EnableDHCP && (sub.IPv6RAMode != nil || sub.IPv6AddressMode != nil) {
			return invalidInput("Cannot disable enable_dhcp with ipv6 attributes set")
		}
		sub.GatewayIP, sub.AllocationPools = gw, pools
		sub.Revision++
		sub.Updated = s.now()
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return subnetNotFound(id)
	}
	if err != nil {
		return err
	}
	if !slices.Equal(pools, cur.AllocationPools) {
		ips, err := s.allocator(sub)
		if err != nil {
			return err
		}
		if err := ips.Repool(ctx); err != nil {
			return err
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"subnet": renderSubnet(sub)})
	return nil
}

func samePtr(a, b *string) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// newAddressing validates gateway_ip and allocation_pools of an update
// against the CIDR, each other and the addresses ports hold: the gateway
// stays out of the pools, a gateway a port holds cannot move, and pools
// cannot shrink from under an allocated address.
func (s *Service) newAddressing(ctx context.Context, cur *registry.Subnet, a attrs) (*string, []registry.AllocationPool, error) {
	gw, pools := cur.GatewayIP, cur.AllocationPools
	if !a.has("gateway_ip") && !a.has("allocation_pools") {
		return gw, pools, nil
	}
	pfx, err := netip.ParsePrefix(cur.CIDR)
	if err != nil {
		return nil, nil, err
	}
	ips, err := s.allocator(cur)
	if err != nil {
		return nil, nil, err
	}
	var gwAddr *netip.Addr
	if a.has("gateway_ip") && !a.isNull("gateway_ip") {
		g, err := parseIP(a, "gateway_ip")
		if err != nil {
			return nil, nil, err
		}
		if !pfx.Contains(g) || g == pfx.Addr() || (g.Is4() && g == lastAddr(pfx) && pfx.Bits() < 31) {
			return nil, nil, invalidInput("Gateway ip %s is not valid on subnet %s.", g, pfx)
		}
		gwAddr = &g
	} else if !a.has("gateway_ip") && gw != nil {
		g, _ := netip.ParseAddr(*gw)
		gwAddr = &g
	}
	if a.has("gateway_ip") && cur.GatewayIP != nil && (gwAddr == nil || gwAddr.String() != *cur.GatewayIP) {
		old, _ := netip.ParseAddr(*cur.GatewayIP)
		owner, err := ips.Owner(ctx, old)
		if err != nil {
			return nil, nil, err
		}
		if pt, err := s.ports.Lookup(ctx, owner); err == nil && pt.Value.DeviceOwner == ownerRouterInterface {
			return nil, nil, conflict("GatewayIpInUse", "Current gateway ip %s already in use by port %s. Unable to update.", old, owner)
		}
	}
	if a.has("allocation_pools") {
		if pools, err = parsePools(a, pfx, gwAddr); err != nil {
			return nil, nil, err
		}
	} else if gwAddr != nil {
		for _, p := range pools {
			st, _ := netip.ParseAddr(p.Start)
			en, _ := netip.ParseAddr(p.End)
			if !gwAddr.Less(st) && !en.Less(*gwAddr) {
				return nil, nil, conflict("GatewayConflictWithAllocationPools", "Gateway ip %s conflicts with allocation pool %s-%s", gwAddr, st, en)
			}
		}
	}
	if gwAddr != nil {
		g := gwAddr.String()
		gw = &g
	} else {
		gw = nil
	}
	if a.has("allocation_pools") {
		if err := s.checkPoolsCoverAllocations(ctx, cur, ips, pools); err != nil {
			return nil, nil, err
		}
	}
	return gw, pools, nil
}

// checkPoolsCoverAllocations refuses new pools that leave out an address
// a port took from the old ones.
func (s *Service) checkPoolsCoverAllocations(ctx context.Context, cur *registry.Subnet, old *registry.SubnetIPs, pools []registry.AllocationPool) error {
	next, err := s.allocator(&registry.Subnet{ID: cur.ID, ProjectID: cur.ProjectID, CIDR: cur.CIDR, AllocationPools: pools})
	if err != nil {
		return err
	}
	held, err := old.Allocated(ctx)
	if err != nil {
		return err
	}
	for addr := range held {
		ip, err := netip.ParseAddr(addr)
		if err == nil && old.InPools(ip) && !next.InPools(ip) {
			return conflict("SubnetInUse", "Unable to complete operation on subnet %s: allocated address %s would be outside the allocation pools.", cur.ID, ip)
		}
	}
	return nil
}
