package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// burstFlavors are the sizes a burst asks for, in turn.
var burstFlavors = []proxies.Flavor{
	{ID: "b1", VCPUs: 1, RAMMB: 1024, DiskGB: 10},
	{ID: "b2", VCPUs: 2, RAMMB: 2048, DiskGB: 20},
	{ID: "b4", VCPUs: 4, RAMMB: 8192, DiskGB: 40},
}

// burstLayout syncs a federation with limited room into s: a local pool of
// 8 hosts (the last two in an aggregate holding vCPUs to ratio 1.0 and RAM
// to 1.0), and two public clouds with two zone pseudo-hosts each. Under the
// default ratios it holds far fewer than 1,000 burst servers.
func burstLayout(ctx context.Context, s *Scheduler) error {
	host := func(name, az string, vcpus, ram, disk int) proxies.Host {
		return proxies.Host{Name: name, AvailabilityZone: az, HypervisorType: "fake", Up: true, Enabled: true, VCPUs: vcpus, RAMMB: ram, DiskGB: disk}
	}
	var local []proxies.Host
	for i := range 8 {
		local = append(local, host(fmt.Sprintf("kvm-%d", i+1), "local", 16, 32768, 1000))
	}
	if err := s.SyncHosts(ctx, "local", local); err != nil {
		return err
	}
	if err := s.SyncHosts(ctx, "aws", []proxies.Host{host("aws:a", "us-east-1a", 64, 131072, 4000), host("aws:b", "us-east-1b", 32, 65536, 2000)}); err != nil {
		return err
	}
	if err := s.SyncHosts(ctx, "azure", []proxies.Host{host("azure:1", "westeurope-1", 48, 98304, 3000), host("azure:2", "westeurope-2", 16, 32768, 800)}); err != nil {
		return err
	}
	a, err := s.CreateAggregate(ctx, "strict", "", "uuid-strict", time.Now())
	if err != nil {
		return err
	}
	_, err = s.UpdateAggregate(ctx, a.ID, func(x *Aggregate) error {
		x.Hosts = append(x.Hosts, "kvm-7", "kvm-8")
		x.Metadata["cpu_allocation_ratio"] = "1.0"
		x.Metadata["ram_allocation_ratio"] = "1.0"
		return nil
	})
	return err
}

// burstResult is what each server of a burst got.
type burstResult struct {
	req     Request
	placed  Placement
	err     error
	latency time.Duration
}

