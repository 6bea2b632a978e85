package scheduler

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Per-host operator state (Nova's compute service status and forced_down)
// and what the admin views need to show hosts as Nova does:
//
//	{g}:sched:host-disabled   hash "cloud/host" → reason
//	{g}:sched:host-down       hash "cloud/host" → 1 (forced down)
//	{g}:sched:host-numbers    hash "cloud/host" → stable small integer
//	{g}:sched:host-seq        counter for host numbers
//
// Snapshot applies the first two: a disabled host stays in the snapshot
// with Enabled false, a forced-down host with Up false, so the compute
// filter never chooses them.

func (k keys) hostDisabled() string { return k.prefix + "{g}:sched:host-disabled" }
func (k keys) hostDown() string     { return k.prefix + "{g}:sched:host-down" }
func (k keys) hostNumbers() string  { return k.prefix + "{g}:sched:host-numbers" }
func (k keys) hostSeq() string      { return k.prefix + "{g}:sched:host-seq" }

// HostKey names one host of one cloud ("cloud/host"), as HostNumbers and
// RunningServers key them.
func HostKey(cloud, host string) string { return cloud + "/" + host }

// SetHostEnabled enables or disables one host for new placements; reason is
// shown to operators while it is disabled. What runs there is untouched.
// Idempotent.
func (s *Scheduler) SetHostEnabled(ctx context.Context, cloud, host string, enabled bool, reason string) error {
	if cloud == "" || host == "" {
		return errors.New("scheduler: SetHostEnabled needs a cloud and a host")
	}
	rdb := s.reg.Client()
	if enabled {
		return rdb.HDel(ctx, s.keys.hostDisabled(), HostKey(cloud, host)).Err()
	}
	return rdb.HSet(ctx, s.keys.hostDisabled(), HostKey(cloud, host), reason).Err()
}

// SetHostForcedDown marks one host down whatever its cloud reports (Nova's
// forced_down, for fencing), or lifts the mark. Idempotent.
func (s *Scheduler) SetHostForcedDown(ctx context.Context, cloud, host string, down bool) error {
	if cloud == "" || host == "" {
		return errors.New("scheduler: SetHostForcedDown needs a cloud and a host")
	}
	rdb := s.reg.Client()
	if !down {
		return rdb.HDel(ctx, s.keys.hostDown(), HostKey(cloud, host)).Err()
	}
	return rdb.HSet(ctx, s.keys.hostDown(), HostKey(cloud, host), 1).Err()
}

// HostNumbers returns a stable small integer (1, 2, ...) for each host,
// keyed "cloud/host", numbering the hosts it has not seen before. Nova's
// APIs before microversion 2.53 identify hypervisors and services by such
// integers.
func (s *Scheduler) HostNumbers(ctx context.Context, hosts []HostState) (map[string]int, error) {
	fields := make([]any, len(hosts))
	for i, h := range hosts {
		fields[i] = HostKey(h.Cloud, h.Host)
	}
	out := make(map[string]int, len(hosts))
	if len(hosts) == 0 {
		return out, nil
	}
	nums, err := hostNumberScript.Run(ctx, s.reg.Client(), []string{s.keys.hostNumbers(), s.keys.hostSeq()}, fields...).Int64Slice()
	if err != nil {
		return nil, err
	}
	for i, n := range nums {
		out[fields[i].(string)] = int(n)
	}
	return out, nil
}

// hostNumberScript: KEYS numbers, seq. ARGV host fields. Answers each
// field's number, minting the missing ones.
var hostNumberScript = redis.NewScript(`
local out = {}
for i, f in ipairs(ARGV) do
  local n = redis.call('HGET', KEYS[1], f)
  if not n then
    n = redis.call('INCR', KEYS[2])
    redis.call('HSET', KEYS[1], f, n)
  end
  out[i] = tonumber(n)
end
return out`)

// Claim is one server's capacity claim: where the scheduler placed it.
type Claim struct {
	ServerID  string
	ProjectID string
	Cloud     string
	Host      string
}

// Claims lists every server's claim (the servers each host runs, as the
// scheduler counts them), in no particular order.
func (s *Scheduler) Claims(ctx context.Context) ([]Claim, error) {
	rdb := s.reg.Client()
	index, err := rdb.HGetAll(ctx, s.keys.claimIndex()).Result()
	if err != nil || len(index) == 0 {
		return nil, err
	}
	type pending struct {
		server, cloud string
		vals          func() []any
	}
	pipe := rdb.Pipeline()
	ps := make([]pending, 0, len(index))
	for server, cloud := range index {
		cmd := pipe.HMGet(ctx, s.keys.claim(cloud, server), "host", "project")
		ps = append(ps, pending{server: server, cloud: cloud, vals: cmd.Val})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make([]Claim, 0, len(ps))
	for _, p := range ps {
		v := p.vals()
		if v[0] == nil {
			continue // released meanwhile
		}
		out = append(out, Claim{ServerID: p.server, ProjectID: str(v[1]), Cloud: p.cloud, Host: str(v[0])})
	}
	return out, nil
}

// RunningServers counts the claims on each host, keyed "cloud/host".
func RunningServers(claims []Claim) map[string]int {
	out := map[string]int{}
	for _, c := range claims {
		out[HostKey(c.Cloud, c.Host)]++
	}
	return out
}

// atoi64 parses a Redis integer reply field (0 when absent or bad).
func atoi64(v any) int64 {
	n, _ := strconv.ParseInt(str(v), 10, 64)
	return n
}
