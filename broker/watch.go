package broker

import (
	"context"
	"errors"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// WatchedSyncFactor is how much slower the periodic sync of a cloud runs
// when its backend is a ServerWatcher: the watch brings changes within a
// second, the sync pass stays as the safety net for what a watch can miss
// (a reconnect gap, an orphan made while it was down).
const WatchedSyncFactor = 6

// ServerWatcher is the optional part of a backend that pushes its servers'
// changes as they happen (vSphere's PropertyCollector): Watch reports every
// server first, then each change, StateDeleted on removal, and returns nil
// when ctx ends or an error when the session fails (the caller restarts
// it). fn runs on Watch's goroutine.
type ServerWatcher interface {
	Watch(ctx context.Context, fn func(proxies.ServerStatus)) error
}

// WatcherOf returns be's ServerWatcher, looking through wrappers that expose
// Unwrap() proxies.Backend (the metered one), and whether it has one.
func WatcherOf(be proxies.Backend) (ServerWatcher, bool) {
	for be != nil {
		if w, ok := be.(ServerWatcher); ok {
			return w, true
		}
		u, ok := be.(interface{ Unwrap() proxies.Backend })
		if !ok {
			break
		}
		be = u.Unwrap()
	}
	return nil, false
}

// SyncServer applies one status cloud reported for one server (as a watch
// reports it) through the same path a sync pass takes for each listed
// server, and reports whether it corrected the record: drifted state is
// corrected and recorded; a server no record knows is confirmed with the
// cloud and recorded as an orphan; a server reported deleted is handled as
// one missing from a list (fixMissing), and leaves the orphans if it was
// one.
func (b *Broker) SyncServer(ctx context.Context, cloud string, st proxies.ServerStatus) (bool, error) {
	be, err := b.backend(cloud, "SyncServer")
	if err != nil || st.ID == "" {
		return false, err
	}
	seenAt := b.opts.Now()
	if st.State == proxies.StateDeleted {
		if err := b.noteOrphan(ctx, cloud, Orphan{ID: st.ID}, true); err != nil {
			return false, err
		}
		v, err := b.servers.Lookup(ctx, st.ID)
		if errors.Is(err, registry.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return b.fixMissing(ctx, cloud, v.Value, seenAt)
	}
	out, err := b.applyStatus(ctx, cloud, st, seenAt)
	if err != nil || out != syncNoRecord {
		return out == syncCorrected, err
	}
	if o, ok := b.confirmOrphan(ctx, be, st, seenAt); ok {
		return false, b.noteOrphan(ctx, cloud, o, false)
	}
	return false, nil
}
