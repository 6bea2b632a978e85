package scheduler

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// bigSnapshot is n hosts over 4 zones with varied usage.
func bigSnapshot(n int) Snapshot {
	snap := Snapshot{Hosts: make([]HostState, n)}
	for i := range snap.Hosts {
		snap.Hosts[i] = HostState{Cloud: "local", Host: "sim-" + strconv.Itoa(i+1), AvailabilityZone: "az" + strconv.Itoa(i%4),
			HypervisorType: "fake", Up: i%97 != 0, Enabled: true, VCPUs: 64, RAMMB: 262144, DiskGB: 4000,
			UsedVCPUs: i % 64, UsedRAMMB: (i * 7919) % 262144, UsedDiskGB: i % 4000}
	}
	return snap
}

// BenchmarkDecide10k chooses among 10,000 candidates and reports the p99 of
// one decision (budget: 1 ms on 2 cores): "all" ranks and returns every
// candidate (what Explain uses), "top8" returns the 8 a placement tries.
func BenchmarkDecide10k(b *testing.B) {
	for _, n := range []int{0, 8} {
		name := "all"
		if n > 0 {
			name = "top" + strconv.Itoa(n)
		}
		b.Run(name, func(b *testing.B) { benchDecide(b, n) })
	}
}

func benchDecide(b *testing.B, n int) {
	snap := bigSnapshot(10000)
	req := Request{ServerID: "s", Flavor: proxies.Flavor{ID: "m", VCPUs: 2, RAMMB: 4096, DiskGB: 40}}
	filters, weighers := DefaultFilters(0, 0, 0), DefaultWeighers()
	lat := make([]time.Duration, 0, b.N)
	cpu := make([]time.Duration, 0, b.N)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		c0, ok0 := threadCPU()
		if len(DecideN(snap, req, filters, weighers, n)) == 0 {
			b.Fatal("no candidate")
		}
		c1, ok1 := threadCPU()
		lat = append(lat, time.Since(start))
		if ok0 && ok1 {
			cpu = append(cpu, c1-c0)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	// The same decisions in CPU time of the deciding thread: what a decision
	// costs, without the waits for a core that a busy machine adds to the
	// wall-clock figure (GC assists are in it; background GC work is not).
	if len(cpu) > 0 {
		slices.Sort(cpu)
		b.ReportMetric(float64(cpu[len(cpu)/2].Microseconds()), "p50-cpu-µs")
		b.ReportMetric(float64(cpu[len(cpu)*99/100].Microseconds()), "p99-cpu-µs")
	}
}

// BenchmarkPlace places and releases one server (snapshot, decide, claim,
// release) in the in-memory registry, over pools of several sizes.
func BenchmarkPlace(b *testing.B) {
	for _, c := range []struct {
		name string
		n    int
		real bool
	}{{"miniredis/hosts=4", 4, false}, {"miniredis/hosts=100", 100, false}, {"redis-server/hosts=4", 4, true}} {
		n := c.n
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			var reg *registry.Registry
			var err error
			prefix := ""
			if c.real {
				if reg, err = registry.Open(ctx, registry.Options{URL: realRedisURL}); err != nil {
					b.Skipf("no real Redis: %v", err)
				}
				prefix = "schedbench-" + strconv.Itoa(os.Getpid()) + ":"
				defer func() {
					iter := reg.Client().Scan(ctx, 0, prefix+"*", 1000).Iterator()
					for iter.Next(ctx) {
						reg.Client().Del(ctx, iter.Val())
					}
					reg.Close()
				}()
			} else {
				dev, err := registry.StartDevServer(nil)
				if err != nil {
					b.Fatal(err)
				}
				defer dev.Close()
				if reg, err = dev.Open(ctx); err != nil {
					b.Fatal(err)
				}
				defer reg.Close()
			}
			s := New(reg, Options{KeyPrefix: prefix})
			if err := s.SyncHosts(ctx, "local", simHosts(n, 262144)); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				id := "srv-" + strconv.Itoa(i)
				i++
				if _, err := s.Place(ctx, Request{ServerID: id, Flavor: gb}); err != nil {
					b.Fatal(err)
				}
				if err := s.Release(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
