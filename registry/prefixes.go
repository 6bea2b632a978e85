package registry

import (
	"errors"
	"math/bits"
	"net"
	"net/netip"
	"slices"
)

// Prefix arithmetic for subnet pools and the address a SLAAC port derives
// from its MAC. These are pure functions: the caller makes the choice
// atomic (a compare-and-set on the pool record that lists what it handed
// out), as Neutron's SubnetAllocator does under its pool row lock.

// ErrNoPrefix means no free block of a pool holds the requested prefix.
var ErrNoPrefix = errors.New("registry: no free prefix in the pool")

// FreePrefixes returns the blocks of pool not covered by used, as the
// fewest CIDRs (netaddr's IPSet.iter_cidrs), in address order. pool and
// used must be of one family; used prefixes outside pool are ignored.
func FreePrefixes(pool, used []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range pool {
		out = append(out, subtract(p.Masked(), used)...)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// subtract is p minus every prefix of used, split into CIDRs. The recursion
// halves p only where a used prefix cuts it, so it is at most 128 deep and
// yields O(len(used)·128) blocks.
func subtract(p netip.Prefix, used []netip.Prefix) []netip.Prefix {
	cut := false
	for _, u := range used {
		if !u.Overlaps(p) {
			continue
		}
		if u.Bits() <= p.Bits() {
			return nil // u covers p
		}
		cut = true
	}
	if !cut {
		return []netip.Prefix{p}
	}
	lo, hi := halves(p)
	return append(subtract(lo, used), subtract(hi, used)...)
}

// halves splits p into its two sub-prefixes one bit longer.
func halves(p netip.Prefix) (lo, hi netip.Prefix) {
	b := p.Bits() + 1
	lo = netip.PrefixFrom(p.Addr(), b)
	width := p.Addr().BitLen()
	h, l := u128(p.Addr())
	shift := width - b // the bit that tells the halves apart, from the right
	if shift >= 64 {
		h |= 1 << (shift - 64)
	} else {
		l |= 1 << shift
	}
	return lo, netip.PrefixFrom(fromU128(h, l, p.Addr().Is4()), b)
}

// PickPrefix chooses a free /length block of pool, as Neutron's
// _allocate_any_subnet does: the smallest free block that can hold it (best
// fit, keeping large blocks whole), and the first /length inside it.
func PickPrefix(pool, used []netip.Prefix, length int) (netip.Prefix, error) {
	free := FreePrefixes(pool, used)
	slices.SortStableFunc(free, func(a, b netip.Prefix) int { return b.Bits() - a.Bits() })
	for _, f := range free {
		if f.Bits() <= length && length <= f.Addr().BitLen() {
			return netip.PrefixFrom(f.Addr(), length), nil
		}
	}
	return netip.Prefix{}, ErrNoPrefix
}

// PrefixFree reports whether want lies wholly inside one free block of
// pool (Neutron's _allocate_specific_subnet).
func PrefixFree(pool, used []netip.Prefix, want netip.Prefix) bool {
	want = want.Masked()
	for _, f := range FreePrefixes(pool, used) {
		if f.Bits() <= want.Bits() && f.Contains(want.Addr()) {
			return true
		}
	}
	return false
}

// EUI64Address is the address a port with MAC mac takes on an IPv6 subnet
// whose prefix is prefix and whose addresses are automatic (SLAAC or
// DHCPv6-stateless): the prefix's network address plus the modified EUI-64
// interface id (RFC 4291 appendix A; oslo's get_ipv6_addr_by_EUI64).
func EUI64Address(prefix netip.Prefix, mac string) (netip.Addr, error) {
	if !prefix.Addr().Is6() || prefix.Addr().Is4In6() {
		return netip.Addr{}, errors.New("registry: EUI-64 needs an IPv6 prefix")
	}
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return netip.Addr{}, errors.New("registry: EUI-64 needs a 48-bit MAC address")
	}
	iid := uint64(hw[0]^0x02)<<56 | uint64(hw[1])<<48 | uint64(hw[2])<<40 | 0xfffe<<24 |
		uint64(hw[3])<<16 | uint64(hw[4])<<8 | uint64(hw[5])
	h, l := u128(prefix.Masked().Addr())
	l, carry := bits.Add64(l, iid, 0)
	return fromU128(h+carry, l, false), nil
}
