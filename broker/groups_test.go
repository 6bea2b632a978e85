package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

const groupID = "9a0b0000-0000-4000-8000-000000000001"

// onlyPlace hides every optional method of a placer.
type onlyPlace struct{ p *brokertest.Placer }

func (o onlyPlace) Place(ctx context.Context, req scheduler.Request) (scheduler.Placement, error) {
	return o.p.Place(ctx, req)
}
func (o onlyPlace) Release(ctx context.Context, id string) error { return o.p.Release(ctx, id) }

// TestServerGroupPolicies boots three servers into a group on two hosts
// with the real scheduler: anti-affinity places two on distinct hosts and
// leaves the third in ERROR (no valid host); affinity keeps all on one.
func TestServerGroupPolicies(t *testing.T) {
	cases := []struct {
		policy      string
		wantActive  int
		wantHosts   int
		wantFailure int
	}{
		{"anti-affinity", 2, 2, 1},
		{"affinity", 3, 1, 0},
		{"soft-anti-affinity", 3, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			e := newEnv(t, nil)
			ctx := context.Background()
			sched := scheduler.New(e.reg, scheduler.Options{})
			hosts := []proxies.Host{
				{Name: "h1", AvailabilityZone: "nova", Up: true, Enabled: true, VCPUs: 8, RAMMB: 8192, DiskGB: 100},
				{Name: "h2", AvailabilityZone: "nova", Up: true, Enabled: true, VCPUs: 8, RAMMB: 8192, DiskGB: 100},
			}
			if err := sched.SyncHosts(ctx, "sim", hosts); err != nil {
				t.Fatal(err)
			}
			b := broker.New(e.reg, sched, e.images, e.ports, map[string]proxies.Backend{"sim": e.cloud},
				slog.New(slog.DiscardHandler), broker.Options{PollInterval: time.Millisecond})
			t.Cleanup(b.Close)
			groups := registry.NewCollection[registry.ServerGroup](e.reg, registry.KindServerGroup, nil)
			if err := groups.Create(ctx, projectA, groupID, time.Now(), &registry.ServerGroup{ID: groupID, ProjectID: projectA, Policy: tc.policy}); err != nil {
				t.Fatal(err)
			}
			made, err := b.CreateServers(ctx, broker.CreateRequest{Caller: e.callerA, Name: "g", ImageID: imageID, FlavorID: "1",
				Networks: []broker.NetworkRequest{{NetworkID: netA}}, MinCount: 3, MaxCount: 3, ServerGroupID: groupID})
			if err != nil {
				t.Fatal(err)
			}
			used, active, failed := map[string]bool{}, 0, 0
			for _, s := range made {
				switch s.Status {
				case "ERROR":
					failed++
				default:
					active++
					used[s.Routing.Host] = true
				}
			}
			if active != tc.wantActive || failed != tc.wantFailure || (tc.wantHosts > 0 && len(used) != tc.wantHosts) {
				t.Errorf("%d placed on %d hosts, %d failed; want %d on %d, %d failed", active, len(used), failed, tc.wantActive, tc.wantHosts, tc.wantFailure)
			}
		})
	}
}

// TestServerGroupWithoutGroupPlacer: a hard policy the placer cannot
// enforce answers 501, never a placement that ignores it.
func TestServerGroupWithoutGroupPlacer(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	b := broker.New(e.reg, onlyPlace{e.placer}, e.images, e.ports, map[string]proxies.Backend{"sim": e.cloud},
		slog.New(slog.DiscardHandler), broker.Options{PollInterval: time.Millisecond})
	t.Cleanup(b.Close)
	groups := registry.NewCollection[registry.ServerGroup](e.reg, registry.KindServerGroup, nil)
	if err := groups.Create(ctx, projectA, groupID, time.Now(), &registry.ServerGroup{ID: groupID, ProjectID: projectA, Policy: "anti-affinity"}); err != nil {
		t.Fatal(err)
	}
	_, err := b.CreateServers(ctx, broker.CreateRequest{Caller: e.callerA, Name: "g", ImageID: imageID, FlavorID: "1",
		Networks: []broker.NetworkRequest{{NetworkID: netA}}, ServerGroupID: groupID})
	if !errors.Is(err, proxies.ErrNotSupported) || e.placer.Claims() != 0 {
		t.Errorf("create: %v, claims %d; want ErrNotSupported and none", err, e.placer.Claims())
	}
}
