package broker

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// Kinds of drift the sync loop finds and corrects (the kind label of
// SyncDrift and DriftEvent.Kind).
const (
	// DriftState: the cloud reports another power state than the record
	// (ACTIVE in the registry, stopped in the cloud, or the reverse).
	DriftState = "state"
	// DriftMissing: the record's server is gone from its cloud; the record
	// goes ERROR.
	DriftMissing = "missing"
)

// Bounds of what the registry keeps of each cloud's findings.
const (
	maxOrphans     = 100 // orphans listed (the count goes on past it)
	maxDriftEvents = 50  // most recent corrections kept
)

// SyncOrphans is the number of orphans each cloud's last sync pass found
// (servers carrying a Canopy top id the registry does not know).
var SyncOrphans = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: "canopy",
	Subsystem: "sync",
	Name:      "orphans",
	Help:      "Servers in a cloud that carry a Canopy top id the registry does not know (reported, never deleted automatically).",
}, []string{"cloud"})

// SyncDrift counts the records the sync loop corrected, by cloud and kind
// (DriftState, DriftMissing).
var SyncDrift = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "canopy",
	Subsystem: "sync",
	Name:      "drift_total",
	Help:      "Server records the sync loop corrected because the cloud disagreed with the registry, by kind (state, missing).",
}, []string{"cloud", "kind"})

// Orphan is a server found in a cloud with a Canopy top id that no record
// in the registry has: for example a create that was retried after its top
// record was deleted. Orphans are reported, never deleted automatically.
type Orphan struct {
	ID        string              `json:"id"` // the top id the bottom server carries
	BottomID  string              `json:"bottom_id"`
	Host      string              `json:"host,omitempty"`
	State     proxies.ServerState `json:"state"`
	FirstSeen time.Time           `json:"first_seen"`
	LastSeen  time.Time           `json:"last_seen"`
}

// DriftEvent is one record the sync loop corrected.
type DriftEvent struct {
	ServerID  string    `json:"server_id"`
	ProjectID string    `json:"project_id"`
	Kind      string    `json:"kind"` // DriftState or DriftMissing
	From      string    `json:"from"` // Nova status before
	To        string    `json:"to"`   // Nova status after
	At        time.Time `json:"at"`
}

// DriftReport is what the registry holds of one cloud's latest findings.
type DriftReport struct {
	Cloud string
	// CheckedAt is when the last full sync pass of the cloud ended (zero
	// when none has yet).
	CheckedAt time.Time
	// OrphanCount is how many orphans there are; Orphans lists at most 100
	// of them, by id.
	OrphanCount int
	Orphans     []Orphan
	// Drift is the most recent corrections (at most 50), newest first.
	Drift []DriftEvent
}

func orphansKey(cloud string) string { return registry.CloudKey(cloud, "sync", "orphans") }
func driftKey(cloud string) string   { return registry.CloudKey(cloud, "sync", "drift") }
func syncMetaKey(cloud string) string {
	return registry.CloudKey(cloud, "sync", "meta")
}

// LoadDriftReport reads cloud's latest findings from the registry (an empty
// report when the cloud was never synced).
func LoadDriftReport(ctx context.Context, reg *registry.Registry, cloud string) (DriftReport, error) {
	rdb := reg.Client()
	var orphans *redis.MapStringStringCmd
	var drift *redis.StringSliceCmd
	var meta *redis.MapStringStringCmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		orphans = p.HGetAll(ctx, orphansKey(cloud))
		drift = p.LRange(ctx, driftKey(cloud), 0, maxDriftEvents-1)
		meta = p.HGetAll(ctx, syncMetaKey(cloud))
		return nil
	})
	if err != nil {
		return DriftReport{}, err
	}
	r := DriftReport{Cloud: cloud, Orphans: []Orphan{}, Drift: []DriftEvent{}}
	for _, v := range orphans.Val() {
		var o Orphan
		if json.Unmarshal([]byte(v), &o) == nil {
			r.Orphans = append(r.Orphans, o)
		}
	}
	slices.SortFunc(r.Orphans, func(a, b Orphan) int { return strings.Compare(a.ID, b.ID) })
	for _, v := range drift.Val() {
		var e DriftEvent
		if json.Unmarshal([]byte(v), &e) == nil {
			r.Drift = append(r.Drift, e)
		}
	}
	m := meta.Val()
	r.CheckedAt, _ = time.Parse(time.RFC3339Nano, m["checked_at"])
	count, _ := strconv.Atoi(m["orphans"])
	r.OrphanCount = max(count, len(r.Orphans))
	return r, nil
}

