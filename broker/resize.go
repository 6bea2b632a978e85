package broker

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// ClaimResizer is the optional Placer method a resize needs: move a
// server's claim, on the host it holds, to another size, atomically with
// the host's usage (scheduler.Scheduler has it). Without it resize answers
// ErrNotSupported.
type ClaimResizer interface {
	ResizeClaim(ctx context.Context, serverID string, f proxies.Flavor) error
}

// migration is what a resize waiting for confirmation remembers (Nova's
// migration record): the flavor and vm_state to go back to on revert.
type migration struct {
	OldFlavor proxies.Flavor `json:"old_flavor"`
	NewFlavor proxies.Flavor `json:"new_flavor"`
	VMState   string         `json:"vm_state"`
}

func migrationKey(project, serverID string) string { return registry.Key(project, "resize", serverID) }

// ResizeServer changes a server's flavor within its host (Nova's resize):
// RESIZE, then VERIFY_RESIZE with the new flavor until ConfirmResize or
// RevertResize. While it waits, the claim holds the larger of both flavors
// in each dimension, so a revert can never find the host full; quota moves
// to the new flavor at once.
func (b *Broker) ResizeServer(ctx context.Context, c Caller, id, flavorID string) error {
	const action = "resize"
	s, err := b.checkActionable(ctx, c, id, action)
	if err != nil {
		return err
	}
	if s.VMState != "active" && s.VMState != "stopped" {
		return stateConflict(action, action, id, s.VMState)
	}
	f, err := b.flavors.Get(ctx, registry.Global, flavorID)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && !flavorUsable(f, c)) {
		return invalid(action, "Unable to find flavor with ID %s", flavorID)
	}
	if err != nil {
		return err
	}
	if f.Disabled {
		return invalid(action, "Flavor %s could not be found.", flavorID)
	}
	nf := proxies.Flavor{ID: f.ID, Name: f.Name, VCPUs: f.VCPUs, RAMMB: f.RAMMB, DiskGB: f.DiskGB, ExtraSpecs: f.ExtraSpecs}
	old := s.Flavor
	if nf.ID == old.ID {
		return invalid(action, "When resizing, instances must change flavor!")
	}
	if nf.DiskGB < old.DiskGB {
		return invalid(action, "Resize error: Unable to resize disk down.")
	}
	be, err := b.backend(s.Routing.Cloud, action)
	if err != nil {
		return err
	}
	rz, ok := proxies.ResizerOf(be)
	cr, ok2 := b.placer.(ClaimResizer)
	if !ok || !ok2 {
		return proxies.Errorf(proxies.ErrNotSupported, action, "The cloud %s hosting this server does not support '%s'.", be.Name(), action)
	}
	// Take the record first (task resize_prep, compare-and-set), so that of
	// two racing resizes only one moves quota and claim.
	now := b.opts.Now()
	s, err = b.servers.Update(ctx, s.ProjectID, id, func(cur *registry.Server) error {
		if cur.TaskState != "" {
			return conflict(action, "Cannot '%s' instance %s while it is in task_state %s", action, id, cur.TaskState)
		}
		if cur.VMState != "active" && cur.VMState != "stopped" {
			return stateConflict(action, action, id, cur.VMState)
		}
		setState(cur, cur.VMState, "resize_prep", now)
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return instanceNotFound(action, id)
	}
	if err != nil {
		return err
	}
	release := func(ctx context.Context) { b.clearTask(ctx, s, "resize_prep") }
	if old = s.Flavor; nf.ID == old.ID { // a resize confirmed since the first read
		release(context.WithoutCancel(ctx))
		return invalid(action, "When resizing, instances must change flavor!")
	}
	if _, err := b.reserveDelta(ctx, s.ProjectID, nf.VCPUs-old.VCPUs, nf.RAMMB-old.RAMMB); err != nil {
		release(context.WithoutCancel(ctx))
		return err
	}
	undoQuota := func(ctx context.Context) { b.adjustUsage(ctx, s.ProjectID, old.VCPUs-nf.VCPUs, old.RAMMB-nf.RAMMB) }
	if err := cr.ResizeClaim(ctx, id, larger(old, nf)); err != nil {
		undoQuota(context.WithoutCancel(ctx))
		release(context.WithoutCancel(ctx))
		if errors.Is(err, scheduler.ErrNoValidHost) {
			return proxies.Errorf(proxies.ErrCapacity, action, "No valid host was found. There is not enough capacity for flavor %s on the host of this server.", nf.Name)
		}
		return err
	}
	undo := func(ctx context.Context) {
		undoQuota(ctx)
		if err := cr.ResizeClaim(ctx, id, old); err != nil {
			b.log.Error("restore claim after failed resize", "server", id, "err", err)
		}
	}
	mig, _ := json.Marshal(migration{OldFlavor: old, NewFlavor: nf, VMState: s.VMState})
	if err := b.reg.Client().Set(ctx, migrationKey(s.ProjectID, id), mig, 0).Err(); err != nil {
		undo(context.WithoutCancel(ctx))
		release(context.WithoutCancel(ctx))
		return err
	}
	ref := b.logAction(ctx, c, s, action)
	b.spawn(func(bctx context.Context) {
		st, err := rz.ResizeServer(bctx, id, nf)
		if bctx.Err() != nil {
			return
		}
		if err == nil {
			st, err = b.await(bctx, be, id, st, func(st proxies.ServerStatus) bool { return st.TaskState == "" })
		}
		wctx := context.WithoutCancel(bctx)
		failed := err != nil || st.State == proxies.StateError
		if failed {
			// Give back quota, claim and the migration record while the
			// task still holds the server, so no new resize can start
			// and lose its own to this cleanup.
			undo(wctx)
			b.reg.Client().Del(wctx, migrationKey(s.ProjectID, id))
		}
		done := b.opts.Now()
		_, uerr := b.servers.Update(wctx, s.ProjectID, id, func(cur *registry.Server) error {
			if cur.TaskState != "resize_prep" {
				return errDeleting
			}
			if failed {
				setState(cur, cur.VMState, "", done)
				msg := "Failed to resize the server"
				if err != nil {
					msg += ": " + proxies.SafeMessage(err)
				}
				cur.Fault = &registry.Fault{Code: 500, Message: msg, Created: done}
				return nil
			}
			cur.Flavor = nf
			setState(cur, "resized", "", done)
			return nil
		})
		switch {
		case (errors.Is(uerr, errDeleting) || errors.Is(uerr, registry.ErrNotFound)) && !failed:
			// A delete took over: it gives back the quota of the flavor
			// the record shows (the old one); give back the growth too.
			undoQuota(wctx)
		case uerr != nil && !errors.Is(uerr, errDeleting) && !errors.Is(uerr, registry.ErrNotFound):
			b.log.Error("record resize", "server", id, "err", uerr)
		}
		b.finishAction(wctx, ref, failed)
	})
	return nil
}

