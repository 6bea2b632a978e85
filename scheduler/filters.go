package scheduler

import "slices"

// Filter rejects hosts that cannot take a request, as Nova's scheduler
// filters do. Filters are small named values so that a placement can be
// explained ("rejected by capacity") and the list configured.
type Filter interface {
	Name() string
	Pass(h HostState, req Request) bool
}

// Weigher scores a passing host; higher is better. Decide normalises each
// weigher's raw scores to 0..1 over the candidates and multiplies them by the
// weigher's multiplier (Multiplied; 1 when it has none), as Nova does, so
// weighers of different units add up.
type Weigher interface {
	Name() string
	Weigh(h HostState, req Request) float64
}

// Multiplied is a Weigher with a multiplier (nova.conf *_weight_multiplier):
// negative inverts the preference, 0 switches the weigher off.
type Multiplied interface {
	Multiplier() float64
}

// fastFilter and fastWeigher are implemented by the built-in filters and
// weighers: the same test as Pass and Weigh without copying the host and the
// request (a 10,000-host decision makes some 50,000 such calls).
type fastFilter interface {
	pass(h *HostState, req *Request) bool
}

type fastWeigher interface {
	weigh(h *HostState, req *Request) float64
}

// conditional is implemented by the filters and weighers that act only on
// some requests (a hint, a group policy): Decide leaves them out of a
// decision they cannot change.
type conditional interface {
	applies(req *Request) bool
}

// preparer is implemented by the filters and weighers that work out once
// per decision what they need from the request and the snapshot (a
// residency rule, the group members' zones): Decide and Explain run the
// value prepare returns over the hosts, not the one configured.
type preparer[T any] interface {
	prepare(hosts []HostState, req *Request) T
}

// prepared is vs with every preparer replaced by what it prepares for req
// (vs itself when none is a preparer).
func prepared[T any](vs []T, hosts []HostState, req *Request) []T {
	for i, v := range vs {
		if _, ok := any(v).(preparer[T]); ok {
			out := slices.Clone(vs)
			for j := i; j < len(out); j++ {
				if p, ok := any(out[j]).(preparer[T]); ok {
					out[j] = p.prepare(hosts, req)
				}
			}
			return out
		}
	}
	return vs
}

// explainer is implemented by the filters that can say why a host failed
// them; Explain shows it beside the filter's name.
type explainer interface {
	why(h *HostState, req *Request) string
}

// inactive reports whether v declares it cannot change the decision for req.
func inactive(v any, req *Request) bool {
	c, ok := v.(conditional)
	return ok && !c.applies(req)
}

// multiplier is w's multiplier, 1 when it declares none.
func multiplier(w Weigher) float64 {
	if m, ok := w.(Multiplied); ok {
		return m.Multiplier()
	}
	return 1
}

// Nova's default allocation ratios (nova.conf cpu/ram/disk_allocation_ratio).
const (
	DefaultCPUAllocationRatio  = 16.0
	DefaultRAMAllocationRatio  = 1.5
	DefaultDiskAllocationRatio = 1.0
)

// AvailabilityZoneFilter keeps hosts in the requested zone (any zone when
// the request names none), like Nova's AvailabilityZoneFilter.
type AvailabilityZoneFilter struct{}

// Name is the filter's name in explanations.
func (AvailabilityZoneFilter) Name() string { return "AvailabilityZoneFilter" }

// Pass reports whether h is in the requested zone.
func (f AvailabilityZoneFilter) Pass(h HostState, req Request) bool { return f.pass(&h, &req) }

func (AvailabilityZoneFilter) applies(req *Request) bool { return req.AvailabilityZone != "" }

func (AvailabilityZoneFilter) pass(h *HostState, req *Request) bool {
	return req.AvailabilityZone == "" || h.AvailabilityZone == req.AvailabilityZone
}

// ComputeFilter keeps hosts that are up and enabled, like Nova's.
type ComputeFilter struct{}

// Name is the filter's name in explanations.
func (ComputeFilter) Name() string { return "ComputeFilter" }

// Pass reports whether h is up and enabled.
func (f ComputeFilter) Pass(h HostState, req Request) bool { return f.pass(&h, &req) }

