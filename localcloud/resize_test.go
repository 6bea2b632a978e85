package localcloud_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/metered"
)

// TestOptionalInterfacesSeenThroughWrappers: the gateway wires the pool
// metered; the optional interfaces must still be found.
func TestOptionalInterfacesSeenThroughWrappers(t *testing.T) {
	p := newPool(t, nil)
	for name, be := range map[string]proxies.Backend{"bare": p, "metered": metered.Wrap(p)} {
		_, rb := proxies.RebuilderOf(be)
		_, rz := proxies.ResizerOf(be)
		if !rb || !rz {
			t.Errorf("%s: rebuilder %v resizer %v, want both", name, rb, rz)
		}
	}
	var none proxies.Backend
	if _, ok := proxies.RebuilderOf(none); ok {
		t.Error("a nil backend has no rebuilder")
	}
}

var small = proxies.Flavor{ID: "2", Name: "m1.small", VCPUs: 1, RAMMB: 1024, DiskGB: 1}

// TestRebuildAndResizeStates checks the optional rebuild and resize: the
// task each shows for its delay, and the power state each ends in.
func TestRebuildAndResizeStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := localcloud.DefaultConfig()
		cfg.ApplyBuildDelay(time.Second) // rebuild 1s, resize (reboot) 600ms
		p, err := localcloud.New("local", cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ctx := t.Context()
		rb, ok := proxies.RebuilderOf(p)
		rz, ok2 := proxies.ResizerOf(p)
		if !ok || !ok2 {
			t.Fatal("the local pool must rebuild and resize")
		}
		if _, err := p.Servers().CreateServer(ctx, spec("a", "sim-1")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		steps := []struct {
			name        string
			act         func() error
			during      string
			wait        time.Duration
			after       proxies.ServerState
			afterFlavor string
		}{
			{"rebuild active", func() error {
				_, err := rb.RebuildServer(ctx, "a", proxies.RebuildSpec{ImageID: "img2", Name: "b"})
				return err
			}, "rebuilding", time.Second, proxies.StateActive, "1"},
			{"resize active", func() error { _, err := rz.ResizeServer(ctx, "a", small); return err },
				"resize_migrating", 600 * time.Millisecond, proxies.StateActive, "2"},
			{"stop", func() error { _, err := p.Servers().StopServer(ctx, "a"); return err },
				"powering-off", 400 * time.Millisecond, proxies.StateStopped, "2"},
			{"rebuild stopped", func() error {
				_, err := rb.RebuildServer(ctx, "a", proxies.RebuildSpec{ImageID: "img"})
				return err
			}, "rebuilding", time.Second, proxies.StateStopped, "2"},
			{"resize back stopped", func() error { _, err := rz.ResizeServer(ctx, "a", tiny); return err },
				"resize_migrating", 600 * time.Millisecond, proxies.StateStopped, "1"},
		}
		h, _ := p.Host("sim-1")
		for _, s := range steps {
			if err := s.act(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if st, _ := p.Servers().GetServer(ctx, "a"); st.TaskState != s.during {
				t.Fatalf("%s: task %q, want %q", s.name, st.TaskState, s.during)
			}
			time.Sleep(s.wait)
			synctest.Wait()
			st, _ := p.Servers().GetServer(ctx, "a")
			if st.State != s.after || st.TaskState != "" {
				t.Fatalf("%s: ended %s/%q, want %s", s.name, st.State, st.TaskState, s.after)
			}
			u, _ := h.Usage(ctx)
			if want := map[string]int{"1": 512, "2": 1024}[s.afterFlavor]; u.RAMMB != want {
				t.Fatalf("%s: host holds %d MB, want %d", s.name, u.RAMMB, want)
			}
		}
	})
}

// TestResizeRefusals: no room on the host, a missing server, a busy one.
func TestResizeRefusals(t *testing.T) {
	p := newPool(t, func(c *localcloud.Config) { c.SimulatedHosts, c.HostRAMMB = 1, 1024 }) // 1536 MB of room
	ctx := t.Context()
	rz, _ := proxies.ResizerOf(p)
	rb, _ := proxies.RebuilderOf(p)
	for _, id := range []string{"a", "b"} {
		if _, err := p.Servers().CreateServer(ctx, spec(id, "sim-1")); err != nil {
			t.Fatal(err)
		}
	}
	huge := proxies.Flavor{ID: "3", Name: "m1.medium", VCPUs: 1, RAMMB: 2048, DiskGB: 1}
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"no room", func() error { _, err := rz.ResizeServer(ctx, "a", huge); return err }(), proxies.ErrCapacity},
		{"missing resize", func() error { _, err := rz.ResizeServer(ctx, "zz", small); return err }(), proxies.ErrNotFound},
		{"missing rebuild", func() error { _, err := rb.RebuildServer(ctx, "zz", proxies.RebuildSpec{ImageID: "i"}); return err }(), proxies.ErrNotFound},
		{"fits", func() error { _, err := rz.ResizeServer(ctx, "a", small); return err }(), nil},
		{"then full", func() error { _, err := rz.ResizeServer(ctx, "b", small); return err }(), proxies.ErrCapacity},
	}
	for _, c := range cases {
		if (c.want == nil) != (c.err == nil) || (c.want != nil && !errors.Is(c.err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	h, _ := p.Host("sim-1")
	if u, _ := h.Usage(ctx); u.RAMMB != 1536 {
		t.Errorf("host holds %d MB, want 1536", u.RAMMB)
	}
}