// ConfirmResize ends a resize waiting in VERIFY_RESIZE: the claim shrinks
// to the new flavor and the server returns to the state it had. The claim
// and the migration record change while task resize_confirming holds the
// server, so a resize started right after cannot lose its own.
func (b *Broker) ConfirmResize(ctx context.Context, c Caller, id string) error {
	const action = "confirmResize"
	s, mig, err := b.resized(ctx, c, id, action)
	if err != nil {
		return err
	}
	if s, err = b.takeResized(ctx, s, action, "resize_confirming"); err != nil {
		return err
	}
	wctx := context.WithoutCancel(ctx)
	if cr, ok := b.placer.(ClaimResizer); ok {
		if err := cr.ResizeClaim(wctx, id, mig.NewFlavor); err != nil && !errors.Is(err, proxies.ErrNotFound) {
			b.log.Error("shrink claim on confirm", "server", id, "err", err)
		}
	}
	b.reg.Client().Del(wctx, migrationKey(s.ProjectID, id))
	now := b.opts.Now()
	s, err = b.servers.Update(wctx, s.ProjectID, id, func(cur *registry.Server) error {
		if cur.TaskState != "resize_confirming" {
			return errDeleting
		}
		setState(cur, mig.VMState, "", now)
		return nil
	})
	if errors.Is(err, errDeleting) || errors.Is(err, registry.ErrNotFound) {
		return nil // a delete took over
	}
	if err != nil {
		return err
	}
	ref := b.logAction(ctx, c, s, action)
	b.finishAction(wctx, ref, false)
	return nil
}

