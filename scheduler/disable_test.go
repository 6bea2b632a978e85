package scheduler

import (
	"errors"
	"testing"
)

// TestDisableCloud checks that a disabled cloud gets no placements while its
// hosts stay visible (disabled), and that enabling it again restores them.
func TestDisableCloud(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			reg, prefix := open(t)
			ctx := t.Context()
			s := New(reg, Options{KeyPrefix: prefix})
			if err := s.SyncHosts(ctx, "a", simHosts(1, 4096)); err != nil {
				t.Fatal(err)
			}
			if err := s.SyncHosts(ctx, "b", simHosts(1, 4096)); err != nil {
				t.Fatal(err)
			}
			if err := s.SetCloudEnabled(ctx, "a", false, "maintenance"); err != nil {
				t.Fatal(err)
			}
			if err := s.SetCloudEnabled(ctx, "a", false, "maintenance"); err != nil { // idempotent
				t.Fatal(err)
			}
			for i := range 3 {
				p, err := s.Place(ctx, Request{ServerID: "s" + string(rune('0'+i)), ProjectID: "p", Flavor: gb})
				if err != nil {
					t.Fatal(err)
				}
				if p.Cloud != "b" {
					t.Fatalf("placed on disabled cloud %q", p.Cloud)
				}
			}
			snap, err := s.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range snap.Hosts {
				if want := h.Cloud != "a"; h.Enabled != want {
					t.Errorf("host %s/%s Enabled=%v, want %v", h.Cloud, h.Host, h.Enabled, want)
				}
			}
			d, err := s.DisabledClouds(ctx)
			if err != nil || d["a"] != "maintenance" || len(d) != 1 {
				t.Fatalf("DisabledClouds = %v, %v", d, err)
			}
			if err := s.SetCloudEnabled(ctx, "b", false, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Place(ctx, Request{ServerID: "none", ProjectID: "p", Flavor: gb}); !errors.Is(err, ErrNoValidHost) {
				t.Fatalf("with every cloud disabled Place = %v, want ErrNoValidHost", err)
			}
			if err := s.SetCloudEnabled(ctx, "a", true, ""); err != nil {
				t.Fatal(err)
			}
			p, err := s.Place(ctx, Request{ServerID: "again", ProjectID: "p", Flavor: gb})
			if err != nil || p.Cloud != "a" {
				t.Fatalf("after enabling a: %+v, %v", p, err)
			}
		})
	}
}
