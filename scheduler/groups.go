package scheduler

import (
	"context"
	"fmt"
	"slices"

	"github.com/canopy-cloud/canopy/proxies"
)

// GroupHints is what a server group asks of one placement: its policy and
// the hosts ("cloud/host") its members already run on. Nova's
// ServerGroupAffinityFilter and ServerGroupAntiAffinityFilter in one value.
type GroupHints struct {
	Policy string   // affinity | anti-affinity | soft-affinity | soft-anti-affinity
	Hosts  []string // "cloud/host" of the members placed so far
}

// GroupFilter passes the hosts a server group's hard policy allows: with
// affinity, the members' host (any host while there is none); with
// anti-affinity, any host no member runs on. Soft policies filter nothing
// (Nova weighs them instead).
type GroupFilter struct{ Hints GroupHints }

// Name is Nova's filter name for the policy.
func (f GroupFilter) Name() string {
	if f.Hints.Policy == "anti-affinity" {
		return "ServerGroupAntiAffinityFilter"
	}
	return "ServerGroupAffinityFilter"
}

// Pass reports whether h satisfies the group's policy.
func (f GroupFilter) Pass(h HostState, req Request) bool {
	on := slices.Contains(f.Hints.Hosts, h.Cloud+"/"+h.Host)
	switch f.Hints.Policy {
	case "affinity":
		return len(f.Hints.Hosts) == 0 || on
	case "anti-affinity":
		return !on
	}
	return true
}

// PlaceInGroup is Place with the group's filter added to the scheduler's:
// the same retries and the same atomic claims. A server that already holds
// a claim keeps it.
func (s *Scheduler) PlaceInGroup(ctx context.Context, req Request, hints GroupHints) (Placement, error) {
	if req.ServerID == "" {
		return Placement{}, fmt.Errorf("scheduler: %w: the request has no server id", proxies.ErrInvalid)
	}
	if f := req.Flavor; f.VCPUs < 0 || f.RAMMB < 0 || f.DiskGB < 0 {
		return Placement{}, fmt.Errorf("scheduler: %w: flavor %s has a negative size", proxies.ErrInvalid, f.ID)
	}
	if p, ok, err := s.existing(ctx, req.ServerID); err != nil || ok {
		return p, err
	}
	filters := append(slices.Clip(s.filters), GroupFilter{Hints: hints})
	indexed := ""
	for range s.rounds {
		snap, err := s.Snapshot(ctx)
		if err != nil {
			return Placement{}, err
		}
		cands := Decide(snap, req, filters, s.weighers)
		if len(cands) == 0 {
			break
		}
		for _, c := range cands[:min(len(cands), s.perRound)] {
			if c.Cloud != indexed {
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
