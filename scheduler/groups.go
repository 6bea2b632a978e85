package scheduler

import (
	"context"
	"slices"
)

// GroupHints is what a server group asks of one placement: its policy and
// the hosts ("cloud/host") its members already run on, one entry per member
// (a host running two members appears twice).
type GroupHints struct {
	Policy string   // affinity | anti-affinity | soft-affinity | soft-anti-affinity
	Hosts  []string // "cloud/host" of the members placed so far
}

// ServerGroupAffinityFilter keeps, for a group with the affinity policy,
// the host its members run on (any host while there is none), like Nova's.
type ServerGroupAffinityFilter struct{}

// Name is Nova's filter name.
func (ServerGroupAffinityFilter) Name() string { return "ServerGroupAffinityFilter" }

// Pass reports whether h satisfies the group's affinity.
func (f ServerGroupAffinityFilter) Pass(h HostState, req Request) bool { return f.pass(&h, &req) }

func (ServerGroupAffinityFilter) applies(req *Request) bool {
	return req.Group.Policy == "affinity" && len(req.Group.Hosts) > 0
}

func (ServerGroupAffinityFilter) pass(h *HostState, req *Request) bool {
	return req.Group.Policy != "affinity" || len(req.Group.Hosts) == 0 || inHosts(req.Group.Hosts, h)
}

func (ServerGroupAffinityFilter) why(h *HostState, _ *Request) string {
	return "the server group (policy affinity) runs its members elsewhere, not on " + h.Host
}

// ServerGroupAntiAffinityFilter drops, for a group with the anti-affinity
// policy, every host a member runs on, like Nova's.
type ServerGroupAntiAffinityFilter struct{}

// Name is Nova's filter name.
func (ServerGroupAntiAffinityFilter) Name() string { return "ServerGroupAntiAffinityFilter" }

// Pass reports whether h satisfies the group's anti-affinity.
func (f ServerGroupAntiAffinityFilter) Pass(h HostState, req Request) bool { return f.pass(&h, &req) }

func (ServerGroupAntiAffinityFilter) applies(req *Request) bool {
	return req.Group.Policy == "anti-affinity" && len(req.Group.Hosts) > 0
}

func (ServerGroupAntiAffinityFilter) pass(h *HostState, req *Request) bool {
	return req.Group.Policy != "anti-affinity" || !inHosts(req.Group.Hosts, h)
}

func (ServerGroupAntiAffinityFilter) why(h *HostState, _ *Request) string {
	return "a member of the server group (policy anti-affinity) already runs on " + h.Host
}

// ServerGroupSoftAffinityWeigher prefers, for a group with the
// soft-affinity policy, the hosts running most of its members (Nova's).
type ServerGroupSoftAffinityWeigher struct{ Mult float64 }

// Name is Nova's weigher name.
func (ServerGroupSoftAffinityWeigher) Name() string { return "ServerGroupSoftAffinityWeigher" }

// Weigh is the number of the group's members on h.
func (w ServerGroupSoftAffinityWeigher) Weigh(h HostState, req Request) float64 {
	return w.weigh(&h, &req)
}

func (ServerGroupSoftAffinityWeigher) applies(req *Request) bool {
	return req.Group.Policy == "soft-affinity" && len(req.Group.Hosts) > 0
}

func (ServerGroupSoftAffinityWeigher) weigh(h *HostState, req *Request) float64 {
	if req.Group.Policy != "soft-affinity" {
		return 0
	}
	return float64(membersOn(req.Group.Hosts, h))
}

// Multiplier scales the normalised weight.
func (w ServerGroupSoftAffinityWeigher) Multiplier() float64 { return w.Mult }

// ServerGroupSoftAntiAffinityWeigher prefers, for a group with the
// soft-anti-affinity policy, the hosts running fewest of its members
// (Nova's).
type ServerGroupSoftAntiAffinityWeigher struct{ Mult float64 }

// Name is Nova's weigher name.
func (ServerGroupSoftAntiAffinityWeigher) Name() string { return "ServerGroupSoftAntiAffinityWeigher" }

// Weigh is minus the number of the group's members on h.
func (w ServerGroupSoftAntiAffinityWeigher) Weigh(h HostState, req Request) float64 {
	return w.weigh(&h, &req)
}

func (ServerGroupSoftAntiAffinityWeigher) applies(req *Request) bool {
	return req.Group.Policy == "soft-anti-affinity" && len(req.Group.Hosts) > 0
}

func (ServerGroupSoftAntiAffinityWeigher) weigh(h *HostState, req *Request) float64 {
	if req.Group.Policy != "soft-anti-affinity" {
		return 0
	}
	return -float64(membersOn(req.Group.Hosts, h))
}

// Multiplier scales the normalised weight.
func (w ServerGroupSoftAntiAffinityWeigher) Multiplier() float64 { return w.Mult }

// membersOn counts the entries of hosts that name h.
func membersOn(hosts []string, h *HostState) int {
	n := 0
	for _, e := range hosts {
		if isHost(e, h) {
			n++
		}
	}
	return n
}

// PlaceInGroup is Place for a server joining a group: req.Group becomes
// hints, so the group filters (added to the scheduler's when a custom list
// lacks them) enforce hard policies and the soft weighers weigh soft ones.
// A server that already holds a claim keeps it.
func (s *Scheduler) PlaceInGroup(ctx context.Context, req Request, hints GroupHints) (Placement, error) {
	req.Group = hints
	filters := s.filters
	if !slices.ContainsFunc(filters, func(f Filter) bool { _, ok := f.(ServerGroupAffinityFilter); return ok }) {
		filters = append(slices.Clip(filters), ServerGroupAffinityFilter{})
	}
	if !slices.ContainsFunc(filters, func(f Filter) bool { _, ok := f.(ServerGroupAntiAffinityFilter); return ok }) {
		filters = append(slices.Clip(filters), ServerGroupAntiAffinityFilter{})
	}
	return s.place(ctx, req, filters)
}
