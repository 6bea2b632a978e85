package broker

import (
	"context"
	"errors"
	"slices"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// transition describes one power action: the states it starts from, the
// task_state it shows while running, the backend call, the state it ends in.
type transition struct {
	action    string // Nova's action name, for faults and the action log
	from      []string
	task      string
	capable   func(proxies.Capabilities) bool
	call      func(ctx context.Context, d proxies.ServerDriver, id string) (proxies.ServerStatus, error)
	endState  proxies.ServerState
	endVM     string
	endPower  proxies.PowerState
	logAction string
}

// StartServer powers on a SHUTOFF server (os-start).
func (b *Broker) StartServer(ctx context.Context, c Caller, id string) error {
	return b.power(ctx, c, id, transition{
		action: "start", logAction: "start", from: []string{"stopped"}, task: "powering-on",
		capable: func(cp proxies.Capabilities) bool { return cp.StartStop },
		call: func(ctx context.Context, d proxies.ServerDriver, id string) (proxies.ServerStatus, error) {
			return d.StartServer(ctx, id)
		},
		endState: proxies.StateActive, endVM: "active", endPower: proxies.PowerRunning,
	})
}

// StopServer powers off an ACTIVE (or ERROR) server (os-stop).
func (b *Broker) StopServer(ctx context.Context, c Caller, id string) error {
	return b.power(ctx, c, id, transition{
		action: "stop", logAction: "stop", from: []string{"active", "error"}, task: "powering-off",
		capable: func(cp proxies.Capabilities) bool { return cp.StartStop },
		call: func(ctx context.Context, d proxies.ServerDriver, id string) (proxies.ServerStatus, error) {
			return d.StopServer(ctx, id)
		},
		endState: proxies.StateStopped, endVM: "stopped", endPower: proxies.PowerShutdown,
	})
}

// RebootServer reboots a server: SOFT from ACTIVE (status REBOOT), HARD
// also from SHUTOFF and ERROR (status HARD_REBOOT); both end ACTIVE.
func (b *Broker) RebootServer(ctx context.Context, c Caller, id string, kind proxies.RebootKind) error {
	t := transition{
		action: "reboot", logAction: "reboot", from: []string{"active"}, task: "rebooting",
		capable: func(cp proxies.Capabilities) bool { return cp.Reboot },
		call: func(ctx context.Context, d proxies.ServerDriver, id string) (proxies.ServerStatus, error) {
			return d.RebootServer(ctx, id, kind)
		},
		endState: proxies.StateActive, endVM: "active", endPower: proxies.PowerRunning,
	}
	if kind == proxies.RebootHard {
		t.from, t.task = []string{"active", "stopped", "error"}, "rebooting_hard"
		t.capable = func(cp proxies.Capabilities) bool { return cp.HardReboot }
	}
	return b.power(ctx, c, id, t)
}

// checkActionable loads a server for an action by caller: visible, not
// locked (admins may act on locked servers), no task in progress.
func (b *Broker) checkActionable(ctx context.Context, c Caller, id, action string) (*registry.Server, error) {
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if s.Locked && !c.IsAdmin {
		return nil, conflict(action, "Instance %s is locked", id)
	}
	if s.TaskState != "" {
		return nil, conflict(action, "Cannot '%s' instance %s while it is in task_state %s", action, id, s.TaskState)
	}
	return s, nil
}

func (b *Broker) power(ctx context.Context, c Caller, id string, t transition) error {
	s, err := b.checkActionable(ctx, c, id, t.action)
	if err != nil {
		return err
	}
	if !slices.Contains(t.from, s.VMState) {
		return stateConflict(t.action, t.action, id, s.VMState)
	}
	be, err := b.backend(s.Routing.Cloud, t.action)
	if err != nil {
		return err
	}
	if !t.capable(be.Capabilities()) {
		return proxies.Errorf(proxies.ErrNotSupported, t.action, "The cloud %s hosting this server does not support '%s'.", be.Name(), t.action)
	}
	now := b.opts.Now()
	s, err = b.servers.Update(ctx, s.ProjectID, id, func(cur *registry.Server) error {
		if cur.TaskState != "" {
			return conflict(t.action, "Cannot '%s' instance %s while it is in task_state %s", t.action, id, cur.TaskState)
		}
		if !slices.Contains(t.from, cur.VMState) {
			return stateConflict(t.action, t.action, id, cur.VMState)
		}
		setState(cur, cur.VMState, t.task, now)
		return nil
	})
	if err != nil {
		return err
	}
	ref := b.logAction(ctx, c, s, t.logAction)
	b.spawn(func(bctx context.Context) {
		st, err := t.call(bctx, be.Servers(), id)
		if bctx.Err() != nil {
			return // shutting down: the sync loop settles the record after restart
		}
		if err == nil {
			st, err = b.await(bctx, be, id, st, func(st proxies.ServerStatus) bool { return st.State == t.endState })
		}
		b.finishPower(context.WithoutCancel(bctx), s, t, st, err)
		b.finishAction(context.WithoutCancel(bctx), ref, err != nil || st.State != t.endState)
	})
	return nil
}

// finishPower records the outcome of a power action: the end state, or the
// state the backend reports with a fault when it failed.
func (b *Broker) finishPower(ctx context.Context, s *registry.Server, t transition, st proxies.ServerStatus, callErr error) {
	now := b.opts.Now()
	_, err := b.servers.Update(ctx, s.ProjectID, s.ID, func(cur *registry.Server) error {
		if cur.TaskState != t.task {
			return errDeleting // someone else (a delete) owns the record now
		}
		switch {
		case callErr == nil && st.State == t.endState:
			setState(cur, t.endVM, "", now)
			cur.PowerState = int(t.endPower)
		default:
			setState(cur, cur.VMState, "", now)
			msg := "Failed to " + t.action + " the server"
			if callErr != nil {
				msg += ": " + proxies.SafeMessage(callErr)
			}
			cur.Fault = &registry.Fault{Code: 500, Message: msg, Created: now}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDeleting) && !errors.Is(err, registry.ErrNotFound) {
		b.log.Error("record power action", "server", s.ID, "action", t.action, "err", err)
	}
}

// DeleteServer deletes a server: task_state deleting, then (in a broker
// goroutine) the backend delete, the release of claim, ports and quota,
// and the record's removal, after which reads answer 404. Deleting a
// server already being deleted succeeds.
func (b *Broker) DeleteServer(ctx context.Context, c Caller, id string) error {
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return err
	}
	if s.Locked && !c.IsAdmin {
		return conflict("delete", "Instance %s is locked", id)
	}
	already := false
	now := b.opts.Now()
	s, err = b.servers.Update(ctx, s.ProjectID, id, func(cur *registry.Server) error {
		already = cur.TaskState == "deleting"
		setState(cur, cur.VMState, "deleting", now)
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return instanceNotFound("delete", id)
	}
	if err != nil || already {
		return err
	}
	ref := b.logAction(ctx, c, s, "delete")
	b.spawn(func(bctx context.Context) { b.finishDelete(bctx, s, ref) })
	return nil
}

func (b *Broker) finishDelete(ctx context.Context, s *registry.Server, ref actionRef) {
	b.stopBuild(ctx, s.ID)
	if s.Routing.Cloud != "" {
		be, err := b.backend(s.Routing.Cloud, "DeleteServer")
		if err == nil {
			err = be.Servers().DeleteServer(ctx, s.ID)
		}
		if err != nil && !errors.Is(err, proxies.ErrNotFound) {
			b.finishAction(context.WithoutCancel(ctx), ref, true)
			b.failDelete(context.WithoutCancel(ctx), s, err)
			return
		}
	}
	wctx := context.WithoutCancel(ctx)
	if !b.takeFinish(wctx, s.ProjectID, s.ID) {
		return // the sync loop finished this delete already
	}
	b.rollback(wctx, s, true)
	b.reg.Client().Del(wctx, actionsKey(s.ProjectID, s.ID), migrationKey(s.ProjectID, s.ID), lockedByKey(s.ProjectID, s.ID))
}

// failDelete leaves a server whose backend delete failed in ERROR with a
// fault, so the user sees why and can delete again.
func (b *Broker) failDelete(ctx context.Context, s *registry.Server, cause error) {
	now := b.opts.Now()
	_, err := b.servers.Update(ctx, s.ProjectID, s.ID, func(cur *registry.Server) error {
		setState(cur, "error", "", now)
		cur.Fault = &registry.Fault{Code: 500, Message: "Failed to delete the server: " + proxies.SafeMessage(cause), Created: now}
		return nil
	})
	if err != nil {
		b.log.Error("record failed delete", "server", s.ID, "err", err)
	}
}

// CreateImage snapshots a server into a new image (Nova createImage) and
// returns the image's id at once; the image becomes active (or killed) when
// the backend snapshot ends.
func (b *Broker) CreateImage(ctx context.Context, c Caller, id, name string, metadata map[string]string) (string, error) {
	const action = "createImage"
	s, err := b.checkActionable(ctx, c, id, action)
	if err != nil {
		return "", err
	}
	if s.VMState != "active" && s.VMState != "stopped" {
		return "", stateConflict(action, action, id, s.VMState)
	}
	be, err := b.backend(s.Routing.Cloud, action)
	if err != nil {
		return "", err
	}
	if !be.Capabilities().Snapshot {
		return "", proxies.Errorf(proxies.ErrNotSupported, action, "The cloud %s hosting this server does not support snapshots.", be.Name())
	}
	// Nova's own properties first; the caller's metadata wins, as in Nova
	// (tempest sets image_type itself and reads it back).
	props := map[string]string{
		"image_type": "snapshot", "instance_uuid": s.ID, "base_image_ref": s.ImageID, "user_id": c.UserID,
	}
	for k, v := range metadata {
		props[k] = v
	}
	img, err := b.images.CreateSnapshotImage(ctx, s.ProjectID, name, props)
	if err != nil {
		return "", err
	}
	now := b.opts.Now()
	s, err = b.servers.Update(ctx, s.ProjectID, id, func(cur *registry.Server) error {
		if cur.TaskState != "" {
			return conflict(action, "Cannot '%s' instance %s while it is in task_state %s", action, id, cur.TaskState)
		}
		setState(cur, cur.VMState, "image_snapshot", now)
		return nil
	})
	if err != nil {
		_ = b.images.CompleteSnapshotImage(context.WithoutCancel(ctx), img.ID, "", true)
		return "", err
	}
	ref := b.logAction(ctx, c, s, action)
	b.spawn(func(bctx context.Context) {
		_, serr := be.Servers().SnapshotServer(bctx, id, img.ID)
		wctx := context.WithoutCancel(bctx)
		if cerr := b.images.CompleteSnapshotImage(wctx, img.ID, s.ImageID, serr != nil); cerr != nil {
			b.log.Error("complete snapshot image", "server", id, "image", img.ID, "err", cerr)
		}
		done := b.opts.Now()
		b.servers.Update(wctx, s.ProjectID, id, func(cur *registry.Server) error {
			if cur.TaskState != "image_snapshot" {
				return errDeleting
			}
			setState(cur, cur.VMState, "", done)
			return nil
		})
		b.finishAction(wctx, ref, serr != nil)
	})
	return img.ID, nil
}

// ConsoleOutput returns the last lines of a server's console (all when
// lines <= 0), where the backend declares it can.
func (b *Broker) ConsoleOutput(ctx context.Context, c Caller, id string, lines int) (string, error) {
	const action = "get_console_output"
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return "", err
	}
	if s.VMState != "active" && s.VMState != "stopped" {
		return "", stateConflict(action, action, id, s.VMState)
	}
	be, err := b.backend(s.Routing.Cloud, action)
	if err != nil {
		return "", err
	}
	if !be.Capabilities().ConsoleOutput {
		return "", proxies.Errorf(proxies.ErrNotSupported, action, "The cloud %s hosting this server does not provide console output.", be.Name())
	}
	return be.Servers().ConsoleOutput(ctx, id, lines)
}
