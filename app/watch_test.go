package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// flakyWatch fails its first fails runs at once, then reports its statuses
// and waits for ctx, as a watch whose session broke and came back.
type flakyWatch struct {
	fails    int
	statuses []proxies.ServerStatus

	mu     sync.Mutex
	starts []time.Time
}

func (w *flakyWatch) Watch(ctx context.Context, fn func(proxies.ServerStatus)) error {
	w.mu.Lock()
	w.starts = append(w.starts, time.Now())
	n := len(w.starts)
	w.mu.Unlock()
	if n <= w.fails {
		return errors.New("session lost")
	}
	for _, st := range w.statuses {
		fn(st)
	}
	<-ctx.Done()
	return nil
}

// TestWatchLoopRestartsWithBackoff: a failing watch is restarted, each
// time later, and once it runs, what it reports reaches the broker (here an
// orphan, recorded in the registry); it returns when ctx ends.
func TestWatchLoopRestartsWithBackoff(t *testing.T) {
	ctx := t.Context()
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	cloud := brokertest.NewBackend("sim")
	orphan, err := cloud.CreateServer(ctx, proxies.ServerSpec{ID: "0a0a0a0a-0000-4000-8000-0000000000bb"})
	if err != nil {
		t.Fatal(err)
	}
	a := &App{Registry: reg, log: slog.New(slog.DiscardHandler)}
	a.Broker = broker.New(reg, brokertest.NewPlacer("sim", "h1"), brokertest.NewImages(), brokertest.NewPorts(),
		map[string]proxies.Backend{"sim": cloud}, a.log, broker.Options{})
	t.Cleanup(a.Broker.Close)

	w := &flakyWatch{fails: 2, statuses: []proxies.ServerStatus{orphan}}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.watchLoop(wctx, "sim", w) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := a.CloudDrift(ctx, "sim")
		if err != nil {
			t.Fatal(err)
		}
		if r.OrphanCount == 1 && r.Orphans[0].ID == orphan.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watched orphan never reached the registry: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watchLoop did not return after its context ended")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.starts) != 3 {
		t.Fatalf("watch started %d times; want 3 (two failures, then a run)", len(w.starts))
	}
	first, second := w.starts[1].Sub(w.starts[0]), w.starts[2].Sub(w.starts[1])
	if first < watchBackoffMin || second < 2*watchBackoffMin {
		t.Errorf("restarts after %v then %v; want at least %v then %v", first, second, watchBackoffMin, 2*watchBackoffMin)
	}
}