// recordDrift counts one correction and keeps it in the cloud's recent
// corrections. A failure to record is logged: the correction itself stands.
func (b *Broker) recordDrift(ctx context.Context, cloud string, e DriftEvent) {
	SyncDrift.WithLabelValues(cloud, e.Kind).Inc()
	v, _ := json.Marshal(e)
	_, err := b.reg.Client().TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, driftKey(cloud), v)
		p.LTrim(ctx, driftKey(cloud), 0, maxDriftEvents-1)
		return nil
	})
	if err != nil {
		b.log.Warn("cannot record sync drift", "cloud", cloud, "server", e.ServerID, "err", err)
	}
}

// storedOrphans reads the orphans the registry holds for cloud, by id.
func (b *Broker) storedOrphans(ctx context.Context, cloud string) (map[string]Orphan, error) {
	all, err := b.reg.Client().HGetAll(ctx, orphansKey(cloud)).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]Orphan, len(all))
	for id, v := range all {
		var o Orphan
		if json.Unmarshal([]byte(v), &o) == nil {
			out[id] = o
		}
	}
	return out, nil
}

// replaceOrphans stores the orphans a full pass found (keeping when each
// was first seen) and the time of the pass, and sets SyncOrphans.
func (b *Broker) replaceOrphans(ctx context.Context, cloud string, found []Orphan, at time.Time) error {
	old, err := b.storedOrphans(ctx, cloud)
	if err != nil {
		return err
	}
	slices.SortFunc(found, func(a, b Orphan) int { return strings.Compare(a.ID, b.ID) })
	_, err = b.reg.Client().TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, orphansKey(cloud))
		for i, o := range found {
			if i == maxOrphans {
				break
			}
			if prev, ok := old[o.ID]; ok && !prev.FirstSeen.IsZero() {
				o.FirstSeen = prev.FirstSeen
			}
			v, _ := json.Marshal(o)
			p.HSet(ctx, orphansKey(cloud), o.ID, v)
		}
		p.HSet(ctx, syncMetaKey(cloud), "checked_at", at.Format(time.RFC3339Nano), "orphans", len(found))
		return nil
	})
	if err != nil {
		return err
	}
	SyncOrphans.WithLabelValues(cloud).Set(float64(len(found)))
	return nil
}

// noteOrphan adds (or, when gone is true, removes) one orphan found between
// full passes (by a watch), and adjusts the count and SyncOrphans.
func (b *Broker) noteOrphan(ctx context.Context, cloud string, o Orphan, gone bool) error {
	rdb := b.reg.Client()
	old, err := rdb.HGet(ctx, orphansKey(cloud), o.ID).Result()
	known := err == nil
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	var delta int64
	switch {
	case gone && known:
		if err := rdb.HDel(ctx, orphansKey(cloud), o.ID).Err(); err != nil {
			return err
		}
		delta = -1
	case gone:
		return nil
	case known:
		var prev Orphan
		if json.Unmarshal([]byte(old), &prev) == nil && !prev.FirstSeen.IsZero() {
			o.FirstSeen = prev.FirstSeen
		}
		v, _ := json.Marshal(o)
		return rdb.HSet(ctx, orphansKey(cloud), o.ID, v).Err()
	default:
		delta = 1
		if n, err := rdb.HLen(ctx, orphansKey(cloud)).Result(); err == nil && n < maxOrphans {
			v, _ := json.Marshal(o)
			if err := rdb.HSet(ctx, orphansKey(cloud), o.ID, v).Err(); err != nil {
				return err
			}
		}
	}
	n, err := rdb.HIncrBy(ctx, syncMetaKey(cloud), "orphans", delta).Result()
	if err != nil {
		return err
	}
	SyncOrphans.WithLabelValues(cloud).Set(float64(max(n, 0)))
	return nil
}
