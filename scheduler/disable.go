package scheduler

import (
	"context"
	"errors"
)

// Disabling a cloud takes it out of placement without touching what runs
// there (Tricircle's "pod" disable, Nova's disabled compute service): its
// hosts stay in the snapshot with Enabled false, so the compute filter never
// chooses them, and Nova's views show them disabled.
//
//	{g}:sched:disabled   hash cloud → reason

func (k keys) disabled() string { return k.prefix + "{g}:sched:disabled" }

// SetCloudEnabled enables or disables cloud for new placements; reason is
// shown to operators while it is disabled. Idempotent.
func (s *Scheduler) SetCloudEnabled(ctx context.Context, cloud string, enabled bool, reason string) error {
	if cloud == "" {
		return errors.New("scheduler: SetCloudEnabled needs a cloud name")
	}
	rdb := s.reg.Client()
	if enabled {
		return rdb.HDel(ctx, s.keys.disabled(), cloud).Err()
	}
	return rdb.HSet(ctx, s.keys.disabled(), cloud, reason).Err()
}

// DisabledClouds returns the disabled clouds and the reason given for each.
func (s *Scheduler) DisabledClouds(ctx context.Context) (map[string]string, error) {
	return s.reg.Client().HGetAll(ctx, s.keys.disabled()).Result()
}
