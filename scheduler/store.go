package scheduler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/redis/go-redis/v9"
)

// Layout of the scheduler's keys in the registry. Every key of one cloud sits
// under registry.CloudTag(cloud), so a claim and the host it charges change
// together in one Lua script, in one Cluster slot:
//
//	{c:<cloud>}:hosts              set of host names
//	{c:<cloud>}:host:<name>        hash: inventory (vcpus ram disk up en az ht lb),
//	                               usage (uv ur ud), generation g, last sync ts
//	{c:<cloud>}:claim:<server>     hash: host az vcpus ram disk project
//	{g}:sched:clouds               set of clouds with hosts
//	{g}:sched:claims               hash server id → cloud of its claim
type keys struct{ prefix string }

func (k keys) clouds() string              { return k.prefix + "{g}:sched:clouds" }
func (k keys) claimIndex() string          { return k.prefix + "{g}:sched:claims" }
func (k keys) hosts(cloud string) string   { return k.prefix + registry.CloudKey(cloud, "hosts") }
func (k keys) host(cloud, h string) string { return k.prefix + registry.CloudKey(cloud, "host", h) }

// agentHosts is the set of a cloud's hosts that report themselves
// (ReportHost: `canopy agent`), which the cloud's own inventory leaves alone.
func (k keys) agentHosts(cloud string) string {
	return k.prefix + registry.CloudKey(cloud, "agent-hosts")
}
func (k keys) claim(cloud, server string) string {
	return k.prefix + registry.CloudKey(cloud, "claim", server)
}

// hostFields are read, in this order, into a HostState.
var hostFields = []string{"vcpus", "ram", "disk", "uv", "ur", "ud", "up", "en", "az", "ht", "lb", "g", "ts", "exp"}

// SyncHosts writes cloud's host inventory (as a backend's Inventory reports
// it) into the registry, leaving usage untouched, so the hosts become
// placement candidates. Hosts the cloud no longer reports are marked down;
// their claims stay until released.
func (s *Scheduler) SyncHosts(ctx context.Context, cloud string, hosts []proxies.Host) error {
	if cloud == "" {
		return errors.New("scheduler: SyncHosts needs a cloud name")
	}
	rdb := s.reg.Client()
	read := rdb.Pipeline()
	knownCmd, agentsCmd := read.SMembers(ctx, s.keys.hosts(cloud)), read.SMembers(ctx, s.keys.agentHosts(cloud))
	if _, err := read.Exec(ctx); err != nil {
		return err
	}
	known, agents := knownCmd.Val(), agentsCmd.Val()
	reported := make(map[string]bool, len(hosts)+len(agents))
	for _, name := range agents {
		reported[name] = true // they report themselves (ReportHost)
	}
	now := time.Now().Unix()
	pipe := rdb.Pipeline()
	pipe.SAdd(ctx, s.keys.clouds(), cloud)
	for _, h := range hosts {
		if h.Name == "" {
			return errors.New("scheduler: SyncHosts: a host of cloud " + cloud + " has no name")
		}
		reported[h.Name] = true
		if err := s.writeHost(ctx, pipe, cloud, h, now); err != nil {
			return err
		}
	}
	for _, name := range known {
		if !reported[name] {
			pipe.HSet(ctx, s.keys.host(cloud, name), "up", 0)
			pipe.HIncrBy(ctx, s.keys.host(cloud, name), "g", 1)
		}
	}
	_, err := pipe.Exec(ctx)
	s.forgetMembers()
	return err
}

// ReportHost writes one host that reports itself (`canopy agent`'s
// heartbeat) without touching the cloud's other hosts; the cloud's own
// inventory (SyncHosts) never marks it down. Without a new report within
// ttl the host counts as down: a dead agent stops its host's placements.
func (s *Scheduler) ReportHost(ctx context.Context, cloud string, h proxies.Host, ttl time.Duration) error {
	if cloud == "" || h.Name == "" {
		return errors.New("scheduler: ReportHost needs a cloud and a host name")
	}
	if ttl <= 0 {
		return errors.New("scheduler: ReportHost needs a positive ttl")
	}
	now := time.Now()
	pipe := s.reg.Client().TxPipeline()
	pipe.SAdd(ctx, s.keys.clouds(), cloud)
	if err := s.writeHost(ctx, pipe, cloud, h, now.Unix()); err != nil {
		return err
	}
	pipe.HSet(ctx, s.keys.host(cloud, h.Name), "exp", now.Add(ttl).Unix())
	pipe.SAdd(ctx, s.keys.agentHosts(cloud), h.Name)
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	s.forgetMembers()
	return nil
}