// burst places n servers at once, server i through scheds[i%len(scheds)],
// with ids prefixed by tag.
func burst(ctx context.Context, scheds []*Scheduler, n int, tag string) []burstResult {
	out := make([]burstResult, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		out[i].req = Request{ServerID: fmt.Sprintf("%s-%04d", tag, i), ProjectID: "p", Flavor: burstFlavors[i%len(burstFlavors)]}
		wg.Go(func() {
			<-start
			t0 := time.Now()
			out[i].placed, out[i].err = scheds[i%len(scheds)].Place(ctx, out[i].req)
			out[i].latency = time.Since(t0)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// TestBurstTwoSchedulers is the burst of issue 9: two schedulers, as two
// gateway processes with their own connections, over one real Redis, place
// 1,000 servers at once over a federation with room for far fewer, then
// release a third of them while 300 more arrive. After each phase: no host
// is over its capacity under its own ratios, each host's usage is the sum
// of its claims, every server is placed exactly once (one claim, where
// Place said) or refused (no claim), and a refused server had really no
// room left (phase one only frees nothing, so no host may fit it at the end).
func TestBurstTwoSchedulers(t *testing.T) {
	reg, prefix := backends(t)["redis-server"](t)
	ctx := t.Context()
	reg2, err := registry.Open(ctx, registry.Options{URL: realRedisURL})
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()
	a, b := New(reg, Options{KeyPrefix: prefix}), New(reg2, Options{KeyPrefix: prefix})
	if err := burstLayout(ctx, a); err != nil {
		t.Fatal(err)
	}
	scheds := []*Scheduler{a, b}

	first := burst(ctx, scheds, 1000, "burst")
	placed := checkBurst(t, a, first, nil)
	if placed == 0 || placed == len(first) {
		t.Fatalf("%d of %d placed: the layout must both take and refuse servers", placed, len(first))
	}
	snap, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range first {
		if r.err != nil && len(Decide(snap, r.req, a.filters, a.weighers)) > 0 {
			t.Errorf("%s (flavor %s) was refused, yet a host still has room for it", r.req.ServerID, r.req.Flavor.ID)
		}
	}
	t.Logf("phase 1: %d of %d placed", placed, len(first))

	// Phase 2: release every third placed server while 300 new ones arrive.
	var released []string
	for i, r := range first {
		if r.err == nil && i%3 == 0 {
			released = append(released, r.req.ServerID)
		}
	}
	var wg sync.WaitGroup
	relErrs := make([]error, len(released))
	for i, id := range released {
		wg.Go(func() { relErrs[i] = scheds[i%2].Release(ctx, id) })
	}
	second := burst(ctx, scheds, 300, "late")
	wg.Wait()
	for i, err := range relErrs {
		if err != nil {
			t.Errorf("release %s: %v", released[i], err)
		}
	}
	gone := map[string]bool{}
	for _, id := range released {
		gone[id] = true
	}
	var kept []burstResult
	for _, r := range first {
		if !gone[r.req.ServerID] {
			kept = append(kept, r)
		}
	}
	placed2 := checkBurst(t, a, append(kept, second...), gone)
	if snap, err = a.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	fitNow := 0
	for _, r := range second {
		if r.err != nil && len(Decide(snap, r.req, a.filters, a.weighers)) > 0 {
			fitNow++
		}
	}
	t.Logf("phase 2: %d refused late servers would fit now", fitNow)
	t.Logf("phase 2: %d released, %d of %d late servers placed, %d claims held", len(released), placed2-(placed-len(released)), len(second), placed2)
}

// checkBurst checks the invariants over the registry after a burst and
// returns how many servers hold a placement. results are the servers that
// should hold what Place answered; released ones must hold nothing.
func checkBurst(t *testing.T, s *Scheduler, results []burstResult, released map[string]bool) int {
	t.Helper()
	ctx := t.Context()
	claims, err := s.Claims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byServer := map[string]Claim{}
	for _, c := range claims {
		if _, dup := byServer[c.ServerID]; dup {
			t.Errorf("server %s holds two claims", c.ServerID)
		}
		byServer[c.ServerID] = c
	}
	placed := 0
	want := map[string]proxies.Flavor{} // claimed flavor by server
	for _, r := range results {
		c, held := byServer[r.req.ServerID]
		switch {
		case r.err == nil:
			placed++
			want[r.req.ServerID] = r.req.Flavor
			if !held || c.Cloud != r.placed.Cloud || c.Host != r.placed.Host {
				t.Errorf("%s: Place answered %s/%s, the claim is %+v (held %v)", r.req.ServerID, r.placed.Cloud, r.placed.Host, c, held)
			}
		case errors.Is(r.err, ErrNoValidHost):
			if held {
				t.Errorf("%s was refused but holds a claim on %s/%s", r.req.ServerID, c.Cloud, c.Host)
			}
		default:
			t.Errorf("%s: %v", r.req.ServerID, r.err)
		}
	}
	for id := range released {
		if c, held := byServer[id]; held {
			t.Errorf("released %s still holds a claim on %s/%s", id, c.Cloud, c.Host)
		}
	}
	if len(claims) != placed {
		t.Errorf("%d claims are held for %d placed servers (a claim leaked or was lost)", len(claims), placed)
	}
	// Usage is the sum of the claims, and within capacity × ratio.
	sum := map[string][3]int{}
	for id, f := range want {
		c := byServer[id]
		u := sum[HostKey(c.Cloud, c.Host)]
		sum[HostKey(c.Cloud, c.Host)] = [3]int{u[0] + f.VCPUs, u[1] + f.RAMMB, u[2] + f.DiskGB}
	}
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range snap.Hosts {
		u := sum[HostKey(h.Cloud, h.Host)]
		if h.UsedVCPUs != u[0] || h.UsedRAMMB != u[1] || h.UsedDiskGB != u[2] {
			t.Errorf("%s/%s uses %d vCPU %d MB %d GB; its claims sum to %v", h.Cloud, h.Host, h.UsedVCPUs, h.UsedRAMMB, h.UsedDiskGB, u)
		}
		cpu, ram, disk := hostRatios(&h, s.cpuR, s.ramR, s.diskR)
		if float64(h.UsedVCPUs) > float64(h.VCPUs)*cpu || float64(h.UsedRAMMB) > float64(h.RAMMB)*ram ||
			float64(h.UsedDiskGB) > float64(h.DiskGB)*disk {
			t.Errorf("%s/%s is over capacity: %d/%d vCPU ×%v, %d/%d MB ×%v, %d/%d GB ×%v", h.Cloud, h.Host,
				h.UsedVCPUs, h.VCPUs, cpu, h.UsedRAMMB, h.RAMMB, ram, h.UsedDiskGB, h.DiskGB, disk)
		}
	}
	return placed
}

// BenchmarkBurst places 1,000 servers at once through two schedulers over
// one registry (the real Redis named by CANOPY_BENCH_REDIS, else the
// in-memory dev server), and reports placements per second and the p99 of
// one Place under that load.
func BenchmarkBurst(b *testing.B) {
	ctx := context.Background()
	open := benchRegistry(b)
	var all []time.Duration
	placed, refused := 0, 0
	var elapsed time.Duration
	round := 0
	for range b.N {
		b.StopTimer()
		reg1, reg2, prefix, done := open(round)
		round++
		s1, s2 := New(reg1, Options{KeyPrefix: prefix}), New(reg2, Options{KeyPrefix: prefix})
		if err := burstLayout(ctx, s1); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		res := burst(ctx, []*Scheduler{s1, s2}, 1000, "bench")
		elapsed += time.Since(t0)
		b.StopTimer()
		for _, r := range res {
			switch {
			case r.err == nil:
				placed++
			case errors.Is(r.err, ErrNoValidHost):
				refused++
			default:
				b.Fatal(r.err)
			}
			all = append(all, r.latency)
		}
		done()
		b.StartTimer()
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "places/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(math.Round(float64(placed)/float64(b.N)), "placed/burst")
	b.ReportMetric(math.Round(float64(refused)/float64(b.N)), "refused/burst")
}

// benchRegistry opens, per round, two registry connections (two "gateway
// processes") and a fresh key prefix: on the Redis CANOPY_BENCH_REDIS names
// (make bench sets it when one answers), else on an in-memory dev server.
// done deletes the round's keys and closes both.
func benchRegistry(b *testing.B) func(round int) (r1, r2 *registry.Registry, prefix string, done func()) {
	ctx := context.Background()
	url := os.Getenv("CANOPY_BENCH_REDIS")
	return func(round int) (*registry.Registry, *registry.Registry, string, func()) {
		if url == "" {
			dev, err := registry.StartDevServer(nil)
			if err != nil {
				b.Fatal(err)
			}
			r1, err1 := dev.Open(ctx)
			r2, err2 := dev.Open(ctx)
			if err := errors.Join(err1, err2); err != nil {
				b.Fatal(err)
			}
			return r1, r2, "", func() { r1.Close(); r2.Close(); dev.Close() }
		}
		r1, err1 := registry.Open(ctx, registry.Options{URL: url})
		r2, err2 := registry.Open(ctx, registry.Options{URL: url})
		if err := errors.Join(err1, err2); err != nil {
			b.Fatal(err)
		}
		prefix := "schedburst-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(round) + ":"
		return r1, r2, prefix, func() {
			iter := r1.Client().Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				r1.Client().Del(ctx, iter.Val())
			}
			r1.Close()
			r2.Close()
		}
	}
}
