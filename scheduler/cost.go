package scheduler

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/canopy-cloud/canopy/proxies"
)

// costMetadataKey is the aggregate metadata key that prices its hosts.
const costMetadataKey = "cost_per_vcpu_hour"

// CostWeigher prefers cheaper hosts: the lower a host's price per vCPU-hour
// (HostState.PricePerVCPUHour), the higher its weight. With several clouds
// that can take a server, this sends it where it costs least, and the
// multiplier sets how much price counts against spreading.
type CostWeigher struct{ Mult float64 }

// Name is the weigher's name in explanations.
func (CostWeigher) Name() string { return "CostWeigher" }

// Weigh is minus h's price per vCPU-hour.
func (w CostWeigher) Weigh(h HostState, req Request) float64 { return w.weigh(&h, &req) }

func (CostWeigher) weigh(h *HostState, _ *Request) float64 { return -h.PricePerVCPUHour }

// Multiplier scales the normalised weight.
func (w CostWeigher) Multiplier() float64 { return w.Mult }

// resolvePrices sets every host's PricePerVCPUHour: its aggregates' price
// (cost_per_vcpu_hour metadata) where they set one, else its cloud's in
// cloudCosts, else 0. Run once per snapshot, after resolveAggregates.
func resolvePrices(hosts []HostState, cloudCosts map[string]float64) {
	for i := range hosts {
		h := &hosts[i]
		if a := h.Aggregates; a != nil && a.Priced {
			h.PricePerVCPUHour = a.PricePerVCPUHour
			continue
		}
		h.PricePerVCPUHour = cloudCosts[h.Cloud]
	}
}

// minPrice is the lowest valid (non-negative) price of vals and whether
// there was one.
func minPrice(vals []string) (float64, bool) {
	p, ok := 0.0, false
	for _, s := range vals {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f < 0 {
			continue
		}
		if !ok || f < p {
			p, ok = f, true
		}
	}
	return p, ok
}

// validatePrice checks a cost_per_vcpu_hour value.
func validatePrice(v string) error {
	if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil || f < 0 {
		return fmt.Errorf("scheduler: %w: %s must be a number ≥ 0, not %q", proxies.ErrInvalid, costMetadataKey, v)
	}
	return nil
}
