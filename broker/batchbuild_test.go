package broker_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// batchCloud is the fake cloud with a batch call that records each batch
// (its top ids) and fails with Err when set.
type batchCloud struct {
	*brokertest.Backend
	Per int // MaxServersBatch
	Err error

	mu      sync.Mutex
	batches [][]string
}

func (c *batchCloud) Capabilities() proxies.Capabilities {
	caps := c.Backend.Capabilities()
	caps.MaxServersBatch = c.Per
	return caps
}

func (c *batchCloud) CreateServers(ctx context.Context, specs []proxies.ServerSpec) ([]proxies.ServerStatus, error) {
	ids := make([]string, len(specs))
	for i, s := range specs {
		ids[i] = s.ID
	}
	c.mu.Lock()
	c.batches = append(c.batches, ids)
	c.mu.Unlock()
	if c.Err != nil {
		return nil, c.Err
	}
	out := make([]proxies.ServerStatus, len(specs))
	for i, s := range specs {
		st, err := c.Backend.CreateServer(ctx, s)
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

func (c *batchCloud) sizes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n []int
	for _, b := range c.batches {
		n = append(n, len(b))
	}
	slices.Sort(n) // chunks of one create run concurrently
	slices.Reverse(n)
	return n
}

// TestMultiCreateBatches: the servers of one multi-create placed on one
// cloud with a batch call are created by it (split by MaxServersBatch),
// in the order they were made; a failed batch leaves each server to build
// on its own; a single server or a cloud without the call is not batched.
func TestMultiCreateBatches(t *testing.T) {
	unavailable := proxies.Errorf(proxies.ErrUnavailable, "CreateServers", "cloud sim unreachable")
	cases := []struct {
		name      string
		per       int
		err       error
		count     int
		wantSizes []int
	}{
		{name: "one batch", per: 10, count: 3, wantSizes: []int{3}},
		{name: "split by max_servers_batch", per: 2, count: 3, wantSizes: []int{2, 1}},
		{name: "failed batch builds one by one", per: 10, err: unavailable, count: 3, wantSizes: []int{3}},
		{name: "no batch call declared", per: 0, count: 3},
		{name: "one server", per: 10, count: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cloud *batchCloud
			e := newEnv(t, func(e *env) {
				cloud = &batchCloud{Backend: e.cloud, Per: c.per, Err: c.err}
			})
			// newEnv wires e.cloud; build the broker again over the batch cloud.
			e.b.Close()
			e.b = broker.New(e.reg, e.placer, e.images, e.ports, map[string]proxies.Backend{"sim": cloud},
				slog.New(slog.DiscardHandler), broker.Options{PollInterval: time.Millisecond, Quota: broker.Quota{Instances: 3, Cores: 20, RAM: 51200}})
			t.Cleanup(e.b.Close)
			made, err := e.create(t, func(r *broker.CreateRequest) { r.MinCount, r.MaxCount = c.count, c.count })
			if err != nil || len(made) != c.count {
				t.Fatalf("CreateServers = %d, %v; want %d", len(made), err, c.count)
			}
			for _, s := range made {
				e.waitStatus(t, s.ID, "ACTIVE")
				if !cloud.Has(s.ID) {
					t.Errorf("server %s is ACTIVE but the cloud does not hold it", s.ID)
				}
			}
			if got := cloud.sizes(); fmt.Sprint(got) != fmt.Sprint(c.wantSizes) {
				t.Errorf("batch sizes %v; want %v", got, c.wantSizes)
			}
			// Chunks run concurrently: each holds consecutive servers, in order.
			cloud.mu.Lock()
			batches := slices.Clone(cloud.batches)
			cloud.mu.Unlock()
			for _, batch := range batches {
				at := slices.IndexFunc(made, func(s *registry.Server) bool { return s.ID == batch[0] })
				for k, id := range batch {
					if at < 0 || at+k >= len(made) || made[at+k].ID != id {
						t.Errorf("batch %v is not a run of consecutive made servers", batch)
						break
					}
				}
			}
		})
	}
}

// TestDeleteDuringBatch: a server deleted while its batch runs waits for
// the batch and is then removed from the cloud; the others go ACTIVE.
func TestDeleteDuringBatch(t *testing.T) {
	var cloud *batchCloud
	e := newEnv(t, func(e *env) {
		e.cloud.CreateDelay = 100 * time.Millisecond
		cloud = &batchCloud{Backend: e.cloud, Per: 10}
	})
	e.b.Close()
	e.b = broker.New(e.reg, e.placer, e.images, e.ports, map[string]proxies.Backend{"sim": cloud},
		slog.New(slog.DiscardHandler), broker.Options{PollInterval: time.Millisecond, Quota: broker.Quota{Instances: 3, Cores: 20, RAM: 51200}})
	t.Cleanup(e.b.Close)
	made, err := e.create(t, func(r *broker.CreateRequest) { r.MinCount, r.MaxCount = 3, 3 })
	if err != nil || len(made) != 3 {
		t.Fatalf("CreateServers = %d, %v; want 3", len(made), err)
	}
	if err := e.b.DeleteServer(context.Background(), e.callerA, made[0].ID); err != nil {
		t.Fatalf("DeleteServer: %v", err)
	}
	e.waitStatus(t, made[0].ID, "")
	if cloud.Has(made[0].ID) {
		t.Errorf("the cloud still holds %s after its delete", made[0].ID)
	}
	for _, s := range made[1:] {
		e.waitStatus(t, s.ID, "ACTIVE")
	}
	if got := cloud.sizes(); fmt.Sprint(got) != "[3]" {
		t.Errorf("batch sizes %v; want [3]", got)
	}
}
