package network

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strconv"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// Subnets from subnet pools (Neutron's subnet_allocation). A subnet create
// that names a pool (subnetpool_id, or use_default_subnetpool) takes its
// CIDR from the pool: a free block of prefixlen (the pool's default when
// absent), or the cidr it names if that is free. The pool record lists
// every prefix it handed out (subnet id → CIDR), and the choice is made
// inside a compare-and-set on that record, so two concurrent creates never
// get overlapping prefixes; deleting the subnet takes its prefix back out.

// poolRequest is what a subnet create asks of a pool.
type poolRequest struct {
	cidr      netip.Prefix // a specific prefix; invalid for "any"
	prefixLen *int         // the length of an "any" request (nil: the pool's default)
}

func subnetAllocationError(status int, reason string) *wire.Error {
	e := wire.BadRequest("Failed to allocate subnet: %s.", reason)
	if status == 409 {
		e = wire.Conflict("Failed to allocate subnet: %s.", reason)
	}
	return e.WithType("SubnetAllocationError")
}

// requestedPool returns the pool a subnet create names, or nil. Neutron's
// _get_subnetpool_id: subnetpool_id and use_default_subnetpool exclude
// each other, and the default pool is the one of the request's family.
func (s *Service) requestedPool(ctx context.Context, p *wire.Principal, a attrs) (*subnetPool, error) {
	useDefault, err := a.boolean("use_default_subnetpool")
	if err != nil {
		return nil, err
	}
	var id *string
	if a.has("subnetpool_id") && !a.isNull("subnetpool_id") {
		if id, err = a.uuid("subnetpool_id"); err != nil {
			return nil, err
		}
	}
	if id != nil && useDefault != nil && *useDefault {
		return nil, badRequest("Bad subnets request: subnetpool_id and use_default_subnetpool cannot both be specified.")
	}
	if id != nil {
		return s.subnetPool(ctx, p, *id)
	}
	if useDefault == nil || !*useDefault {
		return nil, nil
	}
	ver, err := requestVersion(a)
	if err != nil {
		return nil, err
	}
	pools, err := s.subnetPools.List(ctx, "*", registry.Page{})
	if err != nil {
		return nil, err
	}
	for _, sp := range pools {
		if sp.IsDefault && sp.IPVersion == ver && canSeeSubnetPool(p, sp) {
			return sp, nil
		}
	}
	return nil, badRequest("Bad subnets request: No default subnetpool found for IPv%d.", ver)
}

// requestVersion is the family of a subnet create that names no pool id:
// its cidr's, else its ip_version.
func requestVersion(a attrs) (int, error) {
	if c, err := a.str("cidr", 0); err == nil && c != nil {
		if pfx, err := netip.ParsePrefix(*c); err == nil {
			if pfx.Addr().Is4() {
				return 4, nil
			}
			return 6, nil
		}
	}
	ver, err := a.integer("ip_version")
	if err != nil {
		return 0, err
	}
	if ver == nil {
		return 0, badRequest("Bad subnets request: ip_version must be specified in the absence of cidr and subnetpool_id.")
	}
	return *ver, nil
}

// parsePoolRequest validates the pool-related part of a subnet create
// (Neutron's _create_subnet_precommit, validate_pools_with_subnetpool,
// _validate_ip_version_with_subnetpool and SubnetRequestFactory).
func parsePoolRequest(a attrs, sp *subnetPool) (poolRequest, error) {
	var req poolRequest
	hasCIDR := a.has("cidr") && !a.isNull("cidr")
	if hasCIDR && a.has("prefixlen") && !a.isNull("prefixlen") {
		return req, badRequest("Bad subnets request: cidr and prefixlen must not be supplied together.")
	}
	if !hasCIDR && a.has("allocation_pools") && !a.isNull("allocation_pools") {
		return req, badRequest("Bad subnets request: allocation_pools allowed only for specific subnet requests.")
	}
	if ver, err := a.integer("ip_version"); err != nil {
		return req, err
	} else if ver != nil && *ver != sp.IPVersion {
		return req, badRequest("Bad subnets request: Cannot allocate IPv%d subnet from IPv%d subnet pool.", *ver, sp.IPVersion)
	}
	if a.has("prefixlen") && !a.isNull("prefixlen") {
		n, err := a.integer("prefixlen")
		if err != nil {
			return req, err
		}
		req.prefixLen = n
	}
	switch {
	case hasCIDR:
		c, err := a.str("cidr", 0)
		if err != nil {
			return req, err
		}
		pfx, err := netip.ParsePrefix(*c)
		if err != nil {
			return req, invalidAttr("cidr", "'%s' is not a valid IP subnet", *c)
		}
		req.cidr = pfx.Masked()
	case a.has("gateway_ip") && !a.isNull("gateway_ip"):
		// A gateway without a cidr asks for the block around it.
		gw, err := parseIP(a, "gateway_ip")
		if err != nil {
			return req, err
		}
		n := sp.DefaultPrefixLen
		if req.prefixLen != nil {
			n = *req.prefixLen
		}
		pfx, err := gw.Prefix(n)
		if err != nil {
			return req, invalidAttr("prefixlen", "'%d' is not a valid prefix length", n)
		}
		req.cidr = pfx
	}
	return req, nil
}

