package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// report reads the cloud "sim"'s findings.
func (e *env) report(t *testing.T) broker.DriftReport {
	t.Helper()
	r, err := broker.LoadDriftReport(context.Background(), e.reg, "sim")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSyncRecordsStateDrift: a server stopped behind Canopy's back is
// corrected, counted and kept in the cloud's recent corrections.
func TestSyncRecordsStateDrift(t *testing.T) {
	e := newEnv(t, nil)
	made, err := e.create(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := made[0].ID
	e.waitStatus(t, id, "ACTIVE")
	before := testutil.ToFloat64(broker.SyncDrift.WithLabelValues("sim", broker.DriftState))
	e.cloud.SetState(id, proxies.StateStopped)
	if n, err := e.b.SyncOnce(context.Background(), "sim", e.cloud); err != nil || n != 1 {
		t.Fatalf("corrected %d err %v; want 1", n, err)
	}
	if got := testutil.ToFloat64(broker.SyncDrift.WithLabelValues("sim", broker.DriftState)) - before; got != 1 {
		t.Errorf("canopy_sync_drift_total{kind=state} grew by %v; want 1", got)
	}
	r := e.report(t)
	if r.CheckedAt.IsZero() || len(r.Drift) != 1 {
		t.Fatalf("report = %+v; want one correction and a pass time", r)
	}
	if d := r.Drift[0]; d.ServerID != id || d.ProjectID != projectA || d.Kind != broker.DriftState || d.From != "ACTIVE" || d.To != "SHUTOFF" {
		t.Errorf("drift = %+v; want %s ACTIVE -> SHUTOFF", d, id)
	}
	if r.OrphanCount != 0 || len(r.Orphans) != 0 {
		t.Errorf("orphans = %d %+v; want none", r.OrphanCount, r.Orphans)
	}
}

// TestSyncLeavesRecordsChangedAfterTheList: a status seen before the record
// last changed (a stop that finished while the list was read) is stale and
// must not undo the change.
func TestSyncLeavesRecordsChangedAfterTheList(t *testing.T) {
	e := newEnv(t, nil)
	made, err := e.create(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := made[0].ID
	e.waitStatus(t, id, "ACTIVE")
	_, err = e.b.Servers().Update(context.Background(), projectA, id, func(s *registry.Server) error {
		s.Updated = time.Now().UTC().Add(time.Minute)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.cloud.SetState(id, proxies.StateStopped)
	if n, err := e.b.SyncOnce(context.Background(), "sim", e.cloud); err != nil || n != 0 {
		t.Fatalf("corrected %d err %v; want 0", n, err)
	}
	e.waitStatus(t, id, "ACTIVE")
}

// TestSyncReportsOrphans: a server with a top id no record has is an orphan:
// listed in the report and the gauge, never deleted, and gone from both
// once the cloud no longer has it.
func TestSyncReportsOrphans(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	const orphan = "0a0a0a0a-0000-4000-8000-000000000001"
	if _, err := e.cloud.CreateServer(ctx, proxies.ServerSpec{ID: orphan, Host: "host1"}); err != nil {
		t.Fatal(err)
	}
	for pass := range 2 { // the second pass keeps when it was first seen
		if n, err := e.b.SyncOnce(ctx, "sim", e.cloud); err != nil || n != 0 {
			t.Fatalf("pass %d: corrected %d err %v; want 0", pass, n, err)
		}
	}
	r := e.report(t)
	if r.OrphanCount != 1 || len(r.Orphans) != 1 {
		t.Fatalf("orphans = %d %+v; want 1", r.OrphanCount, r.Orphans)
	}
	if o := r.Orphans[0]; o.ID != orphan || o.BottomID != "bottom-"+orphan || o.Host != "host1" || o.State != proxies.StateActive || !o.FirstSeen.Before(o.LastSeen) {
		t.Errorf("orphan = %+v", o)
	}
	if g := testutil.ToFloat64(broker.SyncOrphans.WithLabelValues("sim")); g != 1 {
		t.Errorf("canopy_sync_orphans{cloud=sim} = %v; want 1", g)
	}
	if !e.cloud.Has(orphan) || e.cloud.Count("delete "+orphan) != 0 {
		t.Error("the sync loop deleted an orphan")
	}
	e.cloud.Forget(orphan)
	if _, err := e.b.SyncOnce(ctx, "sim", e.cloud); err != nil {
		t.Fatal(err)
	}
	if r := e.report(t); r.OrphanCount != 0 || len(r.Orphans) != 0 {
		t.Errorf("after the orphan went: %d %+v; want none", r.OrphanCount, r.Orphans)
	}
	if g := testutil.ToFloat64(broker.SyncOrphans.WithLabelValues("sim")); g != 0 {
		t.Errorf("canopy_sync_orphans{cloud=sim} = %v; want 0", g)
	}
}

// staleList lists a server the cloud no longer has (deleted through Canopy
// while the list was read: the bottom went, then the record).
type staleList struct {
	*brokertest.Backend
	ghost proxies.ServerStatus
}

func (s staleList) Servers() proxies.ServerDriver { return s }

func (s staleList) ListServers(ctx context.Context) ([]proxies.ServerStatus, error) {
	l, err := s.Backend.ListServers(ctx)
	return append(l, s.ghost), err
}

// TestSyncConfirmsOrphans: a listed server the cloud denies when asked
// again is not an orphan.
func TestSyncConfirmsOrphans(t *testing.T) {
	e := newEnv(t, nil)
	be := staleList{Backend: e.cloud, ghost: proxies.ServerStatus{ID: "0a0a0a0a-0000-4000-8000-000000000002", State: proxies.StateStopped}}
	if _, err := e.b.SyncOnce(context.Background(), "sim", be); err != nil {
		t.Fatal(err)
	}
	if r := e.report(t); r.OrphanCount != 0 || r.CheckedAt.IsZero() {
		t.Errorf("report = %+v; want a pass with no orphan", r)
	}
}

// TestSyncServerFromWatch drives the one-server path a watch feeds: a
// power change corrects the record at once, an unknown server becomes an
// orphan and leaves the list when reported deleted, and a deleted server
// with a record goes ERROR as one missing from a list.
func TestSyncServerFromWatch(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	made, err := e.create(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := made[0].ID
	s := e.waitStatus(t, id, "ACTIVE")
	st := proxies.ServerStatus{ID: id, BottomID: s.Routing.BottomID, State: proxies.StateStopped, PowerState: proxies.PowerShutdown}
	if ok, err := e.b.SyncServer(ctx, "sim", st); err != nil || !ok {
		t.Fatalf("SyncServer(stopped) = %v, %v; want corrected", ok, err)
	}
	e.waitStatus(t, id, "SHUTOFF")
	if ok, err := e.b.SyncServer(ctx, "sim", st); err != nil || ok {
		t.Errorf("SyncServer(stopped) again = %v, %v; want nothing to correct", ok, err)
	}
	if _, err := e.b.SyncServer(ctx, "nowhere", st); err == nil {
		t.Error("SyncServer for an unknown cloud answered nil")
	}

	const orphan = "0a0a0a0a-0000-4000-8000-000000000003"
	ost, err := e.cloud.CreateServer(ctx, proxies.ServerSpec{ID: orphan})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.SyncServer(ctx, "sim", ost); err != nil {
		t.Fatal(err)
	}
	if r := e.report(t); r.OrphanCount != 1 || len(r.Orphans) != 1 || r.Orphans[0].ID != orphan {
		t.Fatalf("after a watched orphan: %d %+v", r.OrphanCount, r.Orphans)
	}
	if g := testutil.ToFloat64(broker.SyncOrphans.WithLabelValues("sim")); g != 1 {
		t.Errorf("canopy_sync_orphans = %v; want 1", g)
	}
	ost.State = proxies.StateDeleted
	if _, err := e.b.SyncServer(ctx, "sim", ost); err != nil {
		t.Fatal(err)
	}
	if r := e.report(t); r.OrphanCount != 0 || len(r.Orphans) != 0 {
		t.Errorf("after the orphan was deleted: %d %+v", r.OrphanCount, r.Orphans)
	}

	st.State = proxies.StateDeleted
	if ok, err := e.b.SyncServer(ctx, "sim", st); err != nil || !ok {
		t.Fatalf("SyncServer(deleted) = %v, %v; want corrected", ok, err)
	}
	if s := e.waitStatus(t, id, "ERROR"); s.Fault == nil {
		t.Error("no fault on the lost server")
	}
	r := e.report(t)
	if len(r.Drift) != 2 || r.Drift[0].Kind != broker.DriftMissing || r.Drift[0].From != "SHUTOFF" || r.Drift[1].Kind != broker.DriftState {
		t.Errorf("drift = %+v; want missing (newest) then state", r.Drift)
	}
}

// TestDriftEventsAreBounded: the registry keeps only the most recent
// corrections.
func TestDriftEventsAreBounded(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	made, err := e.create(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := made[0].ID
	e.waitStatus(t, id, "ACTIVE")
	states := []proxies.ServerState{proxies.StateStopped, proxies.StateActive}
	for i := range 60 {
		if ok, err := e.b.SyncServer(ctx, "sim", proxies.ServerStatus{ID: id, State: states[i%2]}); err != nil || !ok {
			t.Fatalf("correction %d = %v, %v", i, ok, err)
		}
	}
	r := e.report(t)
	if len(r.Drift) != 50 || r.Drift[0].To != "ACTIVE" || r.Drift[49].To != "SHUTOFF" {
		t.Errorf("kept %d corrections, newest %+v; want the 50 newest", len(r.Drift), r.Drift[0])
	}
}

// TestWatcherOfLooksThroughWrappers: the metered wrapper must not hide a
// backend's watch.
func TestWatcherOfLooksThroughWrappers(t *testing.T) {
	plain := brokertest.NewBackend("sim")
	if _, ok := broker.WatcherOf(plain); ok {
		t.Error("a backend without Watch reported as a watcher")
	}
	w := &watching{Backend: plain}
	if _, ok := broker.WatcherOf(wrapped{w}); !ok {
		t.Error("a watcher behind a wrapper was not found")
	}
}

type watching struct{ *brokertest.Backend }

func (*watching) Watch(ctx context.Context, fn func(proxies.ServerStatus)) error { return nil }

type wrapped struct{ proxies.Backend }

func (w wrapped) Unwrap() proxies.Backend { return w.Backend }
