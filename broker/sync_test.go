package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/registry"
)

// TestSyncMarksMissingServers: a server gone from its cloud goes ERROR with
// a fault; a delete left unfinished (its broker crashed) is finished once
// the grace has passed, giving back claim, ports and quota exactly once.
func TestSyncMarksMissingServers(t *testing.T) {
	cases := []struct {
		name       string
		deleting   bool
		age        time.Duration // how long ago the record last changed
		wantFixed  int
		wantStatus string // "" = record gone
	}{
		{"lost active server", false, time.Second, 1, "ERROR"},
		{"changed after the list", false, -time.Second, 0, "ACTIVE"},
		{"delete still within grace", true, 10 * time.Second, 0, "ACTIVE"},
		{"crashed delete", true, 2 * time.Minute, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			ctx := context.Background()
			made, err := e.create(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			id := made[0].ID
			e.waitStatus(t, id, "ACTIVE")
			_, err = e.b.Servers().Update(ctx, projectA, id, func(s *registry.Server) error {
				s.Updated = time.Now().UTC().Add(-tc.age)
				if tc.deleting {
					s.TaskState = "deleting" // as a broker that crashed mid-delete left it
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			e.cloud.Forget(id)
			n, err := e.b.SyncOnce(ctx, "sim", e.cloud)
			if err != nil || n != tc.wantFixed {
				t.Fatalf("corrected %d err %v, want %d", n, err, tc.wantFixed)
			}
			s, err := e.b.GetServer(ctx, e.callerA, id)
			switch {
			case tc.wantStatus == "":
				if err == nil {
					t.Fatalf("record survived: %+v", s)
				}
				if e.placer.Claims() != 0 || e.ports.Held() != 0 || e.usage(t) != (broker.Usage{}) {
					t.Errorf("left behind: claims %d ports %d usage %+v", e.placer.Claims(), e.ports.Held(), e.usage(t))
				}
				if n, _ := e.b.SyncOnce(ctx, "sim", e.cloud); n != 0 {
					t.Errorf("second pass corrected %d", n)
				}
			case err != nil:
				t.Fatal(err)
			case tc.wantStatus == "ERROR":
				if s.Status != "ERROR" || s.Fault == nil || !strings.Contains(s.Fault.Message, "missing from its cloud sim") {
					t.Errorf("status %s fault %+v", s.Status, s.Fault)
				}
			case !tc.deleting && s.Status != tc.wantStatus:
				t.Errorf("status %s, want %s", s.Status, tc.wantStatus)
			}
		})
	}
}
