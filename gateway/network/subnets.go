package network

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

var subnetFilters = []string{"id", "name", "description", "network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp",
	"ipv6_ra_mode", "ipv6_address_mode", "project_id", "tenant_id", "subnetpool_id", "revision_number", "created_at", "updated_at"}

var subnetCreateAttrs = []string{"name", "description", "network_id", "ip_version", "cidr", "gateway_ip", "allocation_pools",
	"dns_nameservers", "host_routes", "enable_dhcp", "ipv6_ra_mode", "ipv6_address_mode", "project_id", "tenant_id", "subnetpool_id", "prefixlen", "use_default_subnetpool"}

var subnetUpdateAttrs = []string{"name", "description", "dns_nameservers", "host_routes", "enable_dhcp", "gateway_ip", "allocation_pools"}

var ipv6Modes = []string{"slaac", "dhcpv6-stateful", "dhcpv6-stateless"}

func renderSubnet(sub *registry.Subnet) map[string]any {
	pools := sub.AllocationPools
	if pools == nil {
		pools = []registry.AllocationPool{}
	}
	dns := sub.DNSNameservers
	if dns == nil {
		dns = []string{}
	}
	routes := sub.HostRoutes
	if routes == nil {
		routes = []map[string]string{}
	}
	tags := sub.Tags
	if tags == nil {
		tags = []string{}
	}
	var pool any
	if sub.SubnetPoolID != "" {
		pool = sub.SubnetPoolID
	}
	return map[string]any{
		"id": sub.ID, "name": sub.Name, "description": sub.Description, "network_id": sub.NetworkID,
		"ip_version": sub.IPVersion, "cidr": sub.CIDR, "gateway_ip": sub.GatewayIP,
		"allocation_pools": pools, "dns_nameservers": dns, "host_routes": routes,
		"enable_dhcp": sub.EnableDHCP, "ipv6_ra_mode": sub.IPv6RAMode, "ipv6_address_mode": sub.IPv6AddressMode,
		"subnetpool_id": pool, "tags": tags,
		"project_id": sub.ProjectID, "tenant_id": sub.ProjectID,
		"revision_number": sub.Revision, "created_at": stamp(sub.Created), "updated_at": stamp(sub.Updated),
	}
}

// canSeeSubnets reports whether p may see the subnets of n: Neutron's
// get_subnet policy (admin, owner, or a shared network). An external
// network is visible to everyone, but its subnets are not.
func canSeeSubnets(p *wire.Principal, n *registry.Network) bool {
	return p.IsAdmin() || n.ProjectID == p.ProjectID || n.Shared
}

// subnet reads a subnet whose network's subnets the caller may see.
func (s *Service) subnet(ctx context.Context, p *wire.Principal, id string) (*registry.Subnet, *registry.Network, error) {
	v, err := s.subnets.Lookup(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil, subnetNotFound(id)
	}
	if err != nil {
		return nil, nil, err
	}
	n, err := s.networks.Lookup(ctx, v.Value.NetworkID)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && !canSeeSubnets(p, n.Value) && v.Value.ProjectID != p.ProjectID) {
		return nil, nil, subnetNotFound(id)
	}
	if err != nil {
		return nil, nil, err
	}
	return v.Value, n.Value, nil
}

func (s *Service) listSubnets(w http.ResponseWriter, r *http.Request) error {
	lq, err := parseList(r, subnetFilters)
	if err != nil {
		return err
	}
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	nets, err := s.networks.List(ctx, "*", registry.Page{})
	if err != nil {
		return err
	}
	visible := map[string]bool{}
	for _, n := range nets {
		visible[n.ID] = canSeeSubnets(p, n)
	}
	all, err := s.subnets.List(ctx, "*", registry.Page{})
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(all))
	for _, sub := range all {
		if visible[sub.NetworkID] || sub.ProjectID == p.ProjectID {
			items = append(items, renderSubnet(sub))
		}
	}
	return respond(w, r, lq, "subnets", "Subnet", items)
}

func (s *Service) showSubnet(w http.ResponseWriter, r *http.Request) error {
	sub, _, err := s.subnet(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"subnet": project(renderSubnet(sub), showFields(r))})
	return nil
}

