package scheduler

import (
	"context"
	"errors"
)

// RemoveCloud forgets cloud: its hosts stop being candidates and its
// disabled mark goes. The app calls it when an empty cloud is removed while
// the gateway runs; a claim still held on the cloud refuses the removal
// (ErrCloudBusy), since something still lives there.
func (s *Scheduler) RemoveCloud(ctx context.Context, cloud string) error {
	if cloud == "" {
		return errors.New("scheduler: RemoveCloud needs a cloud name")
	}
	rdb := s.reg.Client()
	hosts, err := rdb.SMembers(ctx, s.keys.hosts(cloud)).Result()
	if err != nil {
		return err
	}
	for _, h := range hosts {
		used, err := rdb.HMGet(ctx, s.keys.host(cloud, h), "uv", "ur", "ud").Result()
		if err != nil {
			return err
		}
		for _, u := range used {
			if v, ok := u.(string); ok && v != "0" && v != "" {
				return ErrCloudBusy
			}
		}
	}
	pipe := rdb.Pipeline()
	for _, h := range hosts {
		pipe.Del(ctx, s.keys.host(cloud, h))
	}
	pipe.Del(ctx, s.keys.hosts(cloud))
	pipe.SRem(ctx, s.keys.clouds(), cloud)
	pipe.HDel(ctx, s.keys.disabled(), cloud)
	_, err = pipe.Exec(ctx)
	s.forgetMembers()
	return err
}

// ErrCloudBusy is RemoveCloud's refusal: a host of the cloud still holds
// claimed capacity.
var ErrCloudBusy = errors.New("scheduler: the cloud still holds claimed capacity")
