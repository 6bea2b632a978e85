package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/redis/go-redis/v9"
)

// Data residency: a project or a flavor may only land in named countries or
// regions. Each cloud's location comes from canopy.yaml (Options.
// CloudLocations, set on every host by Snapshot); the flavor's requirement
// from its extra specs, the project's from the scheduler's store:
//
//	{g}:sched:residency   hash project id → JSON Residency

func (k keys) residency() string { return k.prefix + "{g}:sched:residency" }

// Flavor extra specs that restrict where the flavor's servers may run: a
// comma-separated list of ISO 3166-1 alpha-2 country codes, and of regions
// (free text, as the clouds' region in canopy.yaml).
const (
	ResidencySpec       = "canopy:residency"
	ResidencyRegionSpec = "canopy:residency_region"
)

// Location is where a cloud runs its servers (canopy.yaml's country and
// region of the cloud).
type Location struct {
	// Country is an ISO 3166-1 alpha-2 code, upper case ("" = unknown: the
	// cloud fails every residency requirement).
	Country string `json:"country,omitempty"`
	// Region is free text ("eu-west"), compared without regard to case.
	Region string `json:"region,omitempty"`
}

// Residency is where a project's servers may run: in one of Countries (any
// when empty) and in one of Regions (any when empty). The zero value
// restricts nothing.
type Residency struct {
	Countries []string `json:"countries"`
	Regions   []string `json:"regions"`
}

// IsZero reports whether r restricts nothing.
func (r Residency) IsZero() bool { return len(r.Countries) == 0 && len(r.Regions) == 0 }

// Normalize validates r (a refusal is a *proxies.Error of kind ErrInvalid
// with a safe message) and returns it in canonical form: country codes
// upper case, duplicates and blanks dropped, both lists sorted. It checks
// the shape of a code (two ASCII letters); whether the code is assigned is
// canopy.yaml's check for clouds (config.ValidCountry), and a code no
// cloud has simply matches nothing.
func (r Residency) Normalize() (Residency, error) {
	out := Residency{Countries: []string{}, Regions: []string{}}
	for _, c := range r.Countries {
		c = strings.ToUpper(strings.TrimSpace(c))
		if !isAlpha2(c) {
			return Residency{}, proxies.Errorf(proxies.ErrInvalid, "SetProjectResidency", "country %q is not an ISO 3166-1 alpha-2 code such as DE or FR.", c)
		}
		if !slices.Contains(out.Countries, c) {
			out.Countries = append(out.Countries, c)
		}
	}
	for _, g := range r.Regions {
		g = strings.TrimSpace(g)
		if g == "" || len(g) > 255 {
			return Residency{}, proxies.Errorf(proxies.ErrInvalid, "SetProjectResidency", "a region must be 1 to 255 characters.")
		}
		if !slices.ContainsFunc(out.Regions, func(x string) bool { return strings.EqualFold(x, g) }) {
			out.Regions = append(out.Regions, g)
		}
	}
	slices.Sort(out.Countries)
	slices.Sort(out.Regions)
	return out, nil
}

func isAlpha2(c string) bool {
	return len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z'
}

// SetProjectResidency stores project's residency (the zero value removes
// it). Idempotent.
func (s *Scheduler) SetProjectResidency(ctx context.Context, project string, r Residency) (Residency, error) {
	if project == "" {
		return Residency{}, proxies.Errorf(proxies.ErrInvalid, "SetProjectResidency", "a project id is needed.")
	}
	r, err := r.Normalize()
	if err != nil {
		return Residency{}, err
	}
	rdb := s.reg.Client()
	if r.IsZero() {
		return r, rdb.HDel(ctx, s.keys.residency(), project).Err()
	}
	data, err := json.Marshal(r)
	if err != nil {
		return Residency{}, err
	}
	return r, rdb.HSet(ctx, s.keys.residency(), project, data).Err()
}

// ProjectResidency reads project's residency (the zero value when it has
// none).
func (s *Scheduler) ProjectResidency(ctx context.Context, project string) (Residency, error) {
	raw, err := s.reg.Client().HGet(ctx, s.keys.residency(), project).Result()
	if errors.Is(err, redis.Nil) {
		return Residency{Countries: []string{}, Regions: []string{}}, nil
	}
	if err != nil {
		return Residency{}, err
	}
	return decodeResidency(raw), nil
}

// decodeResidency decodes a stored residency. A record that does not decode
// restricts to nothing rather than to everything: residency is a legal
// promise, so a damaged record must not let servers go anywhere.
func decodeResidency(raw string) Residency {
	var r Residency
	if err := json.Unmarshal([]byte(raw), &r); err != nil || r.IsZero() {
		return Residency{Countries: []string{"!damaged"}, Regions: []string{}}
	}
	return r
}

