package broker

import (
	"context"
	"errors"

	"github.com/canopy-cloud/canopy/registry"
)

// ErrUnlockOverride is the refusal to unlock a server that an admin of
// another project locked (Nova's unlock:unlock_override policy, admin only).
var ErrUnlockOverride = errors.New("unlock_override")

// lockedByKey holds who locked a server: "owner" (its own project) or
// "admin" (another project's admin), as Nova's instance.locked_by.
func lockedByKey(project, serverID string) string {
	return registry.Key(project, "locked_by", serverID)
}

// lockedBy is what Nova records for a lock by caller c: owner when the
// caller's project owns the server, else admin.
func lockedBy(c Caller, s *registry.Server) string {
	if c.ProjectID == s.ProjectID {
		return "owner"
	}
	return "admin"
}

// LockServer locks a server (Nova's lock action) with an optional reason
// (2.73). Locking a locked server keeps the first locker and reason, as
// Nova does.
func (b *Broker) LockServer(ctx context.Context, c Caller, id string, reason *string) error {
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return err
	}
	if s.Locked {
		return nil
	}
	if err := b.reg.Client().Set(ctx, lockedByKey(s.ProjectID, id), lockedBy(c, s), 0).Err(); err != nil {
		return err
	}
	s, err = b.UpdateServer(ctx, c, id, func(cur *registry.Server) error {
		if !cur.Locked {
			cur.Locked, cur.LockedReason = true, reason
		}
		return nil
	})
	if err != nil {
		return err
	}
	ref := b.logAction(ctx, c, s, "lock")
	b.finishAction(context.WithoutCancel(ctx), ref, false)
	return nil
}

// UnlockServer unlocks a server. A lock set by an admin of another project
// can be lifted only by an admin: ErrUnlockOverride otherwise.
func (b *Broker) UnlockServer(ctx context.Context, c Caller, id string) error {
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return err
	}
	if s.Locked && !c.IsAdmin {
		by, err := b.reg.Client().Get(ctx, lockedByKey(s.ProjectID, id)).Result()
		if err == nil && by != lockedBy(c, s) {
			return ErrUnlockOverride
		}
	}
	s, err = b.UpdateServer(ctx, c, id, func(cur *registry.Server) error {
		cur.Locked, cur.LockedReason = false, nil
		return nil
	})
	if err != nil {
		return err
	}
	b.reg.Client().Del(context.WithoutCancel(ctx), lockedByKey(s.ProjectID, id))
	ref := b.logAction(ctx, c, s, "unlock")
	b.finishAction(context.WithoutCancel(ctx), ref, false)
	return nil
}