// writeHost queues host h's inventory on pipe: its fields, usage counters
// left as they are (zero when new), a new generation, its membership.
func (s *Scheduler) writeHost(ctx context.Context, pipe redis.Pipeliner, cloud string, h proxies.Host, now int64) error {
	labels, err := json.Marshal(h.Labels)
	if err != nil {
		return err
	}
	key := s.keys.host(cloud, h.Name)
	pipe.HSet(ctx, key, "vcpus", h.VCPUs, "ram", h.RAMMB, "disk", h.DiskGB, "up", bit(h.Up), "en", bit(h.Enabled),
		"az", h.AvailabilityZone, "ht", h.HypervisorType, "lb", labels, "ts", now)
	for _, f := range []string{"uv", "ur", "ud"} {
		pipe.HSetNX(ctx, key, f, 0)
	}
	pipe.HIncrBy(ctx, key, "g", 1)
	pipe.SAdd(ctx, s.keys.hosts(cloud), h.Name)
	return nil
}

func bit(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Snapshot reads every host of every cloud from the registry, ordered by
// cloud then host name. Which hosts exist is cached for membershipTTL (it
// changes only when inventories are synced); their state and usage are read
// fresh every time, with the operators' disables and the aggregates (each
// host gets its aggregates' view here, once per snapshot, so that no filter
// resolves aggregates per decision).
func (s *Scheduler) Snapshot(ctx context.Context) (Snapshot, error) {
	rdb := s.reg.Client()
	refs, err := s.members(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	if len(refs) == 0 {
		return Snapshot{}, nil
	}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(refs))
	for i, r := range refs {
		cmds[i] = pipe.HMGet(ctx, s.keys.host(r.cloud, r.host), hostFields...)
	}
	disabledCmd := pipe.HGetAll(ctx, s.keys.disabled())
	hostOffCmd := pipe.HGetAll(ctx, s.keys.hostDisabled())
	hostDownCmd := pipe.HGetAll(ctx, s.keys.hostDown())
	aggCmd := pipe.HGetAll(ctx, s.keys.aggregates())
	resCmd := pipe.HGetAll(ctx, s.keys.residency())
	if _, err := pipe.Exec(ctx); err != nil {
		return Snapshot{}, err
	}
	disabled, hostOff, hostDown := disabledCmd.Val(), hostOffCmd.Val(), hostDownCmd.Val()
	now := time.Now().Unix()
	snap := Snapshot{Hosts: make([]HostState, 0, len(refs))}
	for i, r := range refs {
		v := cmds[i].Val()
		if v[0] == nil {
			continue // removed meanwhile
		}
		h := HostState{
			Cloud: r.cloud, Host: r.host,
			VCPUs: atoi(v[0]), RAMMB: atoi(v[1]), DiskGB: atoi(v[2]),
			UsedVCPUs: atoi(v[3]), UsedRAMMB: atoi(v[4]), UsedDiskGB: atoi(v[5]),
			Up: atoi(v[6]) == 1, Enabled: atoi(v[7]) == 1,
			AvailabilityZone: str(v[8]), HypervisorType: str(v[9]), Generation: int64(atoi(v[11])),
			SyncedAt: atoi64(v[12]),
		}
		if exp := atoi64(v[13]); exp > 0 && now > exp {
			h.Up = false // a self-reporting host whose heartbeats stopped
		}
		if reason, off := hostOff[HostKey(r.cloud, r.host)]; off {
			h.Enabled, h.DisabledReason = false, reason
		}
		if reason, off := disabled[r.cloud]; off {
			h.Enabled, h.DisabledReason = false, reason
		}
		if _, down := hostDown[HostKey(r.cloud, r.host)]; down {
			h.Up, h.ForcedDown = false, true
		}
		if lb := str(v[10]); lb != "" && lb != "null" {
			_ = json.Unmarshal([]byte(lb), &h.Labels) // labels are advisory; a bad one never blocks placement
		}
		snap.Hosts = append(snap.Hosts, h)
	}
	// A stable order, so equal candidates rank the same in every process.
	slices.SortFunc(snap.Hosts, func(a, b HostState) int {
		if c := cmp.Compare(a.Cloud, b.Cloud); c != 0 {
			return c
		}
		return cmp.Compare(a.Host, b.Host)
	})
	resolveAggregates(snap.Hosts, decodeAggregates(aggCmd.Val()))
	resolvePrices(snap.Hosts, s.cloudCosts)
	resolveLocations(snap.Hosts, s.locations)
	if res := resCmd.Val(); len(res) > 0 {
		snap.Residency = make(map[string]Residency, len(res))
		for p, raw := range res {
			snap.Residency[p] = decodeResidency(raw)
		}
	}
	return snap, nil
}

// snapCall is one registry read that concurrent placements in this process
// share: a burst of placements reads the registry a few times, not once
// each. Claims stay atomic, so a shared read is as safe as a private one.
type snapCall struct {
	started time.Time
	done    chan struct{}
	snap    Snapshot
	err     error
}

// sharedSnapshot is a snapshot read no earlier than notBefore: the read in
// flight when it started after notBefore (zero: any), else a new one that
// later callers may join. Callers treat it as read-only, as Decide does.
func (s *Scheduler) sharedSnapshot(ctx context.Context, notBefore time.Time) (Snapshot, error) {
	s.snapMu.Lock()
	if c := s.inflight; c != nil && !c.started.Before(notBefore) {
		s.snapMu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return Snapshot{}, ctx.Err()
		}
		if c.err == nil {
			return c.snap, nil
		}
		return s.Snapshot(ctx) // the leader's read failed (its ctx, maybe): read alone
	}
	c := &snapCall{started: time.Now(), done: make(chan struct{})}
	s.inflight = c
	s.snapMu.Unlock()
	c.snap, c.err = s.Snapshot(ctx)
	close(c.done)
	s.snapMu.Lock()
	if s.inflight == c {
		s.inflight = nil
	}
	s.snapMu.Unlock()
	return c.snap, c.err
}