func (s *Service) createSubnet(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	if !p.CanWrite() {
		return policyDenied("create_subnet")
	}
	items, bulk, err := readBodies(r, "subnet", subnetCreateAttrs)
	if err != nil {
		return err
	}
	return s.createEach(w, r, "subnet", bulk, items, func(ctx context.Context, a attrs) (map[string]any, func(), error) {
		sub, err := s.createSubnetFrom(ctx, p, a)
		if err != nil {
			return nil, nil, err
		}
		return renderSubnet(sub), func() { s.undoSubnet(ctx, sub) }, nil
	})
}

// createSubnetFrom creates one subnet from its body.
func (s *Service) createSubnetFrom(ctx context.Context, p *wire.Principal, a attrs) (*registry.Subnet, error) {
	netID, err := a.uuid("network_id")
	if err != nil {
		return nil, err
	}
	if netID == nil {
		return nil, required("network_id")
	}
	n, err := s.network(ctx, p, *netID)
	if err != nil {
		return nil, err
	}
	if n.ProjectID != p.ProjectID && !p.IsAdmin() {
		return nil, policyDenied("create_subnet")
	}
	projectID, err := a.project(p, "create_subnet")
	if err != nil {
		return nil, err
	}
	pool, err := s.requestedPool(ctx, p, a)
	if err != nil {
		return nil, err
	}
	if pool == nil {
		sub, err := parseSubnet(a)
		if err != nil {
			return nil, err
		}
		return s.storeSubnet(ctx, n, projectID, s.opts.NewID(), sub)
	}
	if !a.has("ip_version") {
		return nil, required("ip_version")
	}
	req, err := parsePoolRequest(a, pool)
	if err != nil {
		return nil, err
	}
	id := s.opts.NewID()
	pfx, err := s.claimPoolPrefix(ctx, pool, id, req)
	if err != nil {
		return nil, err
	}
	sub, err := parseSubnet(withPoolCIDR(a, pfx))
	if err == nil {
		sub.SubnetPoolID = pool.ID
		sub, err = s.storeSubnet(ctx, n, projectID, id, sub)
	}
	if err != nil {
		_ = s.releasePoolPrefix(context.WithoutCancel(ctx), pool.ID, id)
		return nil, err
	}
	return sub, nil
}

// storeSubnet gives sub its ids, takes its quota and stores it.
func (s *Service) storeSubnet(ctx context.Context, n *registry.Network, projectID, id string, sub *registry.Subnet) (*registry.Subnet, error) {
	sub.ID, sub.ProjectID, sub.NetworkID = id, projectID, n.ID
	release, err := s.reserveQuota(ctx, projectID, quotaSubnet, sub.ID)
	if err != nil {
		return nil, err
	}
	defer release()
	sub, err = s.addSubnet(ctx, n, sub)
	if err != nil || !autoAddress(sub) {
		return sub, err
	}
	return sub, s.addressNetworkPorts(ctx, n, sub)
}

// undoSubnet removes a subnet a failed bulk create made (no port has an
// address from it yet).
func (s *Service) undoSubnet(ctx context.Context, sub *registry.Subnet) {
	ctx = context.WithoutCancel(ctx)
	if n, err := s.networks.Lookup(ctx, sub.NetworkID); err == nil {
		_, _ = s.networks.Update(ctx, n.Project, n.Value.ID, func(cur *registry.Network) error {
			cur.Subnets = slices.DeleteFunc(cur.Subnets, func(x string) bool { return x == sub.ID })
			return nil
		})
	}
	_ = s.dropSubnet(ctx, sub.ProjectID, sub)
}

