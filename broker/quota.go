package broker

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/canopy-cloud/canopy/registry"
)

// Quota usage lives in one hash per project (instances, cores, ram), under
// the project's hash tag, changed only by the script below so that two
// concurrent creates can never both take the last slot.

func usageKey(project string) string { return registry.Key(project, "compute_usage") }

// reserveScript grants as many servers as fit between ARGV[1] (min) and
// ARGV[2] (max), given triples (resource, limit, per-server amount). It
// answers {count} or {0, resource, used, limit} when not even min fits.
var reserveScript = redis.NewScript(`
local min, max = tonumber(ARGV[1]), tonumber(ARGV[2])
local n = max
local used = {}
for i = 3, #ARGV, 3 do
  local res, limit, per = ARGV[i], tonumber(ARGV[i+1]), tonumber(ARGV[i+2])
  local u = tonumber(redis.call('HGET', KEYS[1], res) or '0')
  used[res] = u
  if limit >= 0 and per > 0 then
    local fit = math.floor((limit - u) / per)
    if fit < min then return {0, res, u, limit} end
    if fit < n then n = fit end
  end
end
for i = 3, #ARGV, 3 do
  local per = tonumber(ARGV[i+2])
  if per ~= 0 then redis.call('HINCRBY', KEYS[1], ARGV[i], per * n) end
end
return {n}`)

// reserve takes quota for between min and max servers of flavor size and
// returns how many it granted, or a *QuotaError.
func (b *Broker) reserve(ctx context.Context, project string, min, max, vcpus, ramMB int) (int, error) {
	q := b.opts.Quota
	res, err := reserveScript.Run(ctx, b.reg.Client(), []string{usageKey(project)},
		min, max, "instances", q.Instances, 1, "cores", q.Cores, vcpus, "ram", q.RAM, ramMB).Slice()
	if err != nil {
		return 0, err
	}
	n, _ := res[0].(int64)
	if n > 0 {
		return int(n), nil
	}
	if len(res) < 4 {
		return 0, fmt.Errorf("broker: unexpected quota answer %v", res)
	}
	name, _ := res[1].(string)
	used, _ := res[2].(int64)
	limit, _ := res[3].(int64)
	per := map[string]int{"instances": 1, "cores": vcpus, "ram": ramMB}[name]
	return 0, &QuotaError{Resource: name, Requested: per * min, Used: int(used), Limit: int(limit)}
}

// unreserve gives back one server's quota.
func (b *Broker) unreserve(ctx context.Context, project string, vcpus, ramMB int) error {
	pipe := b.reg.Client().Pipeline()
	k := usageKey(project)
	pipe.HIncrBy(ctx, k, "instances", -1)
	pipe.HIncrBy(ctx, k, "cores", -int64(vcpus))
	pipe.HIncrBy(ctx, k, "ram", -int64(ramMB))
	_, err := pipe.Exec(ctx)
	return err
}

// Usage is what a project uses of its compute quota.
type Usage struct {
	Instances int `json:"instances"`
	Cores     int `json:"cores"`
	RAM       int `json:"ram"`
}

// Usage reads a project's quota usage.
func (b *Broker) Usage(ctx context.Context, project string) (Usage, error) {
	vals, err := b.reg.Client().HMGet(ctx, usageKey(project), "instances", "cores", "ram").Result()
	if err != nil {
		return Usage{}, err
	}
	get := func(v any) int {
		s, _ := v.(string)
		n, _ := strconv.Atoi(s)
		return max(n, 0)
	}
	return Usage{Instances: get(vals[0]), Cores: get(vals[1]), RAM: get(vals[2])}, nil
}
