package broker

import (
	"context"
	"errors"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// syncLoop lists one backend's servers every SyncInterval and corrects the
// records whose state drifted (a server stopped or crashed behind Canopy's
// back), as nova-compute's power-state sync does.
func (b *Broker) syncLoop(ctx context.Context, cloud string, be proxies.Backend) {
	t := time.NewTicker(b.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := b.SyncOnce(ctx, cloud, be); err != nil {
			b.log.Warn("server sync failed", "cloud", cloud, "err", err)
		} else if n > 0 {
			b.log.Info("server sync corrected records", "cloud", cloud, "corrected", n)
		}
	}
}

// SyncOnce runs one pass of the sync loop for one backend and returns how
// many records it corrected. Records with a task in progress are left to
// the task; records whose server the backend no longer reports are handled
// by syncMissing. Network resources whose push to the cloud failed are
// pushed again (RepushPending).
func (b *Broker) SyncOnce(ctx context.Context, cloud string, be proxies.Backend) (int, error) {
	listedAt := b.opts.Now()
	list, err := be.Servers().ListServers(ctx)
	if err != nil {
		return 0, err
	}
	fixed := 0
	listed := make(map[string]bool, len(list))
	for _, st := range list {
		listed[st.ID] = true
		v, err := b.servers.Lookup(ctx, st.ID)
		if errors.Is(err, registry.ErrNotFound) {
			continue // not ours, or deleted meanwhile
		}
		if err != nil {
			return fixed, err
		}
		cur := v.Value
		vm, power, ok := observed(st)
		if !ok || cur.Routing.Cloud != cloud || cur.TaskState != "" || cur.VMState == "building" {
			continue
		}
		if cur.VMState == vm && cur.PowerState == int(power) {
			continue
		}
		now := b.opts.Now()
		_, err = b.servers.Update(ctx, cur.ProjectID, cur.ID, func(s *registry.Server) error {
			if s.TaskState != "" || s.VMState == "building" {
				return errDeleting
			}
			setState(s, vm, "", now)
			s.PowerState = int(power)
			return nil
		})
		if err == nil {
			fixed++
		}
	}
	n, err := b.syncMissing(ctx, cloud, listed, listedAt)
	if _, perr := b.RepushPending(ctx, cloud); perr != nil {
		b.log.Warn("re-push of network resources failed; still pending", "cloud", cloud, "err", perr)
	}
	return fixed + n, err
}

// observed maps a backend status to the vm_state and power state to record.
func observed(st proxies.ServerStatus) (string, proxies.PowerState, bool) {
	switch st.State {
	case proxies.StateActive:
		return "active", proxies.PowerRunning, true
	case proxies.StateStopped:
		return "stopped", proxies.PowerShutdown, true
	case proxies.StateError:
		return "error", st.PowerState, true
	}
	return "", 0, false
}