// RevertResize undoes a resize waiting in VERIFY_RESIZE: the backend goes
// back to the old flavor (REVERT_RESIZE), then claim, quota and migration
// record do while the task still holds the server, then the record.
func (b *Broker) RevertResize(ctx context.Context, c Caller, id string) error {
	const action = "revertResize"
	s, mig, err := b.resized(ctx, c, id, action)
	if err != nil {
		return err
	}
	be, err := b.backend(s.Routing.Cloud, action)
	if err != nil {
		return err
	}
	rz, ok := proxies.ResizerOf(be)
	if !ok {
		return proxies.Errorf(proxies.ErrNotSupported, action, "The cloud %s hosting this server does not support '%s'.", be.Name(), action)
	}
	if s, err = b.takeResized(ctx, s, action, "resize_reverting"); err != nil {
		return err
	}
	ref := b.logAction(ctx, c, s, action)
	oldF, newF := mig.OldFlavor, mig.NewFlavor
	b.spawn(func(bctx context.Context) {
		st, err := rz.ResizeServer(bctx, id, oldF)
		if bctx.Err() != nil {
			return
		}
		if err == nil {
			st, err = b.await(bctx, be, id, st, func(st proxies.ServerStatus) bool { return st.TaskState == "" })
		}
		wctx := context.WithoutCancel(bctx)
		failed := err != nil || st.State == proxies.StateError
		if !failed {
			b.adjustUsage(wctx, s.ProjectID, oldF.VCPUs-newF.VCPUs, oldF.RAMMB-newF.RAMMB)
			if cr, ok := b.placer.(ClaimResizer); ok {
				if cerr := cr.ResizeClaim(wctx, id, oldF); cerr != nil && !errors.Is(cerr, proxies.ErrNotFound) {
					b.log.Error("shrink claim on revert", "server", id, "err", cerr)
				}
			}
			b.reg.Client().Del(wctx, migrationKey(s.ProjectID, id))
		}
		done := b.opts.Now()
		_, uerr := b.servers.Update(wctx, s.ProjectID, id, func(cur *registry.Server) error {
			if cur.TaskState != "resize_reverting" {
				return errDeleting
			}
			if failed {
				setState(cur, "resized", "", done) // still revertable or confirmable
				msg := "Failed to revert the resize"
				if err != nil {
					msg += ": " + proxies.SafeMessage(err)
				}
				cur.Fault = &registry.Fault{Code: 500, Message: msg, Created: done}
				return nil
			}
			cur.Flavor = oldF
			setState(cur, mig.VMState, "", done)
			return nil
		})
		switch {
		case (errors.Is(uerr, errDeleting) || errors.Is(uerr, registry.ErrNotFound)) && !failed:
			// A delete took over and gives back the quota of the flavor the
			// record shows (the new one): undo the move to the old one.
			b.adjustUsage(wctx, s.ProjectID, newF.VCPUs-oldF.VCPUs, newF.RAMMB-oldF.RAMMB)
		case uerr != nil && !errors.Is(uerr, errDeleting) && !errors.Is(uerr, registry.ErrNotFound):
			b.log.Error("record resize revert", "server", id, "err", uerr)
		}
		b.finishAction(wctx, ref, failed)
	})
	return nil
}

