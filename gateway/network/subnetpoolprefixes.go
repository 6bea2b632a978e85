package network

import (
	"net/netip"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// Family bounds of a pool's prefix lengths when the request names none
// (Neutron's SubnetPoolHelper: min 8 for IPv4, 64 for IPv6; max the width).
func familyBounds(version int) (minLen, maxLen int) {
	if version == 6 {
		return 64, 128
	}
	return 8, 32
}

func prefixBoundsError(kind string, n int, base string, b int) *wire.Error {
	return wire.BadRequest("Illegal prefix bounds: %s=%d, %s=%d.", kind, n, base, b).WithType("IllegalSubnetPoolPrefixBounds")
}

// parsePoolPrefixes validates a list of CIDRs of one family and returns
// them merged (netaddr.cidr_merge, as Neutron stores them) with their
// IP version.
func parsePoolPrefixes(a attrs) ([]netip.Prefix, int, error) {
	raw, err := a.stringList("prefixes")
	if err != nil {
		return nil, 0, err
	}
	if len(raw) == 0 {
		return nil, 0, wire.BadRequest("Empty subnet pool prefix list.").WithType("EmptySubnetPoolPrefixList")
	}
	var out []netip.Prefix
	version := 0
	for _, s := range raw {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, 0, invalidAttr("prefixes", "'%s' is not a valid IP subnet", s)
		}
		if pfx != pfx.Masked() {
			return nil, 0, invalidAttr("prefixes", "'%s' isn't a recognized IP subnet cidr, '%s' is recommended", s, pfx.Masked())
		}
		v := 4
		if pfx.Addr().Is6() {
			v = 6
		}
		if version != 0 && v != version {
			return nil, 0, prefixVersionMismatch()
		}
		version = v
		out = append(out, pfx)
	}
	return mergePrefixes(out), version, nil
}

func prefixVersionMismatch() *wire.Error {
	return wire.BadRequest("Cannot mix IPv4 and IPv6 prefixes in a subnet pool.").WithType("PrefixVersionMismatch")
}

// mergePrefixes is netaddr.cidr_merge for one family: sorted, with
// contained prefixes dropped and sibling halves joined.
func mergePrefixes(in []netip.Prefix) []netip.Prefix {
	ps := slices.Clone(in)
	for {
		slices.SortFunc(ps, func(a, b netip.Prefix) int {
			if c := a.Addr().Compare(b.Addr()); c != 0 {
				return c
			}
			return a.Bits() - b.Bits()
		})
		var out []netip.Prefix
		for _, p := range ps {
			if n := len(out); n > 0 && out[n-1].Bits() <= p.Bits() && out[n-1].Contains(p.Addr()) {
				continue
			}
			out = append(out, p)
		}
		changed := false
		var joined []netip.Prefix
		for i := 0; i < len(out); i++ {
			p := out[i]
			if i+1 < len(out) && p.Bits() > 0 && out[i+1].Bits() == p.Bits() {
				parent, _ := p.Addr().Prefix(p.Bits() - 1)
				if q, _ := out[i+1].Addr().Prefix(p.Bits() - 1); q == parent {
					joined = append(joined, parent)
					i++
					changed = true
					continue
				}
			}
			joined = append(joined, p)
		}
		ps = joined
		if !changed {
			return ps
		}
	}
}

// covers reports whether every prefix of old lies inside one of next.
func covers(next []netip.Prefix, old []string) bool {
	for _, s := range old {
		o, err := netip.ParsePrefix(s)
		if err != nil {
			return false
		}
		if !slices.ContainsFunc(next, func(n netip.Prefix) bool { return n.Bits() <= o.Bits() && n.Contains(o.Addr()) }) {
			return false
		}
	}
	return true
}

// applySubnetPoolPrefixes reads prefixes and the three prefix lengths into
// sp, checked in Neutron's order (SubnetPoolHelper.validate_*). old is the pool's current prefixes on update (nil on create): new
// prefixes may only add to them.
func applySubnetPoolPrefixes(a attrs, sp *subnetPool, old []string) error {
	creating := old == nil
	if a.has("prefixes") {
		pfxs, version, err := parsePoolPrefixes(a)
		if err != nil {
			return err
		}
		if !creating && version != sp.IPVersion {
			return prefixVersionMismatch()
		}
		if !creating && !covers(pfxs, old) {
			return wire.BadRequest("Illegal update to prefixes: Existing prefixes must be a subset of the new prefixes.").
				WithType("IllegalSubnetPoolPrefixUpdate")
		}
		sp.Prefixes = make([]string, len(pfxs))
		for i, p := range pfxs {
			sp.Prefixes[i] = p.String()
		}
		sp.IPVersion = version
	}
	lo, hi := familyBounds(sp.IPVersion)
	if creating {
		sp.MinPrefixLen, sp.MaxPrefixLen = lo, hi
	}
	vals := map[string]*int{}
	for _, name := range []string{"min_prefixlen", "max_prefixlen", "default_prefixlen"} {
		v, err := a.integer(name)
		if err != nil {
			return err
		}
		vals[name] = v
	}
	if v := vals["min_prefixlen"]; v != nil {
		sp.MinPrefixLen = *v
	}
	if v := vals["max_prefixlen"]; v != nil {
		sp.MaxPrefixLen = *v
	}
	if v := vals["default_prefixlen"]; v != nil {
		sp.DefaultPrefixLen = *v
	} else if creating {
		sp.DefaultPrefixLen = sp.MinPrefixLen
	}
	switch {
	case sp.MinPrefixLen < 0:
		// Neutron names version 4 here whatever the pool's family.
		return wire.BadRequest("Prefix '%d' not supported in IPv4 pool.", sp.MinPrefixLen).WithType("UnsupportedMinSubnetPoolPrefix")
	case sp.MinPrefixLen > sp.MaxPrefixLen:
		return prefixBoundsError("min_prefixlen", sp.MinPrefixLen, "max_prefixlen", sp.MaxPrefixLen)
	case sp.MaxPrefixLen > hi:
		return prefixBoundsError("max_prefixlen", sp.MaxPrefixLen, "ip_version_max", hi)
	case sp.DefaultPrefixLen < sp.MinPrefixLen:
		return prefixBoundsError("default_prefixlen", sp.DefaultPrefixLen, "min_prefixlen", sp.MinPrefixLen)
	case sp.DefaultPrefixLen > sp.MaxPrefixLen:
		return prefixBoundsError("default_prefixlen", sp.DefaultPrefixLen, "max_prefixlen", sp.MaxPrefixLen)
	}
	return nil
}
