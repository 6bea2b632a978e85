package app

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/admin"
	"github.com/canopy-cloud/canopy/proxies"
)

// Backoff of a cloud's watch after it fails: doubling from watchBackoffMin
// to watchBackoffMax, back to the minimum once a watch has run for
// watchHealthy.
const (
	watchBackoffMin = 500 * time.Millisecond
	watchBackoffMax = 30 * time.Second
	watchHealthy    = time.Minute
	// watchApplyTimeout bounds applying one watched status (registry
	// writes, and a GetServer when it confirms an orphan).
	watchApplyTimeout = 30 * time.Second
)

// startWatches registers the sync loop's metrics and runs a watch for every
// cloud whose backend pushes its changes (broker.WatcherOf: vSphere), each
// status fed into the broker through the sync loop's one-server path
// (broker.SyncServer), so that a change made behind Canopy's back shows in
// the API within a second; the broker's periodic sync of those clouds stays
// on, broker.WatchedSyncFactor times slower, as the safety net.
func (a *App) startWatches(ctx context.Context) {
	for _, c := range []prometheus.Collector{broker.SyncOrphans, broker.SyncDrift} {
		if err := a.Metrics.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			a.log.Error("cannot register sync metrics", "err", err)
		}
	}
	a.ct.mu.Lock()
	a.runCtx = ctx
	a.ct.mu.Unlock()
	for name, be := range a.clouds.All() {
		a.startWatch(name, be)
	}
}

// startWatch (re)starts cloud's watch when its backend pushes changes,
// stopping the one it replaces. Before Start it does nothing.
func (a *App) startWatch(cloud string, be proxies.Backend) {
	a.stopWatch(cloud)
	w, ok := broker.WatcherOf(be)
	a.ct.mu.Lock()
	defer a.ct.mu.Unlock()
	if !ok || a.runCtx == nil {
		return
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	a.ct.watches[cloud] = cancel
	a.goRun(ctx, "watch "+cloud, func(ctx context.Context) error {
		a.watchLoop(ctx, cloud, w)
		return nil
	})
}

// stopWatch stops cloud's watch, if one runs.
func (a *App) stopWatch(cloud string) {
	a.ct.mu.Lock()
	defer a.ct.mu.Unlock()
	if stop := a.ct.watches[cloud]; stop != nil {
		stop()
		delete(a.ct.watches, cloud)
	}
}

// watchLoop runs cloud's watch until ctx ends, restarting it with backoff
// when it fails.
func (a *App) watchLoop(ctx context.Context, cloud string, w broker.ServerWatcher) {
	backoff := watchBackoffMin
	for ctx.Err() == nil {
		started := time.Now()
		err := w.Watch(ctx, func(st proxies.ServerStatus) { a.applyWatched(ctx, cloud, st) })
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) >= watchHealthy {
			backoff = watchBackoffMin
		}
		if err == nil {
			err = errors.New("watch ended on its own")
		}
		a.log.Warn("cloud watch stopped; restarting", "cloud", cloud, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, watchBackoffMax)
	}
}

// applyWatched feeds one watched status into the broker.
func (a *App) applyWatched(ctx context.Context, cloud string, st proxies.ServerStatus) {
	ctx, cancel := context.WithTimeout(ctx, watchApplyTimeout)
	defer cancel()
	if ok, err := a.Broker.SyncServer(ctx, cloud, st); err != nil {
		a.log.Warn("applying a watched server change failed; the next sync pass retries", "cloud", cloud, "server", st.ID, "err", err)
	} else if ok {
		a.log.Info("watch corrected a server record", "cloud", cloud, "server", st.ID, "state", st.State)
	}
}

// CloudDrift reads cloud's latest sync findings (orphans and corrections)
// for the admin API.
func (a *App) CloudDrift(ctx context.Context, cloud string) (broker.DriftReport, error) {
	return broker.LoadDriftReport(ctx, a.Registry, cloud)
}

var _ admin.DriftSource = (*App)(nil)
