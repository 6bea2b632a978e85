package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"golang.org/x/text/language"
)

// Scheduler is canopy.yaml's scheduler section: allocation ratios, weigher
// multipliers, cloud prices and the latency table. Every field is optional;
// the zero value is Nova's defaults (scheduler.OptionsFromConfig turns it
// into scheduler.Options, with each cloud's country and region).
type Scheduler struct {
	// Allocation ratios (0 = Nova's 16.0, 1.5, 1.0); an aggregate's
	// *_allocation_ratio metadata overrides them for its hosts.
	CPUAllocationRatio  float64 `yaml:"cpu_allocation_ratio"`
	RAMAllocationRatio  float64 `yaml:"ram_allocation_ratio"`
	DiskAllocationRatio float64 `yaml:"disk_allocation_ratio"`
	// Weights are the weigher multipliers (absent = 1.0, 0 = off, negative
	// inverts: ram: -1 stacks servers instead of spreading them).
	Weights Weights `yaml:"weights"`
	// CloudCosts is each cloud's price per vCPU-hour (an aggregate's
	// cost_per_vcpu_hour metadata overrides it).
	CloudCosts map[string]float64 `yaml:"cloud_costs"`
	// Latency is the table the latency weigher reads.
	Latency Latency `yaml:"latency"`
}

// Weights are the weigher multipliers (nova.conf *_weight_multiplier).
type Weights struct {
	RAM              *float64 `yaml:"ram"`
	Cost             *float64 `yaml:"cost"`
	SoftAffinity     *float64 `yaml:"soft_affinity"`
	SoftAntiAffinity *float64 `yaml:"soft_anti_affinity"`
	Latency          *float64 `yaml:"latency"`
}

// Latency is the round-trip time table between the places servers run, in
// milliseconds. Between two hosts the first rule that applies counts: same
// host 0; same zone of the same cloud same_zone_ms (0.5); a zones entry;
// same cloud same_cloud_ms (1); a clouds entry; default_ms (50). Keys are
// "a/b" and hold both ways.
type Latency struct {
	SameZoneMS  float64            `yaml:"same_zone_ms"`
	SameCloudMS float64            `yaml:"same_cloud_ms"`
	DefaultMS   float64            `yaml:"default_ms"`
	Clouds      map[string]float64 `yaml:"clouds"`
	Zones       map[string]float64 `yaml:"zones"`
}

// validate checks the section against the configured clouds.
func (s *Scheduler) validate(clouds []Cloud) []error {
	var errs []error
	known := func(name string) bool {
		return slices.ContainsFunc(clouds, func(c Cloud) bool { return c.Name == name })
	}
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	for _, r := range []struct {
		key string
		v   float64
	}{{"cpu_allocation_ratio", s.CPUAllocationRatio}, {"ram_allocation_ratio", s.RAMAllocationRatio}, {"disk_allocation_ratio", s.DiskAllocationRatio}} {
		if r.v < 0 || bad(r.v) {
			errs = append(errs, fmt.Errorf("scheduler.%s: %v must be a positive number (or 0 for Nova's default)", r.key, r.v))
		}
	}
	for _, w := range []struct {
		key string
		v   *float64
	}{{"ram", s.Weights.RAM}, {"cost", s.Weights.Cost}, {"soft_affinity", s.Weights.SoftAffinity},
		{"soft_anti_affinity", s.Weights.SoftAntiAffinity}, {"latency", s.Weights.Latency}} {
		if w.v != nil && bad(*w.v) {
			errs = append(errs, fmt.Errorf("scheduler.weights.%s: must be a finite number", w.key))
		}
	}
	for _, name := range sortedKeys(s.CloudCosts) {
		switch v := s.CloudCosts[name]; {
		case !known(name):
			errs = append(errs, fmt.Errorf("scheduler.cloud_costs: %q is not a cloud of the clouds section", name))
		case v < 0 || bad(v):
			errs = append(errs, fmt.Errorf("scheduler.cloud_costs.%s: %v must be a price per vCPU-hour ≥ 0", name, v))
		}
	}
	l := s.Latency
	for _, m := range []struct {
		key string
		v   float64
	}{{"same_zone_ms", l.SameZoneMS}, {"same_cloud_ms", l.SameCloudMS}, {"default_ms", l.DefaultMS}} {
		if m.v < 0 || bad(m.v) {
			errs = append(errs, fmt.Errorf("scheduler.latency.%s: %v must be milliseconds ≥ 0 (0 for the default)", m.key, m.v))
		}
	}
	for _, t := range []struct {
		key    string
		m      map[string]float64
		clouds bool
	}{{"clouds", l.Clouds, true}, {"zones", l.Zones, false}} {
		for _, k := range sortedKeys(t.m) {
			a, b, ok := strings.Cut(k, "/")
			a, b = strings.TrimSpace(a), strings.TrimSpace(b)
			switch {
			case !ok || a == "" || b == "" || strings.Contains(b, "/"):
				errs = append(errs, fmt.Errorf("scheduler.latency.%s: key %q must be two names joined by a slash, e.g. \"aws-eu/east\"", t.key, k))
			case t.clouds && !known(a):
				errs = append(errs, fmt.Errorf("scheduler.latency.clouds: %q in key %q is not a cloud of the clouds section", a, k))
			case t.clouds && !known(b):
				errs = append(errs, fmt.Errorf("scheduler.latency.clouds: %q in key %q is not a cloud of the clouds section", b, k))
			case t.m[k] < 0 || bad(t.m[k]):
				errs = append(errs, fmt.Errorf("scheduler.latency.%s.%s: %v must be milliseconds ≥ 0", t.key, k, t.m[k]))
			}
		}
	}
	return errs
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ValidCountry reports whether code is an assigned ISO 3166-1 alpha-2
// country code, upper case ("DE"; not "de", not an alias such as "UK", not
// a grouping such as "EU").
func ValidCountry(code string) bool {
	if len(code) != 2 || code != strings.ToUpper(code) {
		return false
	}
	r, err := language.ParseRegion(code)
	// Codes that are only aliases (UK for GB, FX for FR) or have no
	// alpha-3 code (UN) are not countries here: a residency rule must name
	// the code a cloud's country will carry.
	return err == nil && r.IsCountry() && r.String() == code && r.Canonicalize().String() == code && r.ISO3() != "ZZZ"
}

// validateLocation checks a cloud's country and region.
func (cl *Cloud) validateLocation(where string) error {
	if cl.Country != "" && !ValidCountry(cl.Country) {
		return fmt.Errorf("%s.country: %q is not an ISO 3166-1 alpha-2 country code in upper case, such as DE, FR or US", where, cl.Country)
	}
	if len(cl.Region) > 255 {
		return errors.New(where + ".region: at most 255 characters")
	}
	return nil
}
