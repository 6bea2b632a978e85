package scheduler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/redis/go-redis/v9"
)

// Host aggregates (Nova's os-aggregates): named groups of hosts with
// metadata that the aggregate filters read (flavor extra specs, tenant
// isolation, allocation ratios). A host may be in several. They live beside
// the rest of the scheduler's state, so that a snapshot reads them in the
// same round trip as the hosts:
//
//	{g}:sched:aggregates        hash id → JSON Aggregate
//	{g}:sched:aggregate-names   hash name → id (names are unique)
//	{g}:sched:aggregate-seq     counter for Nova's integer ids

func (k keys) aggregates() string     { return k.prefix + "{g}:sched:aggregates" }
func (k keys) aggregateNames() string { return k.prefix + "{g}:sched:aggregate-names" }
func (k keys) aggregateSeq() string   { return k.prefix + "{g}:sched:aggregate-seq" }

// Aggregate is one host aggregate. Hosts are host names as the scheduler
// knows them (HostState.Host); the availability zone, when set, is also the
// metadata key "availability_zone", as in Nova.
type Aggregate struct {
	ID        int               `json:"id"`
	UUID      string            `json:"uuid"`
	Name      string            `json:"name"`
	Hosts     []string          `json:"hosts"`
	Metadata  map[string]string `json:"metadata"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt *time.Time        `json:"updated_at,omitempty"`
}

// AvailabilityZone is the aggregate's zone ("" when it names none).
func (a *Aggregate) AvailabilityZone() string { return a.Metadata["availability_zone"] }

// Errors of the aggregate operations; the gateway maps them to Nova's faults.
var (
	ErrAggregateNotFound = errors.New("aggregate not found")
	ErrAggregateExists   = errors.New("aggregate name exists")
)

// CreateAggregate stores a new aggregate with a fresh integer id; uuid is
// the caller's (Nova shows it from 2.41). An empty zone means none.
func (s *Scheduler) CreateAggregate(ctx context.Context, name, zone, uuid string, now time.Time) (*Aggregate, error) {
	rdb := s.reg.Client()
	// Refuse a taken name before minting an id, so that ids are not burnt
	// by refused creates (the script checks again, atomically).
	if taken, err := rdb.HExists(ctx, s.keys.aggregateNames(), name).Result(); err != nil || taken {
		if err == nil {
			err = ErrAggregateExists
		}
		return nil, err
	}
	id, err := rdb.Incr(ctx, s.keys.aggregateSeq()).Result()
	if err != nil {
		return nil, err
	}
	a := &Aggregate{ID: int(id), UUID: uuid, Name: name, Hosts: []string{}, Metadata: map[string]string{}, CreatedAt: now.UTC()}
	if zone != "" {
		a.Metadata["availability_zone"] = zone
	}
	data, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	res, err := aggCreateScript.Run(ctx, rdb, []string{s.keys.aggregates(), s.keys.aggregateNames()},
		strconv.Itoa(a.ID), name, data).Text()
	if err != nil {
		return nil, err
	}
	if res == "name" {
		return nil, ErrAggregateExists
	}
	return a, nil
}

// Aggregate reads one aggregate.
func (s *Scheduler) Aggregate(ctx context.Context, id int) (*Aggregate, error) {
	a, _, err := s.readAggregate(ctx, id)
	return a, err
}

func (s *Scheduler) readAggregate(ctx context.Context, id int) (*Aggregate, string, error) {
	raw, err := s.reg.Client().HGet(ctx, s.keys.aggregates(), strconv.Itoa(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, "", ErrAggregateNotFound
	}
	if err != nil {
		return nil, "", err
	}
	a := new(Aggregate)
	if err := json.Unmarshal([]byte(raw), a); err != nil {
		return nil, "", err
	}
	return a, raw, nil
}

// Aggregates lists every aggregate, by id.
func (s *Scheduler) Aggregates(ctx context.Context) ([]*Aggregate, error) {
	all, err := s.reg.Client().HGetAll(ctx, s.keys.aggregates()).Result()
	if err != nil {
		return nil, err
	}
	return decodeAggregates(all), nil
}

// decodeAggregates decodes the aggregates hash, by id; a record that does
// not decode is skipped (it never blocks placement).
func decodeAggregates(all map[string]string) []*Aggregate {
	out := make([]*Aggregate, 0, len(all))
	for _, raw := range all {
		a := new(Aggregate)
		if json.Unmarshal([]byte(raw), a) == nil {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *Aggregate) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// UpdateAggregate applies fn to aggregate id and stores the result with a
// compare-and-set, retrying when another writer got there first. fn may run
// more than once and may return an error to abort. A rename to a name in
// use answers ErrAggregateExists.
func (s *Scheduler) UpdateAggregate(ctx context.Context, id int, fn func(*Aggregate) error) (*Aggregate, error) {
	for range maxAggregateCAS {
		a, raw, err := s.readAggregate(ctx, id)
		if err != nil {
			return nil, err
		}
		oldName := a.Name
		if err := fn(a); err != nil {
			return nil, err
		}
		data, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		res, err := aggUpdateScript.Run(ctx, s.reg.Client(), []string{s.keys.aggregates(), s.keys.aggregateNames()},
			strconv.Itoa(id), raw, data, oldName, a.Name).Text()
		if err != nil {
			return nil, err
		}
		switch res {
		case "ok":
			return a, nil
		case "name":
			return nil, ErrAggregateExists
		case "gone":
			return nil, ErrAggregateNotFound
		}
		// "moved": another writer changed it meanwhile; read again.
	}
	return nil, fmt.Errorf("scheduler: aggregate %d kept changing under the update", id)
}

// DeleteAggregate removes aggregate id if check (given the current record)
// allows it. Deleting an aggregate already gone answers ErrAggregateNotFound.
func (s *Scheduler) DeleteAggregate(ctx context.Context, id int, check func(*Aggregate) error) error {
	for range maxAggregateCAS {
		a, raw, err := s.readAggregate(ctx, id)
		if err != nil {
			return err
		}
		if err := check(a); err != nil {
			return err
		}
		res, err := aggDeleteScript.Run(ctx, s.reg.Client(), []string{s.keys.aggregates(), s.keys.aggregateNames()},
			strconv.Itoa(id), raw, a.Name).Text()
		if err != nil {
			return err
		}
		if res == "ok" {
			return nil
		}
	}
	return fmt.Errorf("scheduler: aggregate %d kept changing under the delete", id)
}

const maxAggregateCAS = 100

var (
	// aggCreateScript: KEYS aggregates, names. ARGV id name json.
	aggCreateScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[1]) == 0 then return 'name' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 'ok'`)
	// aggUpdateScript: KEYS aggregates, names. ARGV id old new oldName newName.
	aggUpdateScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 'gone' end
