package scheduler

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

func flavorMB(ram int) proxies.Flavor {
	return proxies.Flavor{ID: fmt.Sprintf("f%d", ram), Name: fmt.Sprintf("m%d", ram), VCPUs: 1, RAMMB: ram, DiskGB: 1}
}

// TestResizeClaim moves claims in place: growth only where the host has
// room, shrink always, and the host's usage stays the sum of its claims.
func TestResizeClaim(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			reg, prefix := open(t)
			ctx := t.Context()
			s := New(reg, Options{KeyPrefix: prefix})
			// One host: 2048 MB × 1.5 = 3072 MB of room.
			if err := s.SyncHosts(ctx, "local", simHosts(1, 2048)); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"a", "b"} {
				if _, err := s.Place(ctx, Request{ServerID: id, ProjectID: "p", Flavor: flavorMB(1024)}); err != nil {
					t.Fatal(err)
				}
			}
			steps := []struct {
				name   string
				server string
				ram    int
				want   error
				used   int
			}{
				{"grow into the last room", "a", 2048, nil, 3072},
				{"grow past the room", "b", 2048, ErrNoValidHost, 3072},
				{"same size again", "a", 2048, nil, 3072},
				{"shrink", "b", 512, nil, 2560},
				{"grow after shrink", "b", 1024, nil, 3072},
				{"no claim", "ghost", 512, proxies.ErrNotFound, 3072},
			}
			for _, st := range steps {
				err := s.ResizeClaim(ctx, st.server, flavorMB(st.ram))
				if (st.want == nil) != (err == nil) || (st.want != nil && !errors.Is(err, st.want)) {
					t.Fatalf("%s: err %v, want %v", st.name, err, st.want)
				}
				if used := usedRAM(t, s); used != st.used {
					t.Fatalf("%s: host uses %d MB, want %d", st.name, used, st.used)
				}
			}
			if err := s.Release(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if used := usedRAM(t, s); used != 1024 {
				t.Errorf("after releasing the resized claim the host uses %d MB, want 1024", used)
			}
		})
	}
}

// TestResizeClaimConcurrently races 8 growths of 512 MB for 1024 MB of
// room: exactly 2 win and the host is never over-booked.
func TestResizeClaimConcurrently(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			reg, prefix := open(t)
			ctx := t.Context()
			s := New(reg, Options{KeyPrefix: prefix})
			if err := s.SyncHosts(ctx, "local", simHosts(1, 2048)); err != nil {
				t.Fatal(err)
			}
			for i := range 8 {
				if _, err := s.Place(ctx, Request{ServerID: fmt.Sprint("s", i), ProjectID: "p", Flavor: flavorMB(256)}); err != nil {
					t.Fatal(err)
				}
			}
			// 8 × 256 = 2048 used of 3072: room for two growths of 512.
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range 8 {
				wg.Go(func() { errs[i] = s.ResizeClaim(ctx, fmt.Sprint("s", i), flavorMB(768)) })
			}
			wg.Wait()
			won := 0
			for i, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, ErrNoValidHost):
					t.Errorf("resize s%d: %v", i, err)
				}
			}
			if used := usedRAM(t, s); won != 2 || used != 2048+won*512 {
				t.Errorf("%d growths won, host uses %d MB; want 2 and 3072", won, used)
			}
		})
	}
}

func usedRAM(t *testing.T, s *Scheduler) int {
	t.Helper()
	snap, err := s.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, h := range snap.Hosts {
		used += h.UsedRAMMB
	}
	return used
}

// TestResizeClaimAggregateRatio: a host whose aggregate sets its own RAM
// ratio (1.0) is held to it on a resize, as the claim holds it on a place,
// not to the global 1.5.
func TestResizeClaimAggregateRatio(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			reg, prefix := open(t)
			ctx := t.Context()
			s := New(reg, Options{KeyPrefix: prefix})
			if err := s.SyncHosts(ctx, "local", simHosts(1, 2048)); err != nil {
				t.Fatal(err)
			}
			a, err := s.CreateAggregate(ctx, "strict-ram", "", "uuid-r", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.UpdateAggregate(ctx, a.ID, func(x *Aggregate) error {
				x.Hosts = append(x.Hosts, "sim-1")
				x.Metadata["ram_allocation_ratio"] = "1.0"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Place(ctx, Request{ServerID: "a", ProjectID: "p", Flavor: flavorMB(1024)}); err != nil {
				t.Fatal(err)
			}
			// 2048 MB fit under 1.0; 2560 only under the global 1.5.
			if err := s.ResizeClaim(ctx, "a", flavorMB(2560)); !errors.Is(err, ErrNoValidHost) {
				t.Errorf("growth past the aggregate's ratio: %v; want ErrNoValidHost", err)
			}
			if err := s.ResizeClaim(ctx, "a", flavorMB(2048)); err != nil {
				t.Errorf("growth within the aggregate's ratio: %v", err)
			}
			if used := usedRAM(t, s); used != 2048 {
				t.Errorf("host uses %d MB, want 2048", used)
			}
		})
	}
}
