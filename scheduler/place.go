package scheduler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// Options tune the scheduler. The zero value is Nova's defaults.
type Options struct {
	// Allocation ratios (0 = Nova's 16.0, 1.5 and 1.0). They must match
	// what the hosts enforce (localcloud.Config has the same three).
	CPUAllocationRatio  float64
	RAMAllocationRatio  float64
	DiskAllocationRatio float64
	// Filters and Weighers replace the defaults (DefaultFilters with the
	// ratios above; the weighers below with their multipliers) when set.
	Filters  []Filter
	Weighers []Weigher
	// Weigher multipliers (nova.conf *_weight_multiplier): nil is the
	// default 1.0 (0 for the latency weigher, which is off until
	// configured), 0 switches the weigher off, a negative value inverts it
	// (a negative RAM multiplier stacks servers instead of spreading them).
	RAMWeightMultiplier              *float64
	CostWeightMultiplier             *float64
	SoftAffinityWeightMultiplier     *float64
	SoftAntiAffinityWeightMultiplier *float64
	LatencyWeightMultiplier          *float64
	// Latency is the table the LatencyWeigher reads (zero: the defaults,
	// 0.5 ms within a zone, 1 ms within a cloud, 50 ms elsewhere).
	Latency Latency
	// CloudLocations is each cloud's country and region (canopy.yaml), for
	// the ResidencyFilter; a cloud without one fails every residency
	// requirement.
	CloudLocations map[string]Location
	// CloudCosts is each cloud's price per vCPU-hour, for the CostWeigher.
	// An aggregate's cost_per_vcpu_hour metadata overrides it for its
	// hosts; a host priced by neither costs 0 (the local pool's hardware
	// is already paid for).
	CloudCosts map[string]float64
	// ClaimsPerRound is how many candidates Place tries, best first, before
	// it takes a fresh snapshot (default 8); Rounds bounds the snapshots
	// (default 8).
	ClaimsPerRound int
	Rounds         int
	// KeyPrefix isolates this scheduler's keys from another's in the same
	// Redis (tests; two installations sharing a server). It must not contain
	// braces: the cloud hash tag follows it.
	KeyPrefix string
}

// Scheduler places servers: a pure Decide over a registry snapshot, then an
// atomic claim of the best candidate that still has room. It implements
// broker.Placer. Safe for concurrent use, across processes too.
type Scheduler struct {
	reg               *registry.Registry
	keys              keys
	cpuR, ramR, diskR float64
	filters           []Filter
	weighers          []Weigher
	perRound, rounds  int
	cloudCosts        map[string]float64
	locations         map[string]Location

	memMu   sync.Mutex // guards the cached host list
	memRefs []hostRef
	memAt   time.Time

	snapMu   sync.Mutex // guards inflight
	inflight *snapCall  // the registry read concurrent placements share
}

// New returns a scheduler over reg. It does no I/O.
func New(reg *registry.Registry, opts Options) *Scheduler {
	s := &Scheduler{
		reg:     reg,
		keys:    keys{prefix: strings.NewReplacer("{", "_", "}", "_").Replace(opts.KeyPrefix)},
		cpuR:    orDefault(opts.CPUAllocationRatio, DefaultCPUAllocationRatio),
		ramR:    orDefault(opts.RAMAllocationRatio, DefaultRAMAllocationRatio),
		diskR:   orDefault(opts.DiskAllocationRatio, DefaultDiskAllocationRatio),
		filters: opts.Filters, weighers: opts.Weighers,
		perRound: opts.ClaimsPerRound, rounds: opts.Rounds,
		cloudCosts: opts.CloudCosts, locations: opts.CloudLocations,
	}
	if s.filters == nil {
		s.filters = DefaultFilters(s.cpuR, s.ramR, s.diskR)
	}
	if s.weighers == nil {
		s.weighers = opts.weighers()
	}
	if s.perRound <= 0 {
		s.perRound = 8
	}
	if s.rounds <= 0 {
		s.rounds = 8
	}
	return s
}

// weighers are the default weighers with o's multipliers.
func (o Options) weighers() []Weigher {
	m := func(p *float64) float64 {
		if p == nil {
			return 1
		}
		return *p
	}
	latencyMult := 0.0 // off unless configured: it pulls against soft-anti-affinity
	if o.LatencyWeightMultiplier != nil {
		latencyMult = *o.LatencyWeightMultiplier
	}
	return []Weigher{
		RAMWeigher{Mult: m(o.RAMWeightMultiplier)},
		CostWeigher{Mult: m(o.CostWeightMultiplier)},
		ServerGroupSoftAffinityWeigher{Mult: m(o.SoftAffinityWeightMultiplier)},
		ServerGroupSoftAntiAffinityWeigher{Mult: m(o.SoftAntiAffinityWeightMultiplier)},
		LatencyWeigher{Mult: latencyMult, Table: o.Latency},
	}
}

// Place chooses a host for req.ServerID and claims the flavor's capacity on
// it. A retried Place for the same server returns the placement it already
// holds and claims nothing more. When another scheduler takes the last room
// on a candidate first, Place tries the next one, then a fresh snapshot; it
// answers ErrNoValidHost when nothing fits.
func (s *Scheduler) Place(ctx context.Context, req Request) (Placement, error) {
	return s.place(ctx, req, s.filters)
}

// place is Place with the given filters.
func (s *Scheduler) place(ctx context.Context, req Request, filters []Filter) (Placement, error) {
	if req.ServerID == "" {
		return Placement{}, fmt.Errorf("scheduler: %w: the request has no server id", proxies.ErrInvalid)
	}
	if f := req.Flavor; f.VCPUs < 0 || f.RAMMB < 0 || f.DiskGB < 0 {
		return Placement{}, fmt.Errorf("scheduler: %w: flavor %s has a negative size", proxies.ErrInvalid, f.ID)
	}
	if p, ok, err := s.existing(ctx, req.ServerID); err != nil || ok {
		return p, err
	}
	indexed := ""
	// A shared read must start after this call did (so that it sees what
	// the caller did before, a release say) and, after a round of lost
	// claims, after that round.
	notBefore := time.Now()
	for range s.rounds {
		snap, err := s.sharedSnapshot(ctx, notBefore)
		if err != nil {
			return Placement{}, err
		}
		notBefore = time.Now() // the next round needs a read that sees this round's losses
		req.ProjectResidency = snap.Residency[req.ProjectID]
		cands := DecideN(snap, req, filters, s.weighers, s.perRound)
		if len(cands) == 0 {
			break
		}
		for _, c := range cands {
			if c.Cloud != indexed {
				// Record the cloud first, so Release finds a claim even if
				// this process dies right after making it.
				if err := s.reg.Client().HSet(ctx, s.keys.claimIndex(), req.ServerID, c.Cloud).Err(); err != nil {
					return Placement{}, err
				}
				indexed = c.Cloud
			}
			outcome, p, err := s.claim(ctx, c, req)
			if err != nil {
				return Placement{}, err
			}
			if outcome == claimOK || outcome == claimExists {
				return p, nil
			}
		}
	}
	if indexed != "" {
		_ = s.reg.Client().HDel(context.WithoutCancel(ctx), s.keys.claimIndex(), req.ServerID).Err()
	}
	return Placement{}, ErrNoValidHost
}