if cur ~= ARGV[2] then return 'moved' end
if ARGV[4] ~= ARGV[5] then
  if redis.call('HSETNX', KEYS[2], ARGV[5], ARGV[1]) == 0 then return 'name' end
  redis.call('HDEL', KEYS[2], ARGV[4])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 'ok'`)
	// aggDeleteScript: KEYS aggregates, names. ARGV id old name.
	aggDeleteScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 'ok' end
if cur ~= ARGV[2] then return 'moved' end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[3])
return 'ok'`)
)

// AggregateView is what a host's aggregates say, as the aggregate filters
// read it: Nova's aggregate_metadata_get_by_host (every key with the union
// of its comma-separated values over the host's aggregates), with the
// tenant isolation and allocation ratios already parsed out of it.
type AggregateView struct {
	// IDs are the host's aggregates, ascending.
	IDs []int `json:"ids"`
	// Metadata maps each key to its values, sorted.
	Metadata map[string][]string `json:"metadata,omitempty"`
	// TenantIDs are the projects the filter_tenant_id* keys reserve the
	// host for (nil: any project).
	TenantIDs []string `json:"tenant_ids,omitempty"`
	// CPURatio, RAMRatio and DiskRatio are the *_allocation_ratio keys
	// (the smallest when several aggregates set one); 0 when unset.
	CPURatio  float64 `json:"cpu_allocation_ratio,omitempty"`
	RAMRatio  float64 `json:"ram_allocation_ratio,omitempty"`
	DiskRatio float64 `json:"disk_allocation_ratio,omitempty"`
	// PricePerVCPUHour is the cost_per_vcpu_hour key (the lowest when
	// several aggregates set one), when Priced.
	PricePerVCPUHour float64 `json:"cost_per_vcpu_hour,omitempty"`
	// Priced says an aggregate sets a valid price (0 is a price: free).
	Priced bool `json:"priced,omitempty"`
}

