package registry

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/redis/go-redis/v9"
)

// Typed errors of the address allocator.
var (
	// ErrIPInUse means a requested address is already allocated.
	ErrIPInUse = errors.New("registry: IP address already allocated")
	// ErrIPExhausted means a subnet's allocation pools have no free address.
	ErrIPExhausted = errors.New("registry: no more IP addresses available")
	// ErrIPOutOfRange means an address is not inside the subnet.
	ErrIPOutOfRange = errors.New("registry: IP address not in subnet")
)

// maxPoolOffsets caps the offsets an allocator walks (an IPv6 /64 has 2^64
// addresses, more than Redis' 64-bit signed counter); a subnet never gets
// anywhere near it.
const maxPoolOffsets = uint64(1) << 62

// SubnetIPs is the address allocator of one subnet. Its state lives in three
// keys in the subnet's project slot, so every step is atomic in Redis (and in
// one Cluster slot):
//
//   - alloc: hash address → owner (port id), the one arbiter of who holds
//     what (HSETNX);
//   - free: list of released addresses, reused oldest first;
//   - next: counter of pool offsets handed out so far.
//
// An allocation pops the free list or takes the next offset; nothing is ever
// materialised, so a /16 or an IPv6 /64 costs the same as a /29.
type SubnetIPs struct {
	rdb                 redis.UniversalClient
	alloc, free, cursor string
	prefix              netip.Prefix
	pools               []ipRange
	capacity            uint64
	// deferred are the pool offsets (ascending) of the IPv4 addresses the
	// public clouds keep for themselves in every subnet: AWS and Azure
	// reserve the network address, the next three (router, DNS, future
	// use) and the broadcast address. The network and gateway addresses
	// are outside Neutron's default pool; x.x.x.2, x.x.x.3 and the last are
	// handed out only when nothing else is left, so a port allocated here
	// can be realised on those clouds. Neutron promises no order, so
	// clients see nothing but addresses those clouds accept.
	deferred []uint64
}

type ipRange struct {
	startHi, startLo uint64
	size             uint64
	is4              bool
}

// IPRange is an inclusive range of addresses (a Neutron allocation pool).
type IPRange struct{ Start, End netip.Addr }

// SubnetIPs returns the allocator of subnet id of project, whose CIDR is
// prefix and whose allocation pools are pools (inclusive ranges inside prefix).
func (r *Registry) SubnetIPs(project, subnetID string, prefix netip.Prefix, pools []IPRange) (*SubnetIPs, error) {
	a := &SubnetIPs{
		rdb:    r.rdb,
		alloc:  Key(project, "ipam", subnetID, "alloc"),
		free:   Key(project, "ipam", subnetID, "free"),
		cursor: Key(project, "ipam", subnetID, "next"),
		prefix: prefix.Masked(),
	}
	for _, p := range pools {
		if !a.prefix.Contains(p.Start) || !a.prefix.Contains(p.End) || p.End.Less(p.Start) {
			return nil, fmt.Errorf("registry: allocation pool %s-%s outside %s: %w", p.Start, p.End, prefix, ErrIPOutOfRange)
		}
		sh, sl := u128(p.Start)
		eh, el := u128(p.End)
		dl, borrow := bits.Sub64(el, sl, 0)
		dh, _ := bits.Sub64(eh, sh, borrow)
		size := maxPoolOffsets
		if dh == 0 && dl < maxPoolOffsets {
			size = dl + 1
		}
		a.pools = append(a.pools, ipRange{startHi: sh, startLo: sl, size: size, is4: p.Start.Is4()})
		a.capacity += size
		if a.capacity > maxPoolOffsets {
			a.capacity = maxPoolOffsets
		}
	}
	if a.prefix.Addr().Is4() {
		base := a.prefix.Addr()
		for _, ip := range []netip.Addr{base.Next().Next(), base.Next().Next().Next(), lastOf(a.prefix)} {
			if off, ok := a.offsetOf(ip); ok && a.prefix.Contains(ip) && !slices.Contains(a.deferred, off) {
				a.deferred = append(a.deferred, off)
			}
		}
		slices.Sort(a.deferred)
	}
	return a, nil
}

// lastOf is the last address of an IPv4 prefix (its broadcast address).
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	if p.Bits() == 0 {
		host = ^uint32(0)
	}
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// offsetOf is ip's natural offset in the pools (pool order).
func (a *SubnetIPs) offsetOf(ip netip.Addr) (uint64, bool) {
	h, l := u128(ip)
	var base uint64
	for _, p := range a.pools {
		if p.is4 == ip.Is4() {
			dl, borrow := bits.Sub64(l, p.startLo, 0)
			dh, borrow2 := bits.Sub64(h, p.startHi, borrow)
			if borrow2 == 0 && dh == 0 && dl < p.size {
				return base + dl, true
			}
		}
		base += p.size
	}
	return 0, false
}