// parseSubnet validates a subnet body into a record without ids.
func parseSubnet(a attrs) (*registry.Subnet, error) {
	sub := &registry.Subnet{EnableDHCP: true, DNSNameservers: []string{}, HostRoutes: []map[string]string{}, Tags: []string{}}
	if a.has("cidr") && !a.isNull("cidr") && a.has("prefixlen") && !a.isNull("prefixlen") {
		return nil, badRequest("Bad subnets request: cidr and prefixlen must not be supplied together.")
	}
	if v, err := a.str("name", 255); err != nil {
		return nil, err
	} else if v != nil {
		sub.Name = *v
	}
	if v, err := a.str("description", 255); err != nil {
		return nil, err
	} else if v != nil {
		sub.Description = *v
	}
	ver, err := a.integer("ip_version")
	if err != nil {
		return nil, err
	}
	if ver == nil {
		return nil, required("ip_version")
	}
	if *ver != 4 && *ver != 6 {
		return nil, invalidAttr("ip_version", "%d is not in [4, 6]", *ver)
	}
	sub.IPVersion = *ver
	cidrStr, err := a.str("cidr", 0)
	if err != nil {
		return nil, err
	}
	if cidrStr == nil {
		return nil, badRequest("Bad subnets request: a subnetpool must be specified in the absence of a cidr.")
	}
	pfx, perr := netip.ParsePrefix(*cidrStr)
	if perr != nil {
		return nil, invalidAttr("cidr", "'%s' is not a valid IP subnet", *cidrStr)
	}
	if pfx != pfx.Masked() {
		return nil, invalidAttr("cidr", "'%s' isn't a recognized IP subnet cidr, '%s' is recommended", *cidrStr, pfx.Masked())
	}
	if (pfx.Addr().Is4() && *ver != 4) || (pfx.Addr().Is6() && *ver != 6) {
		return nil, invalidInput("Cidr %s and IP version %d mismatch.", pfx, *ver)
	}
	sub.CIDR = pfx.String()
	if err := parseSubnetV6Modes(a, sub); err != nil {
		return nil, err
	}
	if err := parseSubnetOptions(a, sub); err != nil {
		return nil, err
	}
	if (sub.IPv6RAMode != nil || sub.IPv6AddressMode != nil) && !sub.EnableDHCP {
		return nil, invalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False.")
	}
	if autoAddress(sub) && pfx.Bits() != 64 {
		// EUI-64 interface ids are 64 bits (RFC 4862 5.5.3).
		return nil, invalidInput("Invalid CIDR %s for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64", pfx)
	}
	var gw *netip.Addr
	switch {
	case !a.has("gateway_ip"):
		g := pfx.Addr().Next()
		if pfx.Contains(g) && g != lastAddr(pfx) || pfx.Addr().Is6() && pfx.Contains(g) {
			gw = &g
		}
	case a.isNull("gateway_ip"):
	default:
		g, err := parseIP(a, "gateway_ip")
		if err != nil {
			return nil, err
		}
		if !pfx.Contains(g) || g == pfx.Addr() || (g.Is4() && g == lastAddr(pfx) && pfx.Bits() < 31) {
			return nil, invalidInput("Gateway ip %s is not valid on subnet %s.", g, pfx)
		}
		gw = &g
	}
	if gw != nil {
		gs := gw.String()
		sub.GatewayIP = &gs
	}
	pools, err := parsePools(a, pfx, gw)
	if err != nil {
		return nil, err
	}
	sub.AllocationPools = pools
	return sub, nil
}

func parseSubnetV6Modes(a attrs, sub *registry.Subnet) error {
	for _, name := range []string{"ipv6_ra_mode", "ipv6_address_mode"} {
		if !a.has(name) || a.isNull(name) {
			continue
		}
		v, err := a.str(name, 0)
		if err != nil {
			return err
		}
		if !slices.Contains(ipv6Modes, *v) {
			return invalidAttr(name, "'%s' is not in %v", *v, ipv6Modes)
		}
		if sub.IPVersion != 6 {
			return invalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False or ip_version is 4.")
		}
		if name == "ipv6_ra_mode" {
			sub.IPv6RAMode = v
		} else {
			sub.IPv6AddressMode = v
		}
	}
	if sub.IPv6RAMode != nil && sub.IPv6AddressMode != nil && *sub.IPv6RAMode != *sub.IPv6AddressMode {
		return invalidInput("ipv6_ra_mode set to '%s' with ipv6_address_mode set to '%s' is not valid. If both attributes are set, they must be the same value.", *sub.IPv6RAMode, *sub.IPv6AddressMode)
	}
	return nil
}

// parseSubnetOptions reads the attributes create and update share.
func parseSubnetOptions(a attrs, sub *registry.Subnet) error {
	if v, err := a.boolean("enable_dhcp"); err != nil {
		return err
	} else if v != nil {
		sub.EnableDHCP = *v
	}
	if raw, ok := a["dns_nameservers"]; ok {
		var ns []string
		if err := json.Unmarshal(raw, &ns); err != nil {
			return invalidAttr("dns_nameservers", "'%s' is not a list", string(raw))
		}
		for _, x := range ns {
			if _, err := netip.ParseAddr(x); err != nil {
				return invalidAttr("dns_nameservers", "'%s' is not a valid nameserver. '%s' is not a valid IP address.", x, x)
			}
		}
		if ns == nil {
			ns = []string{}
		}
		sub.DNSNameservers = ns
	}
	if raw, ok := a["host_routes"]; ok {
		var routes []map[string]string
		if err := json.Unmarshal(raw, &routes); err != nil {
			return invalidAttr("host_routes", "'%s' is not a list of destination/nexthop objects", string(raw))
		}
		for _, rt := range routes {
			if _, err := netip.ParsePrefix(rt["destination"]); err != nil {
				return invalidAttr("host_routes", "'%s' is not a valid IP subnet", rt["destination"])
			}
			if _, err := netip.ParseAddr(rt["nexthop"]); err != nil {
				return invalidAttr("host_routes", "'%s' is not a valid IP address", rt["nexthop"])
			}
		}
		if routes == nil {
			routes = []map[string]string{}
		}
		sub.HostRoutes = routes
	}
	return nil
}

