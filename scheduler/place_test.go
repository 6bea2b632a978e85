package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// realRedisURL is the machine's redis-server; tests use their own database
// and a random key prefix, and delete what they wrote.
const realRedisURL = "redis://127.0.0.1:6379/11"

// backends opens the registries the claim tests run against: the in-memory
// dev server always, the real Redis when it answers (required when CI is set).
func backends(t *testing.T) map[string]func(t *testing.T) (*registry.Registry, string) {
	return map[string]func(t *testing.T) (*registry.Registry, string){
		"miniredis": func(t *testing.T) (*registry.Registry, string) {
			dev, err := registry.StartDevServer(nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(dev.Close)
			reg, err := dev.Open(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { reg.Close() })
			return reg, ""
		},
		"redis-server": func(t *testing.T) (*registry.Registry, string) {
			reg, err := registry.Open(t.Context(), registry.Options{URL: realRedisURL})
			if err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("CI is set and the real Redis does not answer: %v", err)
				}
				t.Skipf("no real Redis at %s: %v", realRedisURL, err)
			}
			var b [6]byte
			_, _ = rand.Read(b[:])
			prefix := "schedtest-" + hex.EncodeToString(b[:]) + ":"
			t.Cleanup(func() {
				ctx := context.Background()
				iter := reg.Client().Scan(ctx, 0, prefix+"*", 1000).Iterator()
				for iter.Next(ctx) {
					reg.Client().Del(ctx, iter.Val())
				}
				reg.Close()
			})
			return reg, prefix
		},
	}
}

// simHosts are n hosts of one cloud with the given RAM each.
func simHosts(n, ramMB int) []proxies.Host {
	out := make([]proxies.Host, n)
	for i := range out {
		out[i] = proxies.Host{Name: "sim-" + strconv.Itoa(i+1), AvailabilityZone: "nova", HypervisorType: "fake",
			Up: true, Enabled: true, VCPUs: 64, RAMMB: ramMB, DiskGB: 1000}
	}
	return out
}

var gb = proxies.Flavor{ID: "gb", Name: "m1.gb", VCPUs: 1, RAMMB: 1024, DiskGB: 1}

// TestPlaceConcurrently races 200 placements for room for exactly 100
// servers (4 hosts × 25 under the 1.5 RAM ratio) and checks that exactly 100
// win, no host is over capacity, and usage equals the sum of the claims.
func TestPlaceConcurrently(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			reg, prefix := open(t)
			ctx := t.Context()
			cloud := "c" + strconv.Itoa(os.Getpid())
			s := New(reg, Options{KeyPrefix: prefix, ClaimsPerRound: 2})
			if err := s.SyncHosts(ctx, cloud, simHosts(4, 25*1024*2/3+1)); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			placed := make([]Placement, 200)
			errs := make([]error, 200)
			for i := range 200 {
				wg.Go(func() {
					placed[i], errs[i] = s.Place(ctx, Request{ServerID: fmt.Sprintf("srv-%03d", i), ProjectID: "p", Flavor: gb})
				})
			}
			wg.Wait()
			won, perHost := 0, map[string]int{}
			for i, err := range errs {
				switch {
				case err == nil:
					won++
					perHost[placed[i].Host]++
				case !errors.Is(err, ErrNoValidHost):
					t.Errorf("Place #%d: %v", i, err)
				}
			}
			if won != 100 {
				t.Errorf("%d servers placed; want exactly 100", won)
			}
			snap, err := s.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range snap.Hosts {
				if h.UsedRAMMB > h.RAMMB*3/2 {
					t.Errorf("host %s is over capacity: %d MB used of %d × 1.5", h.Host, h.UsedRAMMB, h.RAMMB)
				}
				if h.UsedRAMMB != perHost[h.Host]*gb.RAMMB || h.UsedVCPUs != perHost[h.Host] {
					t.Errorf("host %s usage %d MB / %d vCPU; the claims on it sum to %d servers", h.Host, h.UsedRAMMB, h.UsedVCPUs, perHost[h.Host])
				}
			}
		})
	}
}

func TestPlaceRetryAndRelease(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			reg, prefix := open(t)
			ctx := t.Context()
			s := New(reg, Options{KeyPrefix: prefix})
			if err := s.SyncHosts(ctx, "local", simHosts(2, 2048)); err != nil {
				t.Fatal(err)
			}
			req := Request{ServerID: "a", ProjectID: "p", Flavor: gb}
			first, err := s.Place(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if first.Cloud != "local" || first.AvailabilityZone != "nova" || first.Host == "" {
				t.Errorf("placement %+v", first)
			}
			again, err := s.Place(ctx, req)
			if err != nil || again != first {
				t.Errorf("retried Place = %+v, %v; want %+v", again, err, first)
			}
			if used := totalRAM(t, s); used != gb.RAMMB {
				t.Errorf("after a retried Place %d MB are claimed; want %d (one claim)", used, gb.RAMMB)
			}
			for i := range 3 {
				if err := s.Release(ctx, "a"); err != nil {
					t.Fatalf("Release #%d: %v", i+1, err)
				}
				if used := totalRAM(t, s); used != 0 {
					t.Fatalf("after Release #%d %d MB are claimed; want 0", i+1, used)
				}
			}
			if err := s.Release(ctx, "never-placed"); err != nil {
				t.Errorf("Release of an unknown server: %v", err)
			}
			// Spreading: two servers land on two hosts.
			p1, _ := s.Place(ctx, Request{ServerID: "b", Flavor: gb})
			p2, _ := s.Place(ctx, Request{ServerID: "c", Flavor: gb})
			if p1.Host == p2.Host {
				t.Errorf("both servers on %s; the RAM weigher should spread them", p1.Host)
			}
		})
	}
}