func (ComputeFilter) pass(h *HostState, _ *Request) bool { return h.Up && h.Enabled }

// CapacityFilter keeps hosts with room for the flavor's vCPUs, RAM and disk
// under the allocation ratios (Nova's placement inventory check: used +
// requested <= total × ratio). A host's aggregates may set their own ratios
// (cpu/ram/disk_allocation_ratio metadata, Nova's AggregateCoreFilter and
// friends); these ratios are the defaults. The claim script applies the
// same rule.
type CapacityFilter struct {
	CPURatio, RAMRatio, DiskRatio float64
}

// Name is the filter's name in explanations.
func (CapacityFilter) Name() string { return "CapacityFilter" }

// Pass reports whether the flavor fits on h.
func (f CapacityFilter) Pass(h HostState, req Request) bool { return f.pass(&h, &req) }

func (f CapacityFilter) pass(h *HostState, req *Request) bool {
	cpu, ram, disk := hostRatios(h, f.CPURatio, f.RAMRatio, f.DiskRatio)
	return fits(h.UsedVCPUs, req.Flavor.VCPUs, h.VCPUs, cpu) &&
		fits(h.UsedRAMMB, req.Flavor.RAMMB, h.RAMMB, ram) &&
		fits(h.UsedDiskGB, req.Flavor.DiskGB, h.DiskGB, disk)
}

func fits(used, want, total int, ratio float64) bool {
	return float64(used+want) <= float64(total)*ratio
}

// ForcedHostFilter keeps only the host an admin forced ("az:host"), when
// the request forces one. Unlike old Nova, a forced host still has to pass
// the other filters: the claim would refuse an over-booked host anyway.
type ForcedHostFilter struct{}

// Name is the filter's name in explanations.
func (ForcedHostFilter) Name() string { return "ForcedHostFilter" }

// Pass reports whether h is the forced host (or nothing is forced).
func (f ForcedHostFilter) Pass(h HostState, req Request) bool { return f.pass(&h, &req) }

func (ForcedHostFilter) applies(req *Request) bool { return req.ForceHost != "" }

func (ForcedHostFilter) pass(h *HostState, req *Request) bool {
	return req.ForceHost == "" || h.Host == req.ForceHost
}

// RAMWeigher prefers hosts with more free RAM (physical, as Nova's
// RAMWeigher): a positive multiplier spreads servers, a negative one stacks.
type RAMWeigher struct{ Mult float64 }

// Name is the weigher's name in explanations.
func (RAMWeigher) Name() string { return "RAMWeigher" }

// Weigh is h's free RAM in MB.
func (w RAMWeigher) Weigh(h HostState, req Request) float64 { return w.weigh(&h, &req) }

func (RAMWeigher) weigh(h *HostState, _ *Request) float64 { return float64(h.RAMMB - h.UsedRAMMB) }

// Multiplier scales the normalised weight.
func (w RAMWeigher) Multiplier() float64 { return w.Mult }

// DefaultFilters are the scheduler's filters with the given allocation
// ratios (0 = Nova's default), cheapest first.
func DefaultFilters(cpu, ram, disk float64) []Filter {
	return []Filter{
		ForcedHostFilter{}, AvailabilityZoneFilter{}, CloudFilter{}, RetryFilter{}, ComputeFilter{},
		SameHostFilter{}, DifferentHostFilter{}, ServerGroupAffinityFilter{}, ServerGroupAntiAffinityFilter{},
		AggregateMultiTenancyIsolation{}, AggregateInstanceExtraSpecsFilter{}, ResidencyFilter{}, ImagePropertiesFilter{},
		CapacityFilter{CPURatio: orDefault(cpu, DefaultCPUAllocationRatio), RAMRatio: orDefault(ram, DefaultRAMAllocationRatio),
			DiskRatio: orDefault(disk, DefaultDiskAllocationRatio)},
	}
}

// DefaultWeighers are the scheduler's weighers with Nova's multipliers
// (1.0 each): spread by free RAM, prefer cheaper clouds, weigh the soft
// group policies; the latency weigher is in the list but off (multiplier 0)
// until configured.
func DefaultWeighers() []Weigher { return Options{}.weighers() }

func orDefault(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}
