package broker

import (
	"context"
	"errors"
	"slices"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// RebuildRequest is Nova's rebuild action, validated by the API: a new
// image, and optionally a new name and metadata (replacing the old).
type RebuildRequest struct {
	ImageID  string
	Name     *string
	Metadata map[string]string // nil keeps the server's metadata
}

// RebuildServer re-images a server in place (Nova's rebuild): same id,
// host and addresses; status REBUILD, then the status it had (ERROR comes
// back ACTIVE). It returns the record as it is when the rebuild starts, for
// the response. Backends without proxies.Rebuilder answer ErrNotSupported.
func (b *Broker) RebuildServer(ctx context.Context, c Caller, id string, req RebuildRequest) (*registry.Server, error) {
	const action = "rebuild"
	s, err := b.checkActionable(ctx, c, id, action)
	if err != nil {
		return nil, err
	}
	from := []string{"active", "stopped", "error"}
	if !slices.Contains(from, s.VMState) {
		return nil, stateConflict(action, action, id, s.VMState)
	}
	img, err := b.images.VisibleImage(ctx, c.ProjectID, c.IsAdmin, req.ImageID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, invalid(action, "Cannot find image for rebuild")
	}
	if err != nil {
		return nil, err
	}
	if img.Status != "active" {
		return nil, invalid(action, "Image %s is not active.", req.ImageID)
	}
	if s.Flavor.DiskGB > 0 && img.MinDisk > s.Flavor.DiskGB {
		return nil, invalid(action, "Flavor's disk is too small for requested image. Flavor disk is %d bytes, image is %d bytes.",
			int64(s.Flavor.DiskGB)<<30, int64(img.MinDisk)<<30)
	}
	if img.MinRAM > s.Flavor.RAMMB {
		return nil, invalid(action, "Flavor's memory is too small for requested image.")
	}
	be, err := b.backend(s.Routing.Cloud, action)
	if err != nil {
		return nil, err
	}
	rb, ok := proxies.RebuilderOf(be)
	if !ok {
		return nil, proxies.Errorf(proxies.ErrNotSupported, action, "The cloud %s hosting this server does not support '%s'.", be.Name(), action)
	}
	now := b.opts.Now()
	s, err = b.servers.Update(ctx, s.ProjectID, id, func(cur *registry.Server) error {
		if cur.TaskState != "" {
			return conflict(action, "Cannot '%s' instance %s while it is in task_state %s", action, id, cur.TaskState)
		}
		if !slices.Contains(from, cur.VMState) {
			return stateConflict(action, action, id, cur.VMState)
		}
		cur.ImageID = req.ImageID
		if req.Name != nil {
			cur.Name = *req.Name
		}
		if req.Metadata != nil {
			cur.Metadata = req.Metadata
		}
		cur.Fault = nil
		setState(cur, cur.VMState, "rebuilding", now)
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return nil, instanceNotFound(action, id)
	}
	if err != nil {
		return nil, err
	}
	spec := proxies.RebuildSpec{ImageID: s.ImageID, Name: s.Name, Metadata: s.Metadata}
	ref := b.logAction(ctx, c, s, action)
	b.spawn(func(bctx context.Context) {
		st, err := rb.RebuildServer(bctx, id, spec)
		if bctx.Err() != nil {
			return // shutting down: the sync loop settles the record after restart
		}
		if err == nil {
			st, err = b.await(bctx, be, id, st, func(st proxies.ServerStatus) bool {
				return st.TaskState == "" && st.State != proxies.StateBuilding
			})
		}
		failed := b.finishTask(context.WithoutCancel(bctx), s, "rebuilding", action, st, err)
		b.finishAction(context.WithoutCancel(bctx), ref, failed)
	})
	return s, nil
}

// finishTask records the end of a backend task (rebuild, resize revert):
// the state the backend settled in, or, when the call failed, ERROR with a
// fault. It reports whether the task failed. A record whose task changed
// meanwhile (a delete took over) is left alone.
func (b *Broker) finishTask(ctx context.Context, s *registry.Server, task, action string, st proxies.ServerStatus, callErr error) bool {
	now := b.opts.Now()
	vm, power, ok := observed(st)
	failed := callErr != nil || !ok || st.State == proxies.StateError
	_, err := b.servers.Update(ctx, s.ProjectID, s.ID, func(cur *registry.Server) error {
		if cur.TaskState != task {
			return errDeleting
		}
		if failed {
			setState(cur, "error", "", now)
			msg := "Failed to " + action + " the server"
			switch {
			case callErr != nil:
				msg += ": " + proxies.SafeMessage(callErr)
			case st.Fault != "":
				msg += ": " + st.Fault
			}
			cur.Fault = &registry.Fault{Code: 500, Message: msg, Created: now}
			return nil
		}
		setState(cur, vm, "", now)
		cur.PowerState = int(power)
		return nil
	})
	if err != nil && !errors.Is(err, errDeleting) && !errors.Is(err, registry.ErrNotFound) {
		b.log.Error("record server task", "server", s.ID, "action", action, "err", err)
	}
	return failed
}
