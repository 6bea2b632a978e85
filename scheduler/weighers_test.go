package scheduler

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
)

func ptr(f float64) *float64 { return &f }

// weigherCases are decisions over federation() (plus, when the case prices
// clouds, a spot-priced aggregate on the AWS zone 1b) with the scheduler's options: cost, soft group policies and
// hints, each with its multipliers.
var weigherCases = []struct {
	name string
	opts Options
	req  Request
}{
	{"no prices: spread by free RAM", Options{}, plainReq(Hints{}, GroupHints{})},
	{"cloud prices, cost multiplier 1", Options{CloudCosts: map[string]float64{"aws": 0.05, "openstack": 0.02}},
		plainReq(Hints{}, GroupHints{})},
	{"cloud prices, cost multiplier 10: the cheapest cloud wins", Options{CloudCosts: map[string]float64{"aws": 0.05, "openstack": 0.02, "local": 0.03},
		CostWeightMultiplier: ptr(10)}, plainReq(Hints{}, GroupHints{})},
	{"cost switched off", Options{CloudCosts: map[string]float64{"aws": 0.05}, CostWeightMultiplier: ptr(0)},
		plainReq(Hints{}, GroupHints{})},
	{"RAM weigher inverted (stack), no prices", Options{RAMWeightMultiplier: ptr(-1)}, plainReq(Hints{}, GroupHints{})},
	{"soft-affinity: two members on kvm-2, one on aws 1b", Options{SoftAffinityWeightMultiplier: ptr(2)},
		plainReq(Hints{}, GroupHints{Policy: "soft-affinity", Hosts: []string{"local/kvm-2", "local/kvm-2", "aws/aws:us-east-1b"}})},
	{"soft-anti-affinity: members on gpu-1 and aws 1b", Options{SoftAntiAffinityWeightMultiplier: ptr(2)},
		plainReq(Hints{}, GroupHints{Policy: "soft-anti-affinity", Hosts: []string{"local/gpu-1", "aws/aws:us-east-1b"}})},
	{"hard affinity: members on kvm-1", Options{}, plainReq(Hints{}, GroupHints{Policy: "affinity", Hosts: []string{"local/kvm-1"}})},
	{"hard anti-affinity: members on gpu-1 and kvm-2", Options{},
		plainReq(Hints{}, GroupHints{Policy: "anti-affinity", Hosts: []string{"local/gpu-1", "local/kvm-2"}})},
	{"cloud hint: openstack", Options{}, plainReq(Hints{Cloud: "openstack"}, GroupHints{})},
	{"same_host: kvm-1 or the aws 1a zone", Options{}, plainReq(Hints{SameHost: []string{"local/kvm-1", "aws/aws:us-east-1a"}}, GroupHints{})},
	{"different_host: not gpu-1, not kvm-2", Options{}, plainReq(Hints{DifferentHost: []string{"local/gpu-1", "local/kvm-2"}}, GroupHints{})},
	{"refused: gpu-1 out of capacity, aws out of quota", Options{},
		plainReq(Hints{RefusedHosts: []string{"local/gpu-1"}, RefusedClouds: []string{"aws"}}, GroupHints{})},
}

func plainReq(h Hints, g GroupHints) Request {
	return Request{ServerID: "s", ProjectID: "proj-web", Flavor: proxies.Flavor{ID: "2", VCPUs: 2, RAMMB: 4096, DiskGB: 20}, Hints: h, Group: g}
}

