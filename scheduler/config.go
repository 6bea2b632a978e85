package scheduler

import (
	"maps"
	"strings"

	"github.com/canopy-cloud/canopy/config"
)

// OptionsFromConfig is the scheduler's part of canopy.yaml (already
// validated by config.Parse): the scheduler section's ratios, weigher
// multipliers, cloud prices and latency table, and each cloud's country and
// region. It lives here rather than in config so that config stays a leaf
// package (it imports nothing of Canopy's, and not Redis).
func OptionsFromConfig(c config.Config) Options {
	s := c.Scheduler
	o := Options{
		CPUAllocationRatio: s.CPUAllocationRatio, RAMAllocationRatio: s.RAMAllocationRatio, DiskAllocationRatio: s.DiskAllocationRatio,
		RAMWeightMultiplier: s.Weights.RAM, CostWeightMultiplier: s.Weights.Cost,
		SoftAffinityWeightMultiplier: s.Weights.SoftAffinity, SoftAntiAffinityWeightMultiplier: s.Weights.SoftAntiAffinity,
		LatencyWeightMultiplier: s.Weights.Latency,
		Latency: Latency{SameZoneMS: s.Latency.SameZoneMS, SameCloudMS: s.Latency.SameCloudMS, DefaultMS: s.Latency.DefaultMS,
			Clouds: maps.Clone(s.Latency.Clouds), Zones: maps.Clone(s.Latency.Zones)},
		CloudCosts: maps.Clone(s.CloudCosts),
	}
	for _, cl := range c.Clouds {
		if cl.Country == "" && cl.Region == "" {
			continue
		}
		if o.CloudLocations == nil {
			o.CloudLocations = map[string]Location{}
		}
		o.CloudLocations[cl.Name] = Location{Country: strings.ToUpper(cl.Country), Region: cl.Region}
	}
	return o
}
