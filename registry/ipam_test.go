package registry_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"

	"github.com/canopy-cloud/canopy/registry"
)

// ipamRegistries are the backends the allocator tests run on: the dev
// in-memory server and the real redis-server, where each test uses a random
// project so it never touches anyone else's keys.
func ipamRegistries(t *testing.T) map[string]*registry.Registry {
	t.Helper()
	out := map[string]*registry.Registry{}
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	r, err := dev.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	out["dev"] = r

	url := os.Getenv("CANOPY_TEST_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/9"
	}
	real, err := registry.Open(context.Background(), registry.Options{URL: url})
	switch {
	case err == nil:
		t.Cleanup(func() { real.Close() })
		out["redis"] = real
	case os.Getenv("CI") != "":
		t.Fatalf("real redis required in CI: %v", err)
	default:
		t.Logf("no redis-server at %s (%v): running on the dev server only", url, err)
	}
	return out
}

func randomProject(t *testing.T) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "ipamtest-" + hex.EncodeToString(b[:])
}

func allocator(t *testing.T, r *registry.Registry, project, cidr string, pools ...string) *registry.SubnetIPs {
	t.Helper()
	pfx := netip.MustParsePrefix(cidr)
	var rs []registry.IPRange
	for i := 0; i+1 < len(pools); i += 2 {
		rs = append(rs, registry.IPRange{Start: netip.MustParseAddr(pools[i]), End: netip.MustParseAddr(pools[i+1])})
	}
	a, err := r.SubnetIPs(project, "sub-"+cidr, pfx, rs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Drop(context.Background()) })
	return a
}

func TestSubnetIPsSequence(t *testing.T) {
	ctx := context.Background()
	for name, r := range ipamRegistries(t) {
		t.Run(name, func(t *testing.T) {
			cases := []struct {
				name  string
				cidr  string
				pools []string
				want  []string
			}{
				{"ipv4 /29: the addresses AWS and Azure keep come last", "10.0.0.0/29", []string{"10.0.0.2", "10.0.0.7"}, []string{"10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.2", "10.0.0.3", "10.0.0.7"}},
				{"two pools", "10.1.0.0/24", []string{"10.1.0.10", "10.1.0.11", "10.1.0.200", "10.1.0.200"}, []string{"10.1.0.10", "10.1.0.11", "10.1.0.200"}},
				{"pool outside the prefix", "fd00::/64", []string{"fd00::ffff:ffff:ffff:fffe", "fd00:0:0:1::5"}, nil},
				{"ipv6 pool crossing a 64-bit word", "fd00::/63", []string{"fd00::ffff:ffff:ffff:fffe", "fd00:0:0:1::5"}, []string{"fd00::ffff:ffff:ffff:fffe", "fd00::ffff:ffff:ffff:ffff", "fd00:0:0:1::"}},
				{"ipv6 /64", "fd00:1::/64", []string{"fd00:1::2", "fd00:1::ffff:ffff:ffff:ffff"}, []string{"fd00:1::2", "fd00:1::3", "fd00:1::4"}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					if tc.want == nil {
						pfx := netip.MustParsePrefix(tc.cidr)
						_, err := r.SubnetIPs(randomProject(t), "x", pfx, []registry.IPRange{{Start: netip.MustParseAddr(tc.pools[0]), End: netip.MustParseAddr(tc.pools[1])}})
						if !errors.Is(err, registry.ErrIPOutOfRange) {
							t.Fatalf("pool outside the prefix: %v", err)
						}
						return
					}
					a := allocator(t, r, randomProject(t), tc.cidr, tc.pools...)
					for i, w := range tc.want {
						got, err := a.Allocate(ctx, fmt.Sprintf("port%d", i))
						if err != nil || got.String() != w {
							t.Fatalf("allocation %d = %v %v, want %s", i, got, err, w)
						}
					}
					if int(a.Capacity()) == len(tc.want) {
						if _, err := a.Allocate(ctx, "extra"); !errors.Is(err, registry.ErrIPExhausted) {
							t.Fatalf("full pool: %v, want ErrIPExhausted", err)
						}
					}
				})
			}
		})
	}
}