func parseIP(a attrs, name string) (netip.Addr, error) {
	v, err := a.str(name, 0)
	if err != nil {
		return netip.Addr{}, err
	}
	ip, perr := netip.ParseAddr(*v)
	if perr != nil || ip.Zone() != "" {
		return netip.Addr{}, invalidAttr(name, "'%s' is not a valid IP address", *v)
	}
	return ip, nil
}

// parsePools reads allocation_pools, or computes Neutron's default: every
// host address of the CIDR except the gateway.
func parsePools(a attrs, pfx netip.Prefix, gw *netip.Addr) ([]registry.AllocationPool, error) {
	raw, given := a["allocation_pools"]
	if !given || string(raw) == "null" {
		return defaultPools(pfx, gw), nil
	}
	var in []map[string]string
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, invalidAttr("allocation_pools", "'%s' is not a list of start/end objects", string(raw))
	}
	var ranges []registry.IPRange
	out := []registry.AllocationPool{}
	for _, p := range in {
		st, err1 := netip.ParseAddr(p["start"])
		en, err2 := netip.ParseAddr(p["end"])
		if err1 != nil || err2 != nil || st.Is4() != pfx.Addr().Is4() || en.Less(st) {
			return nil, invalidAttr("allocation_pools", "'%s-%s' is not a valid IP range", p["start"], p["end"])
		}
		if !pfx.Contains(st) || !pfx.Contains(en) || st == pfx.Addr() || (pfx.Addr().Is4() && en == lastAddr(pfx) && pfx.Bits() < 31) {
			return nil, wire.BadRequest("The allocation pool %s-%s spans beyond the subnet cidr %s.", st, en, pfx).WithType("OutOfBoundsAllocationPool")
		}
		if gw != nil && !gw.Less(st) && !en.Less(*gw) {
			return nil, conflict("GatewayConflictWithAllocationPools", "Gateway ip %s conflicts with allocation pool %s-%s", gw, st, en)
		}
		for _, o := range ranges {
			if !en.Less(o.Start) && !o.End.Less(st) {
				return nil, conflict("OverlappingAllocationPools", "Found overlapping allocation pools: %s-%s and %s-%s for subnet %s.", st, en, o.Start, o.End, pfx)
			}
		}
		ranges = append(ranges, registry.IPRange{Start: st, End: en})
		out = append(out, registry.AllocationPool{Start: st.String(), End: en.String()})
	}
	return out, nil
}

func defaultPools(pfx netip.Prefix, gw *netip.Addr) []registry.AllocationPool {
	first := pfx.Addr().Next()
	last := lastAddr(pfx)
	if pfx.Addr().Is4() {
		last = last.Prev()
	}
	if !first.IsValid() || !last.IsValid() || last.Less(first) {
		return []registry.AllocationPool{}
	}
	var out []registry.AllocationPool
	add := func(a, b netip.Addr) {
		if a.IsValid() && b.IsValid() && !b.Less(a) {
			out = append(out, registry.AllocationPool{Start: a.String(), End: b.String()})
		}
	}
	if gw != nil && !gw.Less(first) && !last.Less(*gw) {
		if *gw != first {
			add(first, gw.Prev())
		}
		if *gw != last {
			add(gw.Next(), last)
		}
	} else {
		add(first, last)
	}
	if out == nil {
		out = []registry.AllocationPool{}
	}
	return out
}