func TestPlaceRefusals(t *testing.T) {
	reg := devRegistry(t)
	s := New(reg, Options{})
	if err := s.SyncHosts(t.Context(), "local", simHosts(1, 1024)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  Request
		want error
	}{
		{"no server id", Request{Flavor: gb}, proxies.ErrInvalid},
		{"negative flavor", Request{ServerID: "x", Flavor: proxies.Flavor{RAMMB: -1}}, proxies.ErrInvalid},
		{"too big", Request{ServerID: "y", Flavor: proxies.Flavor{RAMMB: 4096}}, ErrNoValidHost},
		{"unknown zone", Request{ServerID: "z", Flavor: gb, AvailabilityZone: "mars"}, ErrNoValidHost},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.Place(t.Context(), c.req); !errors.Is(err, c.want) {
				t.Errorf("Place = %v; want %v", err, c.want)
			}
		})
	}
}

// TestSyncHostsKeepsUsage re-syncs the inventory under a claim: usage stays,
// capacity changes, and a host no longer reported goes down.
func TestSyncHostsKeepsUsage(t *testing.T) {
	reg := devRegistry(t)
	ctx := t.Context()
	s := New(reg, Options{})
	if err := s.SyncHosts(ctx, "local", simHosts(2, 4096)); err != nil {
		t.Fatal(err)
	}
	p, err := s.Place(ctx, Request{ServerID: "a", Flavor: gb, ForceHost: "sim-1"})
	if err != nil || p.Host != "sim-1" {
		t.Fatalf("Place = %+v, %v", p, err)
	}
	if err := s.SyncHosts(ctx, "local", simHosts(1, 8192)); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]HostState{}
	for _, h := range snap.Hosts {
		got[h.Host] = h
	}
	if h := got["sim-1"]; h.RAMMB != 8192 || h.UsedRAMMB != 1024 || !h.Up || h.Generation < 3 {
		t.Errorf("sim-1 after re-sync = %+v; want 8192 MB with 1024 used, up, generation bumped", h)
	}
	if h := got["sim-2"]; h.Up {
		t.Errorf("sim-2 is no longer reported but still up: %+v", h)
	}
}

func totalRAM(t *testing.T, s *Scheduler) int {
	t.Helper()
	snap, err := s.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, h := range snap.Hosts {
		n += h.UsedRAMMB
	}
	return n
}

// TestReportedHostExpires: a host that reports itself (an agent's
// heartbeat) is up until its ttl passes without a new report, then down;
// its cloud's inventory pass never marks it down.
func TestReportedHostExpires(t *testing.T) {
	reg := devRegistry(t)
	ctx := t.Context()
	s := New(reg, Options{})
	if err := s.SyncHosts(ctx, "local", simHosts(1, 1024)); err != nil {
		t.Fatal(err)
	}
	kvm := proxies.Host{Name: "kvm-1", AvailabilityZone: "nova", HypervisorType: "kvm", Up: true, Enabled: true, VCPUs: 4, RAMMB: 4096, DiskGB: 50}
	if err := s.ReportHost(ctx, "local", kvm, time.Second); err != nil {
		t.Fatal(err)
	}
	up := func() bool {
		snap, err := s.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range snap.Hosts {
			if h.Host == "kvm-1" {
				return h.Up
			}
		}
		t.Fatal("kvm-1 is not in the snapshot")
		return false
	}
	if err := s.SyncHosts(ctx, "local", simHosts(1, 1024)); err != nil {
		t.Fatal(err)
	}
	if !up() {
		t.Fatal("the cloud's inventory pass marked a self-reporting host down")
	}
	time.Sleep(2100 * time.Millisecond) // the ttl is kept in whole seconds
	if up() {
		t.Fatal("a host whose heartbeats stopped is still up")
	}
	if err := s.ReportHost(ctx, "local", kvm, time.Minute); err != nil {
		t.Fatal(err)
	}
	if !up() {
		t.Fatal("a new heartbeat did not bring the host back")
	}
	if err := s.ReportHost(ctx, "local", kvm, 0); err == nil {
		t.Error("ReportHost took a zero ttl")
	}
}

// devRegistry is an in-memory registry that closes with the test.
func devRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}
