package scheduler

import (
	"fmt"
	"math"
	"strings"

	"github.com/canopy-cloud/canopy/proxies"
)

// Default latencies of a Latency table, in milliseconds.
const (
	DefaultSameZoneLatencyMS  = 0.5
	DefaultSameCloudLatencyMS = 1.0
	DefaultLatencyMS          = 50.0
)

// Latency is the operator's table of round-trip times between the places
// servers run, for the LatencyWeigher. Between two hosts, the first rule
// that applies gives the latency: the same host 0; the same zone of the
// same cloud SameZoneMS; a Zones entry for the two zones; the same cloud
// SameCloudMS; a Clouds entry for the two clouds; else DefaultMS. Table
// keys are "a/b" and hold both ways. A zero or absent value takes the
// default.
type Latency struct {
	SameZoneMS  float64
	SameCloudMS float64
	DefaultMS   float64
	// Clouds and Zones map "a/b" (cloud names; availability-zone names) to
	// milliseconds.
	Clouds map[string]float64
	Zones  map[string]float64
}

// Validate checks the table's keys and values.
func (l Latency) Validate() error {
	for _, v := range []float64{l.SameZoneMS, l.SameCloudMS, l.DefaultMS} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("scheduler: %w: a latency must be a number of milliseconds ≥ 0, not %v", proxies.ErrInvalid, v)
		}
	}
	for what, m := range map[string]map[string]float64{"clouds": l.Clouds, "zones": l.Zones} {
		for k, v := range m {
			if _, _, ok := splitPair(k); !ok {
				return fmt.Errorf("scheduler: %w: latency %s key %q must be two names joined by a slash (a/b)", proxies.ErrInvalid, what, k)
			}
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("scheduler: %w: latency %s %q must be a number of milliseconds ≥ 0, not %v", proxies.ErrInvalid, what, k, v)
			}
		}
	}
	return nil
}

func splitPair(k string) (string, string, bool) {
	a, b, ok := strings.Cut(k, "/")
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	return a, b, ok && a != "" && b != "" && !strings.Contains(b, "/")
}

// pair is an unordered pair of names, smaller first.
type pair struct{ a, b string }

func pairOf(a, b string) pair {
	if b < a {
		a, b = b, a
	}
	return pair{a, b}
}

// latencyTable is a Latency with its defaults applied and its keys parsed.
type latencyTable struct {
	sameZone, sameCloud, def float64
	clouds, zones            map[pair]float64
}

func (l Latency) table() latencyTable {
	t := latencyTable{
		sameZone: orDefault(l.SameZoneMS, DefaultSameZoneLatencyMS), sameCloud: orDefault(l.SameCloudMS, DefaultSameCloudLatencyMS),
		def: orDefault(l.DefaultMS, DefaultLatencyMS), clouds: map[pair]float64{}, zones: map[pair]float64{},
	}
	for k, v := range l.Clouds {
		if a, b, ok := splitPair(k); ok {
			t.clouds[pairOf(a, b)] = v
		}
	}
	for k, v := range l.Zones {
		if a, b, ok := splitPair(k); ok {
			t.zones[pairOf(a, b)] = v
		}
	}
	return t
}

// between is the latency between a host and a member's place.
func (t *latencyTable) between(h *HostState, m *member) float64 {
	sameCloud := h.Cloud == m.cloud
	switch {
	case sameCloud && h.Host == m.host:
		return 0
	case sameCloud && m.zone != "" && h.AvailabilityZone == m.zone:
		return t.sameZone
	}
	if m.zone != "" && h.AvailabilityZone != "" {
		if v, ok := t.zones[pairOf(h.AvailabilityZone, m.zone)]; ok {
			return v
		}
	}
	if sameCloud {
		return t.sameCloud
	}
	if v, ok := t.clouds[pairOf(h.Cloud, m.cloud)]; ok {
		return v
	}
	return t.def
}

// LatencyWeigher prefers the hosts closest to the server group's other
// members: its weight is minus the mean latency (Table) from the host to
// each member. It acts only on a request whose group has members.
type LatencyWeigher struct {
	Mult  float64
	Table Latency
}

// Name is the weigher's name in explanations.
func (LatencyWeigher) Name() string { return "LatencyWeigher" }

// Multiplier scales the normalised weight.
func (w LatencyWeigher) Multiplier() float64 { return w.Mult }

// Weigh is minus h's mean latency to the group's members. Without the
// snapshot, the members' zones are unknown and only the cloud rules apply;
// Decide and Explain weigh with the zones.
func (w LatencyWeigher) Weigh(h HostState, req Request) float64 {
	return w.prepare(nil, &req).(*latencyWeights).weigh(&h, &req)
}

func (w LatencyWeigher) applies(req *Request) bool { return w.Mult != 0 && len(req.Group.Hosts) > 0 }

// prepare finds the members' hosts in the snapshot (for their zones).
func (w LatencyWeigher) prepare(hosts []HostState, req *Request) Weigher {
	lw := &latencyWeights{LatencyWeigher: w, t: w.Table.table()}
	for _, e := range req.Group.Hosts {
		cloud, host, _ := strings.Cut(e, "/")
		found := false
		for i := range lw.members {
			if m := &lw.members[i]; m.cloud == cloud && m.host == host {
				m.n++
				found = true
				break
			}
		}
		if !found {
			lw.members = append(lw.members, member{cloud: cloud, host: host, n: 1})
		}
		lw.total++
	}
	for i := range hosts {
		for j := range lw.members {
			if m := &lw.members[j]; m.zone == "" && m.cloud == hosts[i].Cloud && m.host == hosts[i].Host {
				m.zone = hosts[i].AvailabilityZone
			}
		}
	}
	return lw
}

// member is one host running members of the group: n of them.
type member struct {
	cloud, host, zone string
	n                 int
}

// latencyWeights is a LatencyWeigher bound to one decision's members.
type latencyWeights struct {
	LatencyWeigher
	t       latencyTable
	members []member
	total   int
}

func (w *latencyWeights) Weigh(h HostState, req Request) float64 { return w.weigh(&h, &req) }

func (w *latencyWeights) weigh(h *HostState, _ *Request) float64 {
	if w.total == 0 {
		return 0
	}
	sum := 0.0
	for i := range w.members {
		sum += float64(w.members[i].n) * w.t.between(h, &w.members[i])
	}
	return -sum / float64(w.total)
}