// TestWeighersGolden renders each case's ranking (with every weigher's
// share) and rejections, and compares them with testdata/weighers.golden
// (go test -run WeighersGolden -update rewrites it).
func TestWeighersGolden(t *testing.T) {
	var b strings.Builder
	for _, c := range weigherCases {
		snap, aggs := federation()
		if c.opts.CloudCosts != nil {
			aggs = append(aggs, &Aggregate{ID: 9, Name: "spot", Hosts: []string{"aws:us-east-1b"}, Metadata: map[string]string{"cost_per_vcpu_hour": "0.01"}})
		}
		resolveAggregates(snap.Hosts, aggs)
		resolvePrices(snap.Hosts, c.opts.CloudCosts)
		filters, weighers := DefaultFilters(0, 0, 0), c.opts.weighers()
		fmt.Fprintf(&b, "## %s\n", c.name)
		ex := Explain(snap, c.req, filters, weighers)
		cands := Decide(snap, c.req, filters, weighers)
		if len(cands) == 0 {
			b.WriteString("no valid host\n")
		}
		for i, v := range ex.Hosts {
			if v.RejectedBy != "" {
				fmt.Fprintf(&b, "-  %s/%s rejected by %s\n", v.Cloud, v.Host, v.RejectedBy)
				continue
			}
			if cands[i].Host != v.Host || cands[i].Weight != v.Weight {
				t.Fatalf("%s: Explain ranks %s (%v) where Decide ranks %s (%v)", c.name, v.Host, v.Weight, cands[i].Host, cands[i].Weight)
			}
			fmt.Fprintf(&b, "%d. %s/%s price=%.2f weight=%.4f", i+1, v.Cloud, v.Host, cands[i].PricePerVCPUHour, v.Weight)
			for _, w := range ex.Weighers {
				if s, ok := v.Weights[w]; ok && s != 0 {
					fmt.Fprintf(&b, " %s=%.4f", w, s)
				}
			}
			b.WriteString("\n")
		}
	}
	path := filepath.Join("testdata", "weighers.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("decisions differ from %s (run with -update if the change is intended):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestResolvePrices: an aggregate's price beats its cloud's, the lowest of
// several aggregates' prices applies, a bad value is ignored, and a host
// priced by nothing costs 0.
func TestResolvePrices(t *testing.T) {
	snap, aggs := federation()
	aggs = append(aggs,
		&Aggregate{ID: 9, Name: "spot", Hosts: []string{"aws:us-east-1b", "kvm-1"}, Metadata: map[string]string{"cost_per_vcpu_hour": "0.01"}},
		&Aggregate{ID: 10, Name: "dear", Hosts: []string{"kvm-1"}, Metadata: map[string]string{"cost_per_vcpu_hour": "0.5"}},
		&Aggregate{ID: 11, Name: "bad", Hosts: []string{"kvm-2"}, Metadata: map[string]string{"cost_per_vcpu_hour": "cheap"}})
	resolveAggregates(snap.Hosts, aggs)
	resolvePrices(snap.Hosts, map[string]float64{"aws": 0.05, "local": 0.03})
	want := map[string]float64{"aws:us-east-1a": 0.05, "aws:us-east-1b": 0.01, "kvm-1": 0.01, "kvm-2": 0.03, "gpu-1": 0.03, "openstack:nova": 0}
	for _, h := range snap.Hosts {
		if p, ok := want[h.Host]; ok && h.PricePerVCPUHour != p {
			t.Errorf("%s costs %v, want %v", h.Host, h.PricePerVCPUHour, p)
		}
	}
	for _, bad := range []string{"-1", "free", ""} {
		if err := ValidateAggregateMetadata(map[string]string{"cost_per_vcpu_hour": bad}); err == nil {
			t.Errorf("cost_per_vcpu_hour %q accepted", bad)
		}
	}
	if err := ValidateAggregateMetadata(map[string]string{"cost_per_vcpu_hour": "0.042"}); err != nil {
		t.Errorf("a valid price refused: %v", err)
	}
}

// TestSnapshotPricesFromOptions: Scheduler.Snapshot applies Options.CloudCosts.
func TestSnapshotPricesFromOptions(t *testing.T) {
	open := backends(t)["miniredis"]
	reg, _ := open(t)
	s := New(reg, Options{CloudCosts: map[string]float64{"aws": 0.05}})
	if err := s.SyncHosts(t.Context(), "aws", simHosts(1, 4096)); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncHosts(t.Context(), "local", simHosts(1, 4096)); err != nil {
		t.Fatal(err)
	}
	p, err := s.Place(t.Context(), Request{ServerID: "x", Flavor: gb})
	if err != nil || p.Cloud != "local" {
		t.Errorf("Place = %+v, %v; want the unpriced local host over the priced AWS one", p, err)
	}
}
