package network

import (
	"context"
	"time"

	"github.com/canopy-cloud/canopy/registry"
	"github.com/redis/go-redis/v9"
)

// Which ports use a security group is kept in a set next to the group (in
// its project's slot), with a "deleting" marker. A port bind adds itself and
// then reads the marker; a delete sets the marker and then counts the set;
// each pair runs in one MULTI. Redis orders the two transactions, so either
// the delete sees the port (409 in use) or the bind sees the marker (the
// group is gone): a port can never end up using a deleted group.

// deleteMarkerTTL bounds how long a crashed delete can keep a group
// unattachable.
const deleteMarkerTTL = 30 * time.Second

func groupPortsKey(projectID, groupID string) string {
	return registry.Key(projectID, "sg", groupID, "ports")
}

func groupDeletingKey(projectID, groupID string) string {
	return registry.Key(projectID, "sg", groupID, "deleting")
}

// bindGroups records portID as a user of groups (all of project). A group
// being deleted reads as not found; whatever was bound is unbound again.
func (s *Service) bindGroups(ctx context.Context, projectID, portID string, groups []string) error {
	rdb := s.reg.Client()
	for i, gid := range groups {
		var exists *redis.IntCmd
		_, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.SAdd(ctx, groupPortsKey(projectID, gid), portID)
			exists = pipe.Exists(ctx, groupDeletingKey(projectID, gid))
			return nil
		})
		if err == nil && exists.Val() > 0 {
			err = secGroupNotFound(gid)
		}
		if err != nil {
			s.unbindGroups(ctx, projectID, portID, groups[:i+1])
			return err
		}
	}
	return nil
}

// unbindGroups removes portID from the groups' user sets. It runs on
// cleanup paths too, so it ignores cancellation.
func (s *Service) unbindGroups(ctx context.Context, projectID, portID string, groups []string) {
	ctx = context.WithoutCancel(ctx)
	rdb := s.reg.Client()
	for _, gid := range groups {
		rdb.SRem(ctx, groupPortsKey(projectID, gid), portID)
	}
}

// lockGroupForDelete sets g's deleting marker and checks that no port uses
// it. The returned release clears the marker and, on success, the set.
func (s *Service) lockGroupForDelete(ctx context.Context, g *secGroup) (func(), error) {
	rdb := s.reg.Client()
	ports, marker := groupPortsKey(g.ProjectID, g.ID), groupDeletingKey(g.ProjectID, g.ID)
	var users *redis.IntCmd
	if _, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, marker, "1", deleteMarkerTTL)
		users = pipe.SCard(ctx, ports)
		return nil
	}); err != nil {
		return nil, err
	}
	if users.Val() > 0 {
		rdb.Del(context.WithoutCancel(ctx), marker)
		return nil, conflict("SecurityGroupInUse", "Security Group %s in use.", g.ID)
	}
	// The marker outlives the delete by its TTL, so a bind racing just
	// behind the delete still reads the group as gone.
	return func() {}, nil
}