// lastAddr is the last address of a prefix (the IPv4 broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	left := len(b)*8 - p.Bits()
	for i := len(b) - 1; i >= 0 && left > 0; i-- {
		n := min(left, 8)
		b[i] |= byte(1<<n - 1)
		left -= n
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// addSubnet stores sub and links it into its network. The link is a
// compare-and-set on the network record that re-checks overlaps, so two
// concurrent creates of overlapping subnets cannot both succeed. A subnet
// that already exists (a retried bootstrap) is returned as it is.
func (s *Service) addSubnet(ctx context.Context, n *registry.Network, sub *registry.Subnet) (*registry.Subnet, error) {
	now := s.now()
	sub.Revision, sub.Created, sub.Updated = 1, now, now
	pfx := netip.MustParsePrefix(sub.CIDR)
	err := s.subnets.Create(ctx, sub.ProjectID, sub.ID, now, sub)
	if errors.Is(err, registry.ErrExists) {
		existing, gerr := s.subnets.Get(ctx, sub.ProjectID, sub.ID)
		if gerr != nil {
			return nil, gerr
		}
		sub = existing
	} else if err != nil {
		return nil, err
	}
	_, err = s.networks.Update(ctx, n.ProjectID, n.ID, func(cur *registry.Network) error {
		if slices.Contains(cur.Subnets, sub.ID) {
			return nil
		}
		others, err := s.subnets.GetMany(ctx, "*", cur.Subnets)
		if err != nil {
			return err
		}
		for _, o := range others {
			op, perr := netip.ParsePrefix(o.CIDR)
			if perr == nil && op.Overlaps(pfx) {
				return invalidInput("Requested subnet with cidr: %s for network: %s overlaps with another subnet.", pfx, n.ID)
			}
		}
		cur.Subnets = append(cur.Subnets, sub.ID)
		cur.Revision++
		cur.Updated = now
		return nil
	})
	if err != nil {
		_ = s.subnets.Delete(ctx, sub.ProjectID, sub.ID)
		if errors.Is(err, registry.ErrNotFound) {
			return nil, networkNotFound(n.ID)
		}
		return nil, err
	}
	return sub, nil
}

func (s *Service) deleteSubnet(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	id := r.PathValue("id")
	sub, n, err := s.subnet(ctx, p, id)
	if err != nil {
		return err
	}
	if sub.ProjectID != p.ProjectID && n.ProjectID != p.ProjectID && !p.IsAdmin() || !p.CanWrite() {
		return policyDenied("delete_subnet")
	}
	ips, err := s.allocator(sub)
	if err != nil {
		return err
	}
	inUse, unlock, err := s.lockSubnetForDelete(ctx, sub, ips)
	if err != nil {
		return err
	}
	if inUse > 0 && autoAddress(sub) {
		if inUse, err = s.stripAutoAddresses(ctx, sub, ips); err != nil {
			unlock()
			return err
		}
	}
	if inUse > 0 {
		unlock()
		return conflict("SubnetInUse", "Unable to complete operation on subnet %s: One or more ports have an IP allocation from this subnet.", id)
	}
	if _, err := s.networks.Update(ctx, n.ProjectID, n.ID, func(cur *registry.Network) error {
		cur.Subnets = slices.DeleteFunc(cur.Subnets, func(x string) bool { return x == id })
		cur.Revision++
		cur.Updated = s.now()
		return nil
	}); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	if err := s.dropSubnet(ctx, sub.ProjectID, sub); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dropSubnet removes a subnet's record and its allocator, and gives its
// prefix back to its pool.
func (s *Service) dropSubnet(ctx context.Context, project string, sub *registry.Subnet) error {
	if err := s.subnets.Delete(ctx, project, sub.ID); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	if sub.SubnetPoolID != "" {
		if err := s.releasePoolPrefix(ctx, sub.SubnetPoolID, sub.ID); err != nil {
			return err
		}
	}
	ips, err := s.allocator(sub)
	if err != nil {
		return err
	}
	return ips.Drop(ctx)
}

// allocator is sub's address allocator in the registry.
func (s *Service) allocator(sub *registry.Subnet) (*registry.SubnetIPs, error) {
	pfx, err := netip.ParsePrefix(sub.CIDR)
	if err != nil {
		return nil, err
	}
	var ranges []registry.IPRange
	for _, p := range sub.AllocationPools {
		st, err1 := netip.ParseAddr(p.Start)
		en, err2 := netip.ParseAddr(p.End)
		if err1 != nil || err2 != nil {
			return nil, errors.New("network: corrupt allocation pool in subnet " + sub.ID)
		}
		ranges = append(ranges, registry.IPRange{Start: st, End: en})
	}
	return s.reg.SubnetIPs(sub.ProjectID, sub.ID, pfx, ranges)
}
