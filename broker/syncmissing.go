package broker

import (
	"context"
	"errors"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// deleteGrace is how long a delete may run in this or another broker before
// the sync loop, finding the server gone from its backend, finishes the
// delete itself (the broker that started it crashed).
const deleteGrace = time.Minute

// finishKey is taken (SET NX) by whoever releases a deleted server's ports,
// claim and quota, so that a delete finished by the sync loop and one
// finished by its own goroutine never both give the quota back.
func finishKey(project, serverID string) string {
	return registry.Key(project, "server_finish", serverID)
}

// takeFinish reports whether the caller won the right to finish serverID's
// delete.
func (b *Broker) takeFinish(ctx context.Context, project, serverID string) bool {
	ok, err := b.reg.Client().SetNX(ctx, finishKey(project, serverID), "1", 10*time.Minute).Result()
	if err != nil {
		b.log.Error("take delete finish", "server", serverID, "err", err)
		return false
	}
	return ok
}

// syncMissing corrects the records of cloud whose servers the backend no
// longer reports (listed holds the ids it does, as of listedAt), one by one
// through fixMissing.
func (b *Broker) syncMissing(ctx context.Context, cloud string, listed map[string]bool, listedAt time.Time) (int, error) {
	all, err := b.servers.List(ctx, "*", registry.Page{})
	if err != nil {
		return 0, err
	}
	fixed := 0
	for _, s := range all {
		if s.Routing.Cloud != cloud || listed[s.ID] {
			continue
		}
		ok, err := b.fixMissing(ctx, cloud, s, listedAt)
		if ok {
			fixed++
		}
		if err != nil {
			return fixed, err
		}
	}
	return fixed, nil
}

// fixMissing corrects the record s of a server cloud no longer has (as of
// goneAt: a list that lacked it, or a watch that saw it deleted) and
// reports whether it did: a server being deleted is finished (claims,
// ports, quota, record) once deleteGrace has passed; any other settled
// server goes ERROR with a fault saying it is gone, and the drift is
// recorded. Records that changed since goneAt, builds and other tasks are
// left alone.
func (b *Broker) fixMissing(ctx context.Context, cloud string, s *registry.Server, goneAt time.Time) (bool, error) {
	if s.Routing.Cloud != cloud || !s.Updated.Before(goneAt) {
		return false, nil
	}
	switch {
	case s.TaskState == "deleting":
		if goneAt.Sub(s.Updated) < deleteGrace || !b.takeFinish(ctx, s.ProjectID, s.ID) {
			return false, nil
		}
		wctx := context.WithoutCancel(ctx)
		b.rollback(wctx, s, true)
		b.reg.Client().Del(wctx, actionsKey(s.ProjectID, s.ID), migrationKey(s.ProjectID, s.ID), lockedByKey(s.ProjectID, s.ID))
		return true, nil
	case s.TaskState == "" && s.VMState != "building" && s.VMState != "error":
		now := b.opts.Now()
		var from string
		_, err := b.servers.Update(ctx, s.ProjectID, s.ID, func(cur *registry.Server) error {
			if cur.TaskState != "" || cur.VMState == "building" || cur.VMState == "error" || !cur.Updated.Before(goneAt) {
				return errDeleting // changed since the list: leave it to the next pass
			}
			from = cur.Status
			setState(cur, "error", "", now)
			cur.PowerState = int(proxies.PowerNoState)
			cur.Routing.State = registry.RoutingError
			cur.Fault = &registry.Fault{Code: 500, Created: now,
				Message: "The server is missing from its cloud " + cloud + "; it was deleted or lost outside Canopy."}
			return nil
		})
		if err == nil {
			b.recordDrift(ctx, cloud, DriftEvent{ServerID: s.ID, ProjectID: s.ProjectID, Kind: DriftMissing,
				From: from, To: "ERROR", At: now})
			return true, nil
		}
		if !errors.Is(err, errDeleting) && !errors.Is(err, registry.ErrNotFound) {
			return false, err
		}
	}
	return false, nil
}