// resolveLocations sets every host's Country and Region from its cloud's
// location. Run once per snapshot.
func resolveLocations(hosts []HostState, locs map[string]Location) {
	if len(locs) == 0 {
		return
	}
	for i := range hosts {
		l := locs[hosts[i].Cloud]
		hosts[i].Country, hosts[i].Region = strings.ToUpper(l.Country), l.Region
	}
}

// ResidencyFilter keeps the hosts whose cloud is in a country and region
// the request allows: the flavor's canopy:residency and
// canopy:residency_region extra specs, and the project's residency
// (Request.ProjectResidency), intersected. A cloud without a configured
// country fails every requirement. Explain says why a host was dropped.
type ResidencyFilter struct{}

// Name is the filter's name in explanations.
func (ResidencyFilter) Name() string { return "ResidencyFilter" }

// Pass reports whether h is where the request may run.
func (f ResidencyFilter) Pass(h HostState, req Request) bool {
	return residencyOf(&req).passHost(&h)
}

func (ResidencyFilter) applies(req *Request) bool {
	return !req.ProjectResidency.IsZero() || req.Flavor.ExtraSpecs[ResidencySpec] != "" ||
		req.Flavor.ExtraSpecs[ResidencyRegionSpec] != ""
}

func (ResidencyFilter) prepare(_ []HostState, req *Request) Filter {
	return residencyOf(req)
}

// residencyRule is a request's residency requirement, worked out once per
// decision. countries and regions nil mean any; empty, none.
type residencyRule struct {
	countries, regions []string
	// conflict explains an intersection left empty.
	conflict string
}

func (residencyRule) Name() string { return "ResidencyFilter" }

func (r residencyRule) Pass(h HostState, _ Request) bool { return r.passHost(&h) }

func (r residencyRule) pass(h *HostState, _ *Request) bool { return r.passHost(h) }

func (r residencyRule) passHost(h *HostState) bool {
	if r.countries == nil && r.regions == nil {
		return true
	}
	if r.countries != nil && !slices.Contains(r.countries, h.Country) {
		return false
	}
	return r.regions == nil || slices.ContainsFunc(r.regions, func(g string) bool { return strings.EqualFold(g, h.Region) })
}

// why says why h fails the requirement, for Explain.
func (r residencyRule) why(h *HostState, _ *Request) string {
	switch {
	case r.conflict != "":
		return r.conflict
	case r.countries != nil && h.Country == "":
		return "cloud " + h.Cloud + " has no country configured (canopy.yaml clouds[].country), so it cannot satisfy a country requirement"
	case r.regions != nil && h.Region == "":
		return "cloud " + h.Cloud + " has no region configured (canopy.yaml clouds[].region), so it cannot satisfy a region requirement"
	case r.countries != nil && !slices.Contains(r.countries, h.Country):
		return "cloud " + h.Cloud + " is in " + h.Country + "; the request may only run in " + list(r.countries)
	}
	return "cloud " + h.Cloud + " is in region " + or(h.Region, "(none)") + "; the request may only run in region " + list(r.regions)
}

func list(vs []string) string {
	if len(vs) == 0 {
		return "(none)"
	}
	return strings.Join(vs, ", ")
}

func or(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// residencyOf intersects the flavor's and the project's requirements.
func residencyOf(req *Request) residencyRule {
	var r residencyRule
	fc, fr := specList(req.Flavor.ExtraSpecs[ResidencySpec], true), specList(req.Flavor.ExtraSpecs[ResidencyRegionSpec], false)
	p := req.ProjectResidency
	var pc, pr []string
	if len(p.Countries) > 0 {
		pc = upper(p.Countries)
	}
	if len(p.Regions) > 0 {
		pr = p.Regions
	}
	r.countries = intersect(fc, pc, strings.EqualFold)
	r.regions = intersect(fr, pr, strings.EqualFold)
	switch {
	case r.countries != nil && len(r.countries) == 0:
		r.conflict = "the flavor's residency (" + list(fc) + ") and the project's (" + list(pc) + ") have no country in common"
	case r.regions != nil && len(r.regions) == 0:
		r.conflict = "the flavor's residency regions (" + list(fr) + ") and the project's (" + list(pr) + ") have no region in common"
	}
	return r
}

// specList splits a comma-separated extra spec (nil when empty).
func specList(v string, countries bool) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if countries {
			part = strings.ToUpper(part)
		}
		out = append(out, part)
	}
	return out
}

func upper(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.ToUpper(v)
	}
	return out
}

// intersect is a ∩ b, where nil means "any" (so nil ∩ b is b); the result
// is non-nil (maybe empty) when either is non-nil.
func intersect(a, b []string, eq func(x, y string) bool) []string {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	out := []string{}
	for _, x := range a {
		if slices.ContainsFunc(b, func(y string) bool { return eq(x, y) }) {
			out = append(out, x)
		}
	}
	return out
}