// hostRef names one host of one cloud.
type hostRef struct{ cloud, host string }

// membershipTTL bounds how long a host added by another process's SyncHosts
// stays invisible to this scheduler.
const membershipTTL = time.Second

// members lists every known host, from the cache when it is fresh.
func (s *Scheduler) members(ctx context.Context) ([]hostRef, error) {
	s.memMu.Lock()
	if s.memRefs != nil && time.Since(s.memAt) < membershipTTL {
		refs := s.memRefs
		s.memMu.Unlock()
		return refs, nil
	}
	s.memMu.Unlock()
	rdb := s.reg.Client()
	clouds, err := rdb.SMembers(ctx, s.keys.clouds()).Result()
	if err != nil {
		return nil, err
	}
	pipe := rdb.Pipeline()
	sets := make([]*redis.StringSliceCmd, len(clouds))
	for i, c := range clouds {
		sets[i] = pipe.SMembers(ctx, s.keys.hosts(c))
	}
	if len(clouds) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
	}
	refs := []hostRef{}
	for i, c := range clouds {
		for _, h := range sets[i].Val() {
			refs = append(refs, hostRef{c, h})
		}
	}
	s.memMu.Lock()
	s.memRefs, s.memAt = refs, time.Now()
	s.memMu.Unlock()
	return refs, nil
}