// claimPoolPrefix takes a prefix of sp for subnet subnetID, atomically
// (see the file comment), and returns it.
func (s *Service) claimPoolPrefix(ctx context.Context, sp *subnetPool, subnetID string, req poolRequest) (netip.Prefix, error) {
	var got netip.Prefix
	_, err := s.subnetPools.Update(ctx, sp.ProjectID, sp.ID, func(cur *subnetPool) error {
		if cur.Deleting {
			return subnetPoolNotFound(sp.ID)
		}
		length := cur.DefaultPrefixLen
		switch {
		case req.cidr.IsValid():
			length = req.cidr.Bits()
		case req.prefixLen != nil:
			length = *req.prefixLen
		}
		if length > cur.MaxPrefixLen {
			return wire.BadRequest("Unable to allocate subnet with prefix length %d, maximum allowed prefix is %d.", length, cur.MaxPrefixLen).
				WithType("MaxPrefixSubnetAllocationError")
		}
		if length < cur.MinPrefixLen {
			return wire.BadRequest("Unable to allocate subnet with prefix length %d, minimum allowed prefix is %d.", length, cur.MinPrefixLen).
				WithType("MinPrefixSubnetAllocationError")
		}
		pool, used := poolPrefixes(cur)
		if req.cidr.IsValid() {
			if !registry.PrefixFree(pool, used, req.cidr) {
				status := 400 // outside the pool: no state of it would ever allow it
				if registry.PrefixFree(pool, nil, req.cidr) {
					status = 409 // inside, but (partly) taken
				}
				return subnetAllocationError(status, "Cannot allocate requested subnet from the available set of prefixes")
			}
			got = req.cidr
		} else {
			pfx, err := registry.PickPrefix(pool, used, length)
			if errors.Is(err, registry.ErrNoPrefix) {
				return subnetAllocationError(409, "Insufficient prefix space to allocate subnet size /"+strconv.Itoa(length))
			}
			got = pfx
		}
		if cur.Allocations == nil {
			cur.Allocations = map[string]string{}
		}
		cur.Allocations[subnetID] = got.String()
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return netip.Prefix{}, subnetPoolNotFound(sp.ID)
	}
	return got, err
}

// poolPrefixes parses a pool's prefixes and the prefixes it handed out.
func poolPrefixes(sp *subnetPool) (pool, used []netip.Prefix) {
	for _, c := range sp.Prefixes {
		if p, err := netip.ParsePrefix(c); err == nil {
			pool = append(pool, p)
		}
	}
	for _, c := range sp.Allocations {
		if p, err := netip.ParsePrefix(c); err == nil {
			used = append(used, p)
		}
	}
	return pool, used
}

// releasePoolPrefix gives subnet subnetID's prefix back to pool poolID. A
// pool or allocation already gone is fine (a retried delete).
func (s *Service) releasePoolPrefix(ctx context.Context, poolID, subnetID string) error {
	v, err := s.subnetPools.Lookup(ctx, poolID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = s.subnetPools.Update(ctx, v.Project, poolID, func(cur *subnetPool) error {
		delete(cur.Allocations, subnetID)
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	return err
}

// withPoolCIDR returns a copy of a whose cidr is pfx (the prefix the pool
// gave), so the rest of the body is validated as for any subnet.
func withPoolCIDR(a attrs, pfx netip.Prefix) attrs {
	out := make(attrs, len(a)+1)
	for k, v := range a {
		out[k] = v
	}
	raw, _ := json.Marshal(pfx.String())
	out["cidr"] = raw
	for _, k := range []string{"subnetpool_id", "prefixlen", "use_default_subnetpool"} {
		delete(out, k)
	}
	return out
}
