package broker

import (
	"context"
	"errors"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// Deadlines of the sync loop's own calls into a cloud.
const (
	syncListTimeout = 2 * time.Minute  // one ListServers
	syncGetTimeout  = 30 * time.Second // one GetServer confirming an orphan
)

// syncLoop lists one backend's servers every SyncInterval (WatchedSyncFactor
// times slower when the backend pushes its changes through a watch) and
// corrects the records whose state drifted (a server stopped or crashed
// behind Canopy's back), as nova-compute's power-state sync does.
func (b *Broker) syncLoop(ctx context.Context, cloud string, be proxies.Backend) {
	every := b.opts.SyncInterval
	if _, ok := WatcherOf(be); ok {
		every *= WatchedSyncFactor
	}
	t := time.NewTicker(every)
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
// many records it corrected. Each listed server goes through the same path
// as one a watch reports (applyStatus): records with a task in progress are
// left to the task; servers no record knows are orphans, recorded as the
// cloud's current orphans (LoadDriftReport) and never deleted; records whose
// server the backend no longer reports are handled by syncMissing. Network
// resources whose push to the cloud failed are pushed again (RepushPending).
func (b *Broker) SyncOnce(ctx context.Context, cloud string, be proxies.Backend) (int, error) {
	listedAt := b.opts.Now()
	lctx, cancel := context.WithTimeout(ctx, syncListTimeout)
	list, err := be.Servers().ListServers(lctx)
	cancel()
	if err != nil {
		return 0, err
	}
	fixed := 0
	listed := make(map[string]bool, len(list))
	var orphans []Orphan
	for _, st := range list {
		if st.ID == "" || st.State == proxies.StateDeleted {
			continue // not ours, or on its way out (EC2 lists terminated instances for a while)
		}
		listed[st.ID] = true
		out, err := b.applyStatus(ctx, cloud, st, listedAt)
		if err != nil {
			return fixed, err
		}
		switch out {
		case syncCorrected:
			fixed++
		case syncNoRecord:
			// Past the listing bound an orphan is counted without asking
			// the cloud again (a wiped registry must not cost a call per
			// server per pass).
			if len(orphans) >= maxOrphans {
				orphans = append(orphans, orphanOf(st, listedAt))
			} else if o, ok := b.confirmOrphan(ctx, be, st, listedAt); ok {
				orphans = append(orphans, o)
			}
		}
	}
	n, err := b.syncMissing(ctx, cloud, listed, listedAt)
	if oerr := b.replaceOrphans(ctx, cloud, orphans, b.opts.Now()); oerr != nil {
		b.log.Warn("cannot record sync orphans", "cloud", cloud, "err", oerr)
	}
	if len(orphans) > 0 {
		b.log.Warn("servers with a Canopy id unknown to the registry (orphans; not deleted)", "cloud", cloud, "orphans", len(orphans))
	}
	if _, perr := b.RepushPending(ctx, cloud); perr != nil {
		b.log.Warn("re-push of network resources failed; still pending", "cloud", cloud, "err", perr)
	}
	return fixed + n, err
}

// syncOutcome is what applying one reported status did.
type syncOutcome int

const (
	syncUnchanged syncOutcome = iota // nothing to do (or left to a task)
	syncCorrected                    // the record was corrected
	syncNoRecord                     // no record has the top id: an orphan candidate
)

// applyStatus applies one status cloud reported at seenAt (listed or
// watched) to the server's record: a settled record whose state differs is
// corrected and the drift recorded. Records with a task in progress, builds,
// records of another cloud and records changed since seenAt are left alone.
func (b *Broker) applyStatus(ctx context.Context, cloud string, st proxies.ServerStatus, seenAt time.Time) (syncOutcome, error) {
	v, err := b.servers.Lookup(ctx, st.ID)
	if errors.Is(err, registry.ErrNotFound) {
		return syncNoRecord, nil
	}
	if err != nil {
		return syncUnchanged, err
	}
	cur := v.Value
	vm, power, ok := observed(st)
	if !ok || cur.Routing.Cloud != cloud || cur.TaskState != "" || cur.VMState == "building" || !cur.Updated.Before(seenAt) {
		return syncUnchanged, nil
	}
	if cur.VMState == vm && cur.PowerState == int(power) {
		return syncUnchanged, nil
	}
	now := b.opts.Now()
	var from string
	_, err = b.servers.Update(ctx, cur.ProjectID, cur.ID, func(s *registry.Server) error {
		if s.TaskState != "" || s.VMState == "building" || !s.Updated.Before(seenAt) {
			return errDeleting // a task or another update came first
		}
		from = s.Status
		setState(s, vm, "", now)
		s.PowerState = int(power)
		return nil
	})
	if err != nil {
		return syncUnchanged, nil
	}
	b.recordDrift(ctx, cloud, DriftEvent{ServerID: cur.ID, ProjectID: cur.ProjectID, Kind: DriftState,
		From: from, To: NovaStatus(vm, ""), At: now})
	return syncCorrected, nil
}

// confirmOrphan asks the cloud again for a server no record knows, and
// looks for its record again, so that a server whose delete through Canopy
// finished while the list was read (the bottom goes first, then the
// record) is not taken for an orphan.
func (b *Broker) confirmOrphan(ctx context.Context, be proxies.Backend, st proxies.ServerStatus, seenAt time.Time) (Orphan, bool) {
	gctx, cancel := context.WithTimeout(ctx, syncGetTimeout)
	now, err := be.Servers().GetServer(gctx, st.ID)
	cancel()
	if err != nil || now.State == proxies.StateDeleted {
		if err != nil && !errors.Is(err, proxies.ErrNotFound) {
			b.log.Debug("cannot confirm orphan", "cloud", be.Name(), "server", st.ID, "err", err)
		}
		return Orphan{}, false
	}
	if _, err := b.servers.Lookup(ctx, st.ID); !errors.Is(err, registry.ErrNotFound) {
		return Orphan{}, false
	}
	if now.BottomID == "" {
		now.BottomID = st.BottomID
	}
	return orphanOf(now, seenAt), true
}

// orphanOf is the orphan record of a server seen at seenAt.
func orphanOf(st proxies.ServerStatus, seenAt time.Time) Orphan {
	return Orphan{ID: st.ID, BottomID: st.BottomID, Host: st.Host, State: st.State, FirstSeen: seenAt, LastSeen: seenAt}
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
