// Package scheduler decides where a server goes: region → availability zone
// → cloud (pod) → host aggregate → host. The decision is a pure function of a
// snapshot of the registry (Decide); the chosen candidate's capacity is then
// claimed atomically in the registry so that concurrent schedulers in several
// gateway processes never over-book.
//
// Filters (Nova's, by name: zone, compute, capacity, aggregates, server
// groups, same/different host, retry, image properties; and Canopy's cloud
// and data-residency filters) and weighers (free RAM, cost per vCPU-hour,
// soft group policies, latency to the group's members, each with its
// multiplier) are small values; Explain shows a decision host by host and
// why each dropped host was dropped.
package scheduler

import (
	"errors"

	"github.com/canopy-cloud/canopy/proxies"
)

// ErrNoValidHost is returned when no candidate passes the filters or every
// claim failed. The gateway maps it to Nova's "No valid host was found".
var ErrNoValidHost = errors.New("no valid host was found")

// HostState is one placement candidate as the registry knows it.
type HostState struct {
	Cloud            string            `json:"cloud"`
	Host             string            `json:"host"`
	AvailabilityZone string            `json:"availability_zone"`
	HypervisorType   string            `json:"hypervisor_type"`
	Up               bool              `json:"up"`
	Enabled          bool              `json:"enabled"`
	VCPUs            int               `json:"vcpus"`
	RAMMB            int               `json:"ram_mb"`
	DiskGB           int               `json:"disk_gb"`
	UsedVCPUs        int               `json:"used_vcpus"`
	UsedRAMMB        int               `json:"used_ram_mb"`
	UsedDiskGB       int               `json:"used_disk_gb"`
	Labels           map[string]string `json:"labels,omitempty"`
	Generation       int64             `json:"generation"`
	// DisabledReason is the operator's reason when the host or its cloud
	// was disabled for placement ("" when none was given).
	DisabledReason string `json:"disabled_reason,omitempty"`
	// ForcedDown is set by an operator (Nova's forced_down): the host counts
	// as down whatever its cloud reports.
	ForcedDown bool `json:"forced_down,omitempty"`
	// SyncedAt is when the host's inventory was last reported (Unix
	// seconds; 0 when never recorded).
	SyncedAt int64 `json:"synced_at,omitempty"`
	// Aggregates is what the host's aggregates say, resolved once per
	// snapshot and shared by the hosts in the same aggregates (nil: in none).
	Aggregates *AggregateView `json:"aggregates,omitempty"`
	// Country and Region are where the host's cloud runs (Options.
	// CloudLocations; "" when not configured), for the ResidencyFilter.
	Country string `json:"country,omitempty"`
	Region  string `json:"region,omitempty"`
	// PricePerVCPUHour is what a vCPU costs here per hour (aggregate
	// metadata cost_per_vcpu_hour, else Options.CloudCosts; 0 when
	// unpriced), for the CostWeigher.
	PricePerVCPUHour float64 `json:"price_per_vcpu_hour,omitempty"`
}

// Request is what one server asks of the scheduler.
type Request struct {
	ServerID         string
	ProjectID        string
	Flavor           proxies.Flavor
	AvailabilityZone string // "" = any
	ForceHost        string // "az:host" admin form resolved to a host name
	// Group is the server group the server joins: its policy and its
	// members' hosts (zero: no group). The ServerGroup* filters enforce the
	// hard policies, the ServerGroupSoft* weighers weigh the soft ones.
	Group GroupHints
	// Hints are the scheduler hints of the create, resolved by the caller.
	Hints Hints
	// ImageProperties are the properties of the image the server boots
	// (Glance's; nil when it boots from a volume or has none), for the
	// ImagePropertiesFilter.
	ImageProperties map[string]string
	// ProjectResidency is the project's data residency. The Scheduler sets
	// it from its store (SetProjectResidency) when it places or explains;
	// callers of Decide set it themselves.
	ProjectResidency Residency
}

// Hints are Nova's scheduler hints (os:scheduler_hints) and Canopy's own,
// with server ids already resolved to the hosts ("cloud/host") they run on,
// so that the filters stay pure functions of the snapshot.
type Hints struct {
	// SameHost keeps only these hosts (Nova's same_host: the hosts of the
	// servers it names); empty means no such hint.
	SameHost []string
	// DifferentHost drops these hosts (Nova's different_host).
	DifferentHost []string
	// Cloud keeps only the hosts of this cloud (Canopy's "cloud" hint).
	Cloud string
	// RefusedHosts and RefusedClouds are where a backend already refused
	// this server (out of capacity: the host; out of quota: the whole
	// cloud), so that the next placement looks elsewhere (RetryFilter).
	RefusedHosts  []string
	RefusedClouds []string
}

// Snapshot is the registry's view of every candidate at one moment.
type Snapshot struct {
	Hosts []HostState
	// Residency is each project's data residency, as the scheduler's store
	// holds it (projects without one are absent).
	Residency map[string]Residency
}

// Placement is the outcome: where the server goes.
type Placement struct {
	Cloud            string `json:"cloud"`
	Host             string `json:"host"`
	AvailabilityZone string `json:"availability_zone"`
}