func TestSubnetIPsReserveRelease(t *testing.T) {
	ctx := context.Background()
	for name, r := range ipamRegistries(t) {
		t.Run(name, func(t *testing.T) {
			a := allocator(t, r, randomProject(t), "192.168.0.0/29", "192.168.0.2", "192.168.0.4")
			ip3 := netip.MustParseAddr("192.168.0.3")
			if err := a.Reserve(ctx, ip3, "p1"); err != nil {
				t.Fatal(err)
			}
			if err := a.Reserve(ctx, ip3, "p1"); err != nil {
				t.Fatalf("idempotent reserve: %v", err)
			}
			if err := a.Reserve(ctx, ip3, "p2"); !errors.Is(err, registry.ErrIPInUse) {
				t.Fatalf("reserve taken address: %v", err)
			}
			if err := a.Reserve(ctx, netip.MustParseAddr("192.168.1.1"), "p2"); !errors.Is(err, registry.ErrIPOutOfRange) {
				t.Fatalf("reserve outside subnet: %v", err)
			}
			// The allocator skips the reserved .3 (and hands out .2, which
			// AWS and Azure keep, after .4).
			got := []string{}
			for _, o := range []string{"a", "b"} {
				ip, err := a.Allocate(ctx, o)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ip.String())
			}
			if fmt.Sprint(got) != "[192.168.0.4 192.168.0.2]" {
				t.Fatalf("allocations around a reservation: %v", got)
			}
			if _, err := a.Allocate(ctx, "c"); !errors.Is(err, registry.ErrIPExhausted) {
				t.Fatalf("full: %v", err)
			}
			// A release by the wrong owner does nothing; by the right one frees.
			must(t, a.Release(ctx, ip3, "not-owner"))
			if o, _ := a.Owner(ctx, ip3); o != "p1" {
				t.Fatalf("release by a stranger freed the address: owner %q", o)
			}
			must(t, a.Release(ctx, ip3, "p1"))
			must(t, a.Release(ctx, ip3, "p1"))
			ip, err := a.Allocate(ctx, "c")
			if err != nil || ip != ip3 {
				t.Fatalf("released address not reused: %v %v", ip, err)
			}
			if n, _ := a.InUse(ctx); n != 3 {
				t.Fatalf("in use = %d, want 3", n)
			}
		})
	}
}

// TestSubnetIPsParallel is the guarantee port creation relies on: many
// concurrent allocations on one subnet never hand out one address twice.
func TestSubnetIPsParallel(t *testing.T) {
	ctx := context.Background()
	for name, r := range ipamRegistries(t) {
		for _, cidr := range []string{"10.20.0.0/24", "10.30.0.0/16", "fd00:20::/64"} {
			t.Run(name+" "+cidr, func(t *testing.T) {
				pfx := netip.MustParsePrefix(cidr)
				a, err := r.SubnetIPs(randomProject(t), "par", pfx, []registry.IPRange{{Start: pfx.Addr().Next().Next(), End: lastAddr(pfx)}})
				must(t, err)
				t.Cleanup(func() { _ = a.Drop(ctx) })
				const n = 100
				got := make([]netip.Addr, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ip, err := a.Allocate(ctx, fmt.Sprintf("port-%d", i))
						if err != nil {
							t.Error(err)
						}
						got[i] = ip
					}()
				}
				wg.Wait()
				seen := map[netip.Addr]bool{}
				for _, ip := range got {
					if seen[ip] || !pfx.Contains(ip) {
						t.Fatalf("duplicate or foreign address %v", ip)
					}
					seen[ip] = true
				}
				if c, _ := a.InUse(ctx); c != n {
					t.Fatalf("in use = %d, want %d", c, n)
				}
			})
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bitsLeft := len(b)*8 - p.Bits()
	for i := len(b) - 1; i >= 0 && bitsLeft > 0; i-- {
		n := min(bitsLeft, 8)
		b[i] |= byte(1<<n - 1)
		bitsLeft -= n
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