// forgetMembers drops the cached host list (after this process syncs hosts).
func (s *Scheduler) forgetMembers() {
	s.memMu.Lock()
	s.memRefs = nil
	s.memMu.Unlock()
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func atoi(v any) int {
	n, _ := strconv.Atoi(str(v))
	return n
}

// Lua scripts; each touches the keys of one cloud only.
var (
	// claimScript: KEYS host, claim. ARGV vcpus ram disk cpuRatio ramRatio
	// diskRatio host project. Answers {status, host, az}.
	claimScript = redis.NewScript(`
local c = redis.call('HMGET', KEYS[2], 'host', 'az')
if c[1] then return {'exists', c[1], c[2] or ''} end
local h = redis.call('HMGET', KEYS[1], 'vcpus', 'ram', 'disk', 'uv', 'ur', 'ud', 'up', 'en', 'az')
if not h[1] then return {'gone', '', ''} end
if h[7] ~= '1' or h[8] ~= '1' then return {'down', '', ''} end
local v, r, d = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if tonumber(h[4] or '0') + v > tonumber(h[1]) * tonumber(ARGV[4])
  or tonumber(h[5] or '0') + r > tonumber(h[2]) * tonumber(ARGV[5])
  or tonumber(h[6] or '0') + d > tonumber(h[3]) * tonumber(ARGV[6]) then
  return {'full', '', ''}
end
redis.call('HINCRBY', KEYS[1], 'uv', v)
redis.call('HINCRBY', KEYS[1], 'ur', r)
redis.call('HINCRBY', KEYS[1], 'ud', d)
redis.call('HINCRBY', KEYS[1], 'g', 1)
redis.call('HSET', KEYS[2], 'host', ARGV[7], 'az', h[9] or '', 'vcpus', v, 'ram', r, 'disk', d, 'project', ARGV[8])
return {'ok', ARGV[7], h[9] or ''}`)
	// releaseScript: KEYS host, claim. ARGV host. Gives back what the claim
	// holds, once.
	releaseScript = redis.NewScript(`
local c = redis.call('HMGET', KEYS[2], 'host', 'vcpus', 'ram', 'disk')
if not c[1] then return 0 end
if c[1] ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'uv', -tonumber(c[2]))
  redis.call('HINCRBY', KEYS[1], 'ur', -tonumber(c[3]))
  redis.call('HINCRBY', KEYS[1], 'ud', -tonumber(c[4]))
  redis.call('HINCRBY', KEYS[1], 'g', 1)
end
redis.call('DEL', KEYS[2])
return 1`)
)

// claimOutcome is the claim script's verdict.
type claimOutcome string

const (
	claimOK     claimOutcome = "ok"
	claimExists claimOutcome = "exists" // this server already holds a claim in the cloud
	claimFull   claimOutcome = "full"   // lost the race: no room any more
	claimDown   claimOutcome = "down"
	claimGone   claimOutcome = "gone"
)

// claim charges req's flavor to candidate c atomically, under the
// allocation ratios of c's aggregates where they set their own.
func (s *Scheduler) claim(ctx context.Context, c Candidate, req Request) (claimOutcome, Placement, error) {
	f := req.Flavor
	cpuR, ramR, diskR := hostRatios(c.HostState, s.cpuR, s.ramR, s.diskR)
	res, err := claimScript.Run(ctx, s.reg.Client(),
		[]string{s.keys.host(c.Cloud, c.Host), s.keys.claim(c.Cloud, req.ServerID)},
		f.VCPUs, f.RAMMB, f.DiskGB, cpuR, ramR, diskR, c.Host, req.ProjectID).StringSlice()
	if err != nil {
		return "", Placement{}, err
	}
	if len(res) != 3 {
		return "", Placement{}, errors.New("scheduler: unexpected claim answer " + strings.Join(res, ","))
	}
	return claimOutcome(res[0]), Placement{Cloud: c.Cloud, Host: res[1], AvailabilityZone: res[2]}, nil
}

// existing returns the placement serverID already holds, if any.
func (s *Scheduler) existing(ctx context.Context, serverID string) (Placement, bool, error) {
	rdb := s.reg.Client()
	cloud, err := rdb.HGet(ctx, s.keys.claimIndex(), serverID).Result()
	if errors.Is(err, redis.Nil) {
		return Placement{}, false, nil
	}
	if err != nil {
		return Placement{}, false, err
	}
	v, err := rdb.HMGet(ctx, s.keys.claim(cloud, serverID), "host", "az").Result()
	if err != nil {
		return Placement{}, false, err
	}
	if v[0] == nil {
		return Placement{}, false, nil
	}
	return Placement{Cloud: cloud, Host: str(v[0]), AvailabilityZone: str(v[1])}, true, nil
}

// Release frees serverID's claim, if it holds one. Idempotent.
func (s *Scheduler) Release(ctx context.Context, serverID string) error {
	rdb := s.reg.Client()
	cloud, err := rdb.HGet(ctx, s.keys.claimIndex(), serverID).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	claimKey := s.keys.claim(cloud, serverID)
	for range maxReleaseAttempts {
		host, err := rdb.HGet(ctx, claimKey, "host").Result()
		if errors.Is(err, redis.Nil) {
			break
		}
		if err != nil {
			return err
		}
		n, err := releaseScript.Run(ctx, rdb, []string{s.keys.host(cloud, host), claimKey}, host).Int()
		if err != nil {
			return err
		}
		if n >= 0 {
			break
		}
		// -1: the claim moved to another host between the two reads; retry.
	}
	return rdb.HDel(ctx, s.keys.claimIndex(), serverID).Err()
}

const maxReleaseAttempts = 5
