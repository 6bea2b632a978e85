package scheduler

import (
	"context"
	"math"
)

// Verdict is one host's fate in a decision: the filter that dropped it, or
// the weights that ranked it.
type Verdict struct {
	Cloud            string `json:"cloud"`
	Host             string `json:"host"`
	AvailabilityZone string `json:"availability_zone"`
	// RejectedBy is the first filter the host failed ("" when it passed),
	// and Reason why, when the filter says (ResidencyFilter,
	// ImagePropertiesFilter).
	RejectedBy string `json:"rejected_by,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Rank is the host's place among the candidates (1 = chosen first; 0
	// when rejected).
	Rank int `json:"rank,omitempty"`
	// Weight is the total, and Weights each weigher's share of it
	// (normalised over the candidates and multiplied), for passing hosts.
	Weight  float64            `json:"weight"`
	Weights map[string]float64 `json:"weights,omitempty"`
}

// Explanation is a whole decision, host by host: the candidates best first,
// then the rejected hosts in snapshot order.
type Explanation struct {
	Filters  []string  `json:"filters"`
	Weighers []string  `json:"weighers"`
	Hosts    []Verdict `json:"hosts"`
}

// Explain runs the decision Decide makes for req over snap and reports every
// host. It is pure like Decide, and ranks exactly as Decide does (a test
// holds the two together); it is slower, so it serves the admin API, never a
// placement.
func Explain(snap Snapshot, req Request, filters []Filter, weighers []Weigher) Explanation {
	ex := Explanation{Filters: make([]string, len(filters)), Weighers: make([]string, len(weighers))}
	for i, f := range filters {
		ex.Filters[i] = f.Name()
	}
	for i, w := range weighers {
		ex.Weighers[i] = w.Name()
	}
	byHost := map[*HostState]int{}
	var rejected []Verdict
	pf := prepared(filters, snap.Hosts, &req)
	for i := range snap.Hosts {
		h := &snap.Hosts[i]
		v := Verdict{Cloud: h.Cloud, Host: h.Host, AvailabilityZone: h.AvailabilityZone}
		for _, f := range pf {
			if !f.Pass(*h, req) {
				v.RejectedBy = f.Name()
				if e, ok := f.(explainer); ok {
					v.Reason = e.why(h, &req)
				}
				break
			}
		}
		if v.RejectedBy != "" {
			rejected = append(rejected, v)
			continue
		}
		byHost[h] = i
	}
	cands := Decide(snap, req, filters, weighers)
	// Each weigher's share, computed as weigh does, per candidate.
	shares := make([]map[string]float64, len(cands))
	for i := range shares {
		shares[i] = map[string]float64{}
	}
	if len(cands) > 1 {
		raw := make([]float64, len(cands))
		for _, w := range prepared(activeOnly(weighers, &req), snap.Hosts, &req) {
			lo, hi := math.Inf(1), math.Inf(-1)
			for i, c := range cands {
				raw[i] = w.Weigh(*c.HostState, req)
				lo, hi = min(lo, raw[i]), max(hi, raw[i])
			}
			if hi == lo || math.IsInf(hi-lo, 0) || math.IsNaN(hi-lo) {
				continue
			}
			m := multiplier(w) / (hi - lo)
			for i := range cands {
				shares[i][w.Name()] = (raw[i] - lo) * m
			}
		}
	}
	for i, c := range cands {
		if _, ok := byHost[c.HostState]; !ok {
			continue // cannot happen: Decide and the filters agree
		}
		ex.Hosts = append(ex.Hosts, Verdict{Cloud: c.Cloud, Host: c.Host, AvailabilityZone: c.AvailabilityZone,
			Rank: i + 1, Weight: c.Weight, Weights: shares[i]})
	}
	ex.Hosts = append(ex.Hosts, rejected...)
	return ex
}

// Explain explains where req would be placed now, with this scheduler's
// filters and weighers, over a fresh snapshot. It claims nothing.
func (s *Scheduler) Explain(ctx context.Context, req Request) (Explanation, error) {
	snap, err := s.Snapshot(ctx)
	if err != nil {
		return Explanation{}, err
	}
	req.ProjectResidency = snap.Residency[req.ProjectID]
	return Explain(snap, req, s.filters, s.weighers), nil
}
