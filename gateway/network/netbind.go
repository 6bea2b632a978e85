package network

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/canopy-cloud/canopy/registry"
	"github.com/redis/go-redis/v9"
)

// Deletes of networks and subnets race creates of ports on them. Both are
// arbitrated as sgbind.go arbitrates security groups: a "deleting" marker
// next to the network (or subnet), set by the delete before it looks for
// users, and read by the create after it has made itself visible. Redis
// orders the two steps, so either the delete sees the port (409 in use) or
// the create sees the marker (404, and it gives back what it took).
//
//   - network: a port create adds its id to the network's port set and reads
//     the marker in one MULTI; the delete sets the marker and reads the set
//     in one MULTI. A port id in the set without a record yet is a create in
//     flight, so it keeps the network in use.
//   - subnet: an address allocation (HSETNX in the allocator) is followed by
//     a read of the marker; the delete sets the marker, then counts the
//     allocations.
//
// A create that meets the marker waits for the delete's outcome: if the
// delete saw the create it gives up and clears the marker, and the create
// goes on; if the record goes, the create gives back what it took. So a
// race has one winner, never two losers.

func netDeletingKey(n *registry.Network) string {
	return registry.Key(n.ProjectID, "net", n.ID, "deleting")
}

func subnetDeletingKey(sub *registry.Subnet) string {
	return registry.Key(sub.ProjectID, "ipam", sub.ID, "deleting")
}

// joinNetwork adds port id to n's port set; a network being deleted reads
// as not found (and the id leaves the set again).
func (s *Service) joinNetwork(ctx context.Context, n *registry.Network, id string) error {
	rdb := s.reg.Client()
	var deleting *redis.IntCmd
	if _, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.SAdd(ctx, netPortsKey(n), id)
		deleting = pipe.Exists(ctx, netDeletingKey(n))
		return nil
	}); err != nil {
		return err
	}
	if deleting.Val() > 0 {
		gone, err := s.awaitDelete(ctx, netDeletingKey(n), func() error {
			_, err := s.networks.Get(ctx, n.ProjectID, n.ID)
			return err
		})
		if gone || err != nil {
			rdb.SRem(context.WithoutCancel(ctx), netPortsKey(n), id)
		}
		if gone {
			return networkNotFound(n.ID)
		}
		return err
	}
	return nil
}

// deleteWait bounds how long a create waits for a racing delete's outcome
// (the delete's own few round trips).
const deleteWait = 2 * time.Second

// awaitDelete waits until the delete marked by marker either gave up (the
// marker is gone: false) or removed its record (get answers not found:
// true). Waiting longer than deleteWait counts as removed.
func (s *Service) awaitDelete(ctx context.Context, marker string, get func() error) (bool, error) {
	deadline := time.Now().Add(deleteWait)
	for time.Now().Before(deadline) {
		if err := get(); errors.Is(err, registry.ErrNotFound) {
			return true, nil
		} else if err != nil {
			return false, err
		}
		n, err := s.reg.Client().Exists(ctx, marker).Result()
		if err != nil {
			return false, err
		}
		if n == 0 {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return true, nil
}

// lockNetworkForDelete sets n's deleting marker and returns the ids in its
// port set at that moment. unlock clears the marker (the delete gave up).
func (s *Service) lockNetworkForDelete(ctx context.Context, n *registry.Network) (ids []string, unlock func(), err error) {
	rdb := s.reg.Client()
	var members *redis.StringSliceCmd
	if _, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, netDeletingKey(n), "1", deleteMarkerTTL)
		members = pipe.SMembers(ctx, netPortsKey(n))
		return nil
	}); err != nil {
		return nil, nil, err
	}
	return members.Val(), func() { rdb.Del(context.WithoutCancel(ctx), netDeletingKey(n)) }, nil
}

// lockSubnetForDelete sets sub's deleting marker and counts its
// allocations; unlock clears the marker.
func (s *Service) lockSubnetForDelete(ctx context.Context, sub *registry.Subnet, ips *registry.SubnetIPs) (inUse int64, unlock func(), err error) {
	rdb := s.reg.Client()
	if err := rdb.Set(ctx, subnetDeletingKey(sub), "1", deleteMarkerTTL).Err(); err != nil {
		return 0, nil, err
	}
	unlock = func() { rdb.Del(context.WithoutCancel(ctx), subnetDeletingKey(sub)) }
	inUse, err = ips.InUse(ctx)
	if err != nil {
		unlock()
		return 0, nil, err
	}
	return inUse, unlock, nil
}

// keepAllocation checks, after ip was allocated on sub for portID, that sub
// is not being deleted; if it is, the address goes back and the answer is
// SubnetNotFound.
func (s *Service) keepAllocation(ctx context.Context, sub *registry.Subnet, ips *registry.SubnetIPs, ip netip.Addr, portID string) error {
	n, err := s.reg.Client().Exists(ctx, subnetDeletingKey(sub)).Result()
	if err == nil && n == 0 {
		return nil
	}
	gone := false
	if err == nil {
		gone, err = s.awaitDelete(ctx, subnetDeletingKey(sub), func() error {
			_, err := s.subnets.Get(ctx, sub.ProjectID, sub.ID)
			return err
		})
	}
	if gone || err != nil {
		_ = ips.Release(context.WithoutCancel(ctx), ip, portID)
	}
	if gone {
		return subnetNotFound(sub.ID)
	}
	return err
}