var (
	allocScript = redis.NewScript(`
while true do
  local ip = redis.call('LPOP', KEYS[2])
  if not ip then break end
  if redis.call('HSETNX', KEYS[1], ip, ARGV[1]) == 1 then return ip end
end
return redis.call('INCR', KEYS[3])`)
	releaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  if ARGV[3] == '1' then redis.call('RPUSH', KEYS[2], ARGV[1]) end
  return 1
end
return 0`)
)

// Allocate takes a free address from the pools for owner.
func (a *SubnetIPs) Allocate(ctx context.Context, owner string) (netip.Addr, error) {
	keys := []string{a.alloc, a.free, a.cursor}
	for {
		res, err := allocScript.Run(ctx, a.rdb, keys, owner).Result()
		if err != nil {
			return netip.Addr{}, err
		}
		switch v := res.(type) {
		case string:
			return netip.ParseAddr(v)
		case int64:
			off := uint64(v - 1)
			if v < 1 || off >= a.capacity {
				return netip.Addr{}, ErrIPExhausted
			}
			ip := a.addrAt(off)
			ok, err := a.rdb.HSetNX(ctx, a.alloc, ip.String(), owner).Result()
			if err != nil {
				return netip.Addr{}, err
			}
			if ok {
				return ip, nil
			}
			// Held by an explicit reservation: take the next offset.
		default:
			return netip.Addr{}, fmt.Errorf("registry: unexpected allocator answer %v", res)
		}
	}
}

// Reserve allocates a specific address (inside the subnet, not necessarily
// inside a pool) for owner. Reserving an address owner already holds succeeds.
func (a *SubnetIPs) Reserve(ctx context.Context, ip netip.Addr, owner string) error {
	if !a.prefix.Contains(ip) {
		return ErrIPOutOfRange
	}
	ok, err := a.rdb.HSetNX(ctx, a.alloc, ip.String(), owner).Result()
	if err != nil || ok {
		return err
	}
	cur, err := a.rdb.HGet(ctx, a.alloc, ip.String()).Result()
	if err == nil && cur == owner {
		return nil
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return ErrIPInUse
}

// Release frees ip if owner holds it. Releasing what owner does not hold is a
// no-op, so a retried release is safe.
func (a *SubnetIPs) Release(ctx context.Context, ip netip.Addr, owner string) error {
	reuse := "0"
	if a.inPools(ip) {
		reuse = "1"
	}
	return releaseScript.Run(ctx, a.rdb, []string{a.alloc, a.free}, ip.String(), owner, reuse).Err()
}

// InUse counts the allocated addresses.
func (a *SubnetIPs) InUse(ctx context.Context) (int64, error) {
	return a.rdb.HLen(ctx, a.alloc).Result()
}

// Owner returns who holds ip ("" when free).
func (a *SubnetIPs) Owner(ctx context.Context, ip netip.Addr) (string, error) {
	o, err := a.rdb.HGet(ctx, a.alloc, ip.String()).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return o, err
}

// Drop removes the allocator's state (when its subnet is deleted).
func (a *SubnetIPs) Drop(ctx context.Context) error {
	return a.rdb.Del(ctx, a.alloc, a.free, a.cursor).Err()
}

// Capacity is the number of addresses in the pools (capped at 2^62).
func (a *SubnetIPs) Capacity() uint64 { return a.capacity }

// addrAt is the address handed out at allocation offset off: the pools in
// order, the deferred addresses last.
func (a *SubnetIPs) addrAt(off uint64) netip.Addr {
	if len(a.deferred) > 0 {
		n := a.capacity - uint64(len(a.deferred))
		if off >= n {
			if i := off - n; i < uint64(len(a.deferred)) {
				return a.naturalAt(a.deferred[i])
			}
			return netip.Addr{}
		}
		for _, d := range a.deferred {
			if d <= off {
				off++
			}
		}
	}
	return a.naturalAt(off)
}

// naturalAt is the address at offset off of the pools in order.
func (a *SubnetIPs) naturalAt(off uint64) netip.Addr {
	for _, p := range a.pools {
		if off < p.size {
			lo, carry := bits.Add64(p.startLo, off, 0)
			return fromU128(p.startHi+carry, lo, p.is4)
		}
		off -= p.size
	}
	return netip.Addr{}
}

func (a *SubnetIPs) inPools(ip netip.Addr) bool {
	h, l := u128(ip)
	for _, p := range a.pools {
		if p.is4 != ip.Is4() {
			continue
		}
		dl, borrow := bits.Sub64(l, p.startLo, 0)
		dh, borrow2 := bits.Sub64(h, p.startHi, borrow)
		if borrow2 == 0 && dh == 0 && dl < p.size {
			return true
		}
	}
	return false
}

func u128(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[i+8])
	}
	return hi, lo
}

func fromU128(hi, lo uint64, is4 bool) netip.Addr {
	var b [16]byte
	for i := 7; i >= 0; i-- {
		b[i] = byte(hi)
		b[i+8] = byte(lo)
		hi >>= 8
		lo >>= 8
	}
	a := netip.AddrFrom16(b)
	if is4 {
		return a.Unmap()
	}
	return a
}

// Allocated returns every allocated address (as text) and its owner.
func (a *SubnetIPs) Allocated(ctx context.Context) (map[string]string, error) {
	return a.rdb.HGetAll(ctx, a.alloc).Result()
}

// InPools reports whether ip is inside the allocator's pools.
func (a *SubnetIPs) InPools(ip netip.Addr) bool { return a.inPools(ip) }

// Repool moves the allocator's state to pools (the subnet's pools
// changed; a is the allocator of the new pools): released addresses
// outside them leave the free list and the cursor restarts at the first
// pool, so new ranges are reachable. The alloc hash keeps arbitrating every
// address, so addresses already held are skipped, never handed out twice.
func (a *SubnetIPs) Repool(ctx context.Context) error {
	free, err := a.rdb.LRange(ctx, a.free, 0, -1).Result()
	if err != nil {
		return err
	}
	pipe := a.rdb.TxPipeline()
	for _, s := range free {
		if ip, err := netip.ParseAddr(s); err != nil || !a.inPools(ip) {
			pipe.LRem(ctx, a.free, 0, s)
		}
	}
	pipe.Set(ctx, a.cursor, 0, 0)
	_, err = pipe.Exec(ctx)
	return err
}
