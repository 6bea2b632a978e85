package scheduler

import (
	"errors"
	"fmt"
	"testing"
)

// TestPlaceInGroup: anti-affinity spreads members over distinct hosts until
// none is left; affinity keeps them on the first member's host until it is
// full; soft policies do not filter.
func TestPlaceInGroup(t *testing.T) {
	cases := []struct {
		policy     string
		servers    int
		wantHosts  int   // distinct hosts used by the placed members
		wantPlaced int   // members placed
		wantErr    error // for the members past wantPlaced
	}{
		{"anti-affinity", 4, 3, 3, ErrNoValidHost},
		{"affinity", 4, 1, 3, ErrNoValidHost}, // 2048 MB × 1.5 fits three 1 GB servers
		{"soft-anti-affinity", 4, 0, 4, nil},
	}
	for _, tc := range cases {
		for name, open := range backends(t) {
			t.Run(tc.policy+"/"+name, func(t *testing.T) {
				reg, prefix := open(t)
				ctx := t.Context()
				s := New(reg, Options{KeyPrefix: prefix})
				if err := s.SyncHosts(ctx, "local", simHosts(3, 2048)); err != nil {
					t.Fatal(err)
				}
				hints := GroupHints{Policy: tc.policy}
				used := map[string]bool{}
				placed := 0
				for i := range tc.servers {
					p, err := s.PlaceInGroup(ctx, Request{ServerID: fmt.Sprint("m", i), ProjectID: "p", Flavor: gb}, hints)
					if err != nil {
						if !errors.Is(err, tc.wantErr) || placed != tc.wantPlaced {
							t.Fatalf("member %d: %v after %d placed; want %v after %d", i, err, placed, tc.wantErr, tc.wantPlaced)
						}
						continue
					}
					placed++
					used[p.Host] = true
					hints.Hosts = append(hints.Hosts, p.Cloud+"/"+p.Host)
				}
				if placed != tc.wantPlaced || (tc.wantHosts > 0 && len(used) != tc.wantHosts) {
					t.Errorf("placed %d on %d hosts; want %d on %d", placed, len(used), tc.wantPlaced, tc.wantHosts)
				}
			})
		}
	}
}