// resolveAggregates gives every host of hosts its AggregateView, one view
// per distinct set of aggregates. A host name in an aggregate matches that
// host in every cloud.
func resolveAggregates(hosts []HostState, aggs []*Aggregate) {
	if len(aggs) == 0 {
		return
	}
	member := map[string][]int{} // host name → indexes into aggs
	for i, a := range aggs {
		for _, h := range a.Hosts {
			member[h] = append(member[h], i)
		}
	}
	if len(member) == 0 {
		return
	}
	views := map[string]*AggregateView{}
	for i := range hosts {
		idx := member[hosts[i].Host]
		if len(idx) == 0 {
			continue
		}
		sig := fmt.Sprint(idx)
		v, ok := views[sig]
		if !ok {
			v = newAggregateView(aggs, idx)
			views[sig] = v
		}
		hosts[i].Aggregates = v
	}
}

func newAggregateView(aggs []*Aggregate, idx []int) *AggregateView {
	v := &AggregateView{Metadata: map[string][]string{}}
	for _, i := range idx {
		a := aggs[i]
		v.IDs = append(v.IDs, a.ID)
		for k, val := range a.Metadata {
			for part := range strings.SplitSeq(val, ",") {
				part = strings.TrimSpace(part)
				if !slices.Contains(v.Metadata[k], part) {
					v.Metadata[k] = append(v.Metadata[k], part)
				}
			}
		}
	}
	slices.Sort(v.IDs)
	for k, vals := range v.Metadata {
		slices.Sort(vals)
		if strings.HasPrefix(k, "filter_tenant_id") {
			for _, t := range vals {
				if t != "" && !slices.Contains(v.TenantIDs, t) {
					v.TenantIDs = append(v.TenantIDs, t)
				}
			}
		}
	}
	slices.Sort(v.TenantIDs)
	v.CPURatio = minRatio(v.Metadata["cpu_allocation_ratio"])
	v.RAMRatio = minRatio(v.Metadata["ram_allocation_ratio"])
	v.DiskRatio = minRatio(v.Metadata["disk_allocation_ratio"])
	v.PricePerVCPUHour, v.Priced = minPrice(v.Metadata[costMetadataKey])
	return v
}

// minRatio is Nova's validate_num_values(based_on=min): the smallest valid
// positive value, 0 (the default applies) when none is valid.
func minRatio(vals []string) float64 {
	r := 0.0
	for _, s := range vals {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 {
			continue
		}
		if r == 0 || f < r {
			r = f
		}
	}
	return r
}

// ValidateAggregateMetadata checks the values the scheduler parses, so that
// a typo in a ratio is refused at the API rather than silently ignored.
func ValidateAggregateMetadata(md map[string]string) error {
	for _, k := range []string{"cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio"} {
		v, ok := md[k]
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil || f <= 0 {
			return fmt.Errorf("scheduler: %w: %s must be a positive number, not %q", proxies.ErrInvalid, k, v)
		}
	}
	if v, ok := md[costMetadataKey]; ok {
		return validatePrice(v)
	}
	return nil
}
