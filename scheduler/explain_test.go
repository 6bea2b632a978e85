package scheduler

import (
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
)

// TestExplainMatchesDecide holds Explain to Decide: the same candidates in
// the same order with the same weights, weights that add up, and every other
// host rejected by a named filter.
func TestExplainMatchesDecide(t *testing.T) {
	snap := bigSnapshot(400)
	snap.Hosts[5].Enabled = false
	req := Request{ServerID: "s", AvailabilityZone: "az1", Flavor: proxies.Flavor{ID: "m", VCPUs: 2, RAMMB: 200000, DiskGB: 40}}
	filters, weighers := DefaultFilters(0, 0, 0), DefaultWeighers()
	cands := Decide(snap, req, filters, weighers)
	ex := Explain(snap, req, filters, weighers)
	if len(cands) == 0 || len(cands) == len(snap.Hosts) {
		t.Fatalf("%d candidates of %d hosts: the case must both keep and drop hosts", len(cands), len(snap.Hosts))
	}
	if len(ex.Hosts) != len(snap.Hosts) {
		t.Fatalf("Explain reports %d hosts, the snapshot has %d", len(ex.Hosts), len(snap.Hosts))
	}
	reasons := map[string]int{}
	for i, v := range ex.Hosts {
		if i < len(cands) {
			c := cands[i]
			if v.Host != c.Host || v.Rank != i+1 || v.Weight != c.Weight || v.RejectedBy != "" {
				t.Fatalf("verdict %d = %+v, Decide says %s weight %v", i, v, c.Host, c.Weight)
			}
			sum := 0.0
			for _, w := range v.Weights {
				sum += w
			}
			if d := sum - v.Weight; d > 1e-9 || d < -1e-9 {
				t.Fatalf("host %s: weights %v add to %v, total is %v", v.Host, v.Weights, sum, v.Weight)
			}
			continue
		}
		if v.RejectedBy == "" || v.Rank != 0 {
			t.Fatalf("verdict %d = %+v: a non-candidate must name the filter that dropped it", i, v)
		}
		reasons[v.RejectedBy]++
	}
	for _, f := range []string{"AvailabilityZoneFilter", "ComputeFilter"} {
		if reasons[f] == 0 {
			t.Errorf("no host rejected by %s (reasons: %v)", f, reasons)
		}
	}
	if len(ex.Filters) != len(filters) || len(ex.Weighers) != len(weighers) {
		t.Errorf("filters %v weighers %v", ex.Filters, ex.Weighers)
	}
}
