package scheduler

import (
	"context"
	"errors"
	"fmt"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/redis/go-redis/v9"
)

// resizeScript: KEYS host, claim. ARGV vcpus ram disk cpuRatio ramRatio
// diskRatio host. Moves the claim to the new size in place, checking the
// host's room only for what grows, so a resize can never over-book the host
// and a shrink always succeeds. Answers 'ok', 'full', 'none' (no claim) or
// 'moved' (the claim is on another host).
var resizeScript = redis.NewScript(`
local c = redis.call('HMGET', KEYS[2], 'host', 'vcpus', 'ram', 'disk')
if not c[1] then return 'none' end
if c[1] ~= ARGV[7] then return 'moved' end
local h = redis.call('HMGET', KEYS[1], 'vcpus', 'ram', 'disk', 'uv', 'ur', 'ud')
if not h[1] then return 'none' end
local dv = tonumber(ARGV[1]) - tonumber(c[2])
local dr = tonumber(ARGV[2]) - tonumber(c[3])
local dd = tonumber(ARGV[3]) - tonumber(c[4])
if (dv > 0 and tonumber(h[4] or '0') + dv > tonumber(h[1]) * tonumber(ARGV[4]))
  or (dr > 0 and tonumber(h[5] or '0') + dr > tonumber(h[2]) * tonumber(ARGV[5]))
  or (dd > 0 and tonumber(h[6] or '0') + dd > tonumber(h[3]) * tonumber(ARGV[6])) then
  return 'full'
end
redis.call('HINCRBY', KEYS[1], 'uv', dv)
redis.call('HINCRBY', KEYS[1], 'ur', dr)
redis.call('HINCRBY', KEYS[1], 'ud', dd)
redis.call('HINCRBY', KEYS[1], 'g', 1)
redis.call('HSET', KEYS[2], 'vcpus', ARGV[1], 'ram', ARGV[2], 'disk', ARGV[3])
return 'ok'`)

// ResizeClaim changes the capacity serverID's claim holds to f's size, on
// the host it already holds (a resize within the host). It is atomic with
// the host's usage: ErrNoValidHost when the host has no room for the
// growth, nothing changed. Calling it again with the same flavor changes
// nothing. A server without a claim reads as proxies.ErrNotFound.
func (s *Scheduler) ResizeClaim(ctx context.Context, serverID string, f proxies.Flavor) error {
	if f.VCPUs < 0 || f.RAMMB < 0 || f.DiskGB < 0 {
		return fmt.Errorf("scheduler: %w: flavor %s has a negative size", proxies.ErrInvalid, f.ID)
	}
	rdb := s.reg.Client()
	for range maxReleaseAttempts {
		p, ok, err := s.existing(ctx, serverID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("scheduler: %w: server %s holds no claim", proxies.ErrNotFound, serverID)
		}
		cpuR, ramR, diskR, err := s.ratiosOn(ctx, p.Host)
		if err != nil {
			return err
		}
		res, err := resizeScript.Run(ctx, rdb, []string{s.keys.host(p.Cloud, p.Host), s.keys.claim(p.Cloud, serverID)},
			f.VCPUs, f.RAMMB, f.DiskGB, cpuR, ramR, diskR, p.Host).Text()
		if err != nil {
			return err
		}
		switch res {
		case "ok":
			return nil
		case "full":
			return ErrNoValidHost
		case "none":
			return fmt.Errorf("scheduler: %w: server %s holds no claim", proxies.ErrNotFound, serverID)
		}
		// "moved": the claim changed hosts between the reads; retry.
	}
	return errors.New("scheduler: the claim of server " + serverID + " kept moving")
}

// ratiosOn are the allocation ratios on host: its aggregates' where they
// set their own (as claim applies them through the snapshot), else the
// scheduler's.
func (s *Scheduler) ratiosOn(ctx context.Context, host string) (cpu, ram, disk float64, err error) {
	aggs, err := s.Aggregates(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	h := []HostState{{Host: host}}
	resolveAggregates(h, aggs)
	cpu, ram, disk = hostRatios(&h[0], s.cpuR, s.ramR, s.diskR)
	return cpu, ram, disk, nil
}