// takeResized moves a server in VERIFY_RESIZE into task (compare-and-set):
// of two racing confirms or reverts only one proceeds.
func (b *Broker) takeResized(ctx context.Context, s *registry.Server, action, task string) (*registry.Server, error) {
	now := b.opts.Now()
	out, err := b.servers.Update(ctx, s.ProjectID, s.ID, func(cur *registry.Server) error {
		if cur.TaskState != "" {
			return conflict(action, "Cannot '%s' instance %s while it is in task_state %s", action, s.ID, cur.TaskState)
		}
		if cur.VMState != "resized" {
			return stateConflict(action, action, s.ID, cur.VMState)
		}
		setState(cur, cur.VMState, task, now)
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return nil, instanceNotFound(action, s.ID)
	}
	return out, err
}

// adjustUsage moves a project's cores and RAM usage unconditionally: the
// give-backs of a resize, which must never be refused by the quota.
func (b *Broker) adjustUsage(ctx context.Context, project string, dCores, dRAM int) {
	if dCores == 0 && dRAM == 0 {
		return
	}
	pipe := b.reg.Client().TxPipeline()
	pipe.HIncrBy(ctx, usageKey(project), "cores", int64(dCores))
	pipe.HIncrBy(ctx, usageKey(project), "ram", int64(dRAM))
	if _, err := pipe.Exec(ctx); err != nil {
		b.log.Error("adjust quota usage", "project", project, "err", err)
	}
}

// resized loads a server in VERIFY_RESIZE and its migration record.
func (b *Broker) resized(ctx context.Context, c Caller, id, action string) (*registry.Server, migration, error) {
	s, err := b.checkActionable(ctx, c, id, action)
	if err != nil {
		return nil, migration{}, err
	}
	if s.VMState != "resized" {
		return nil, migration{}, stateConflict(action, action, id, s.VMState)
	}
	var mig migration
	raw, err := b.reg.Client().Get(ctx, migrationKey(s.ProjectID, id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, mig, notFound(action, "Instance %s has not been resized.", id)
	}
	if err != nil {
		return nil, mig, err
	}
	if err := json.Unmarshal(raw, &mig); err != nil {
		return nil, mig, err
	}
	return s, mig, nil
}

// larger is, per dimension, the larger of two flavors: what a server
// waiting in VERIFY_RESIZE holds on its host.
func larger(a, b proxies.Flavor) proxies.Flavor {
	out := b
	out.VCPUs, out.RAMMB, out.DiskGB = max(a.VCPUs, b.VCPUs), max(a.RAMMB, b.RAMMB), max(a.DiskGB, b.DiskGB)
	return out
}

// reserveDelta moves a project's cores and RAM usage by a resize's
// difference, refusing growth beyond the quota with a *QuotaError.
func (b *Broker) reserveDelta(ctx context.Context, project string, dCores, dRAM int) (int, error) {
	if dCores == 0 && dRAM == 0 {
		return 1, nil
	}
	q := b.opts.Quota
	res, err := reserveScript.Run(ctx, b.reg.Client(), []string{usageKey(project)},
		1, 1, "cores", q.Cores, dCores, "ram", q.RAM, dRAM).Slice()
	if err != nil {
		return 0, err
	}
	if n, _ := res[0].(int64); n > 0 {
		return int(n), nil
	}
	if len(res) < 4 {
		return 0, errors.New("broker: unexpected quota answer")
	}
	name, _ := res[1].(string)
	used, _ := res[2].(int64)
	limit, _ := res[3].(int64)
	per := map[string]int{"cores": dCores, "ram": dRAM}[name]
	return 0, &QuotaError{Resource: name, Requested: per, Used: int(used), Limit: int(limit)}
}

// clearTask ends task on a server whose command gave up before any backend
// call, unless something else (a delete) took the record meanwhile.
func (b *Broker) clearTask(ctx context.Context, s *registry.Server, task string) {
	now := b.opts.Now()
	_, err := b.servers.Update(ctx, s.ProjectID, s.ID, func(cur *registry.Server) error {
		if cur.TaskState != task {
			return errDeleting
		}
		setState(cur, cur.VMState, "", now)
		return nil
	})
	if err != nil && !errors.Is(err, errDeleting) && !errors.Is(err, registry.ErrNotFound) {
		b.log.Error("clear task", "server", s.ID, "task", task, "err", err)
	}
}
