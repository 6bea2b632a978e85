package scheduler

import (
	"cmp"
	"math"
	mrand "math/rand/v2"
	"slices"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
)

var small = proxies.Flavor{ID: "s", Name: "small", VCPUs: 2, RAMMB: 2048, DiskGB: 20}

// host is a 4 vCPU, 4 GB, 40 GB host in az1, up and enabled, with usage.
func host(name string, usedV, usedR, usedD int) HostState {
	return HostState{Cloud: "local", Host: name, AvailabilityZone: "az1", Up: true, Enabled: true,
		VCPUs: 4, RAMMB: 4096, DiskGB: 40, UsedVCPUs: usedV, UsedRAMMB: usedR, UsedDiskGB: usedD}
}

func TestFilters(t *testing.T) {
	nova := CapacityFilter{CPURatio: 16, RAMRatio: 1.5, DiskRatio: 1}
	strict := CapacityFilter{CPURatio: 1, RAMRatio: 1, DiskRatio: 1}
	down, disabled, az2 := host("h", 0, 0, 0), host("h", 0, 0, 0), host("h", 0, 0, 0)
	down.Up, disabled.Enabled, az2.AvailabilityZone = false, false, "az2"
	cases := []struct {
		name   string
		filter Filter
		host   HostState
		req    Request
		want   bool
	}{
		{"az: any zone requested", AvailabilityZoneFilter{}, az2, Request{}, true},
		{"az: same zone", AvailabilityZoneFilter{}, host("h", 0, 0, 0), Request{AvailabilityZone: "az1"}, true},
		{"az: other zone", AvailabilityZoneFilter{}, az2, Request{AvailabilityZone: "az1"}, false},
		{"compute: up and enabled", ComputeFilter{}, host("h", 0, 0, 0), Request{}, true},
		{"compute: down", ComputeFilter{}, down, Request{}, false},
		{"compute: disabled", ComputeFilter{}, disabled, Request{}, false},
		{"capacity: empty host", nova, host("h", 0, 0, 0), Request{Flavor: small}, true},
		{"capacity: ram exactly at 1.5x", nova, host("h", 0, 4096, 0), Request{Flavor: small}, true},
		{"capacity: ram over 1.5x by 1 MB", nova, host("h", 0, 4097, 0), Request{Flavor: small}, false},
		{"capacity: vcpu at 16x", nova, host("h", 62, 0, 0), Request{Flavor: small}, true},
		{"capacity: vcpu over 16x", nova, host("h", 63, 0, 0), Request{Flavor: small}, false},
		{"capacity: disk not overcommitted", nova, host("h", 0, 0, 21), Request{Flavor: small}, false},
		{"capacity: strict ratios refuse overcommit", strict, host("h", 3, 0, 0), Request{Flavor: small}, false},
		{"capacity: zero flavor fits a full host", nova, host("h", 64, 6144, 40), Request{}, true},
		{"forced: nothing forced", ForcedHostFilter{}, host("h1", 0, 0, 0), Request{}, true},
		{"forced: this host", ForcedHostFilter{}, host("h1", 0, 0, 0), Request{ForceHost: "h1"}, true},
		{"forced: another host", ForcedHostFilter{}, host("h1", 0, 0, 0), Request{ForceHost: "h2"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.filter.Pass(c.host, c.req); got != c.want {
				t.Errorf("%s.Pass = %v; want %v", c.filter.Name(), got, c.want)
			}
		})
	}
}

func TestRAMWeigher(t *testing.T) {
	cases := []struct {
		name  string
		w     Weigher
		hosts []HostState
		want  []string // best first
	}{
		{"spread prefers free RAM", RAMWeigher{Mult: 1},
			[]HostState{host("a", 0, 3000, 0), host("b", 0, 1000, 0), host("c", 0, 2000, 0)}, []string{"b", "c", "a"}},
		{"negative multiplier stacks", RAMWeigher{Mult: -1},
			[]HostState{host("a", 0, 3000, 0), host("b", 0, 1000, 0), host("c", 0, 2000, 0)}, []string{"a", "c", "b"}},
		{"ties keep the snapshot order", RAMWeigher{Mult: 1},
			[]HostState{host("b", 0, 0, 0), host("a", 0, 0, 0)}, []string{"b", "a"}},
		{"zero multiplier is no preference", RAMWeigher{Mult: 0},
			[]HostState{host("b", 0, 3000, 0), host("a", 0, 0, 0)}, []string{"b", "a"}},
		{"weighers add up", multi{RAMWeigher{Mult: 1}, RAMWeigher{Mult: 2}},
			[]HostState{host("a", 0, 3000, 0), host("b", 0, 1000, 0)}, []string{"b", "a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ws := []Weigher{c.w}
			if m, ok := c.w.(multi); ok {
				ws = m
			}
			got := Decide(Snapshot{Hosts: c.hosts}, Request{}, nil, ws)
			if len(got) != len(c.want) {
				t.Fatalf("%d candidates; want %d", len(got), len(c.want))
			}
			for i, name := range c.want {
				if got[i].Host != name {
					t.Errorf("rank %d = %s (weight %.3f); want %s", i, got[i].Host, got[i].Weight, name)
				}
			}
		})
	}
	if w := (RAMWeigher{}).Weigh(host("a", 0, 1000, 0), Request{}); w != 3096 {
		t.Errorf("RAMWeigher.Weigh = %v; want 3096 MB free", w)
	}
}

// multi lets a table case carry several weighers.
type multi []Weigher

func (multi) Name() string                     { return "multi" }
func (multi) Weigh(HostState, Request) float64 { return 0 }

// TestRankByWeight checks the radix and bucket rankings against a stable comparison sort
// on awkward weights: negatives, zeros of both signs, duplicates, huge values.
func TestRankByWeight(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	special := []float64{0, math.Copysign(0, -1), -1, 1, 1e300, -1e300, 0.5, 0.5, math.SmallestNonzeroFloat64}
	for round := range 50 {
		n := 1 + r.IntN(300)
		in := make([]ranked, n)
		for i := range in {
			w := r.NormFloat64() * 1000
			if r.IntN(4) == 0 {
				w = special[r.IntN(len(special))]
			}
			in[i] = ranked{idx: i, weight: w}
		}
		want := slices.Clone(in)
		slices.SortStableFunc(want, func(a, b ranked) int { return cmp.Compare(b.weight, a.weight) })
		for name, rank := range map[string]func([]ranked, *scratch) []ranked{"radix": rankByWeight, "buckets": rankByBuckets} {
			got := rank(slices.Clone(in), new(scratch))
			for i := range want {
				if got[i].idx != want[i].idx {
					t.Fatalf("%s, round %d: rank %d is #%d (%v); want #%d (%v)", name, round, i, got[i].idx, got[i].weight, want[i].idx, want[i].weight)
				}
			}
		}
	}
}
