package app

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/canopy-cloud/canopy/gateway/admin"
	"github.com/canopy-cloud/canopy/proxies"
)

// inventoryTimeout bounds one cloud's inventory call, so a slow cloud never
// holds up the others or the loop.
const inventoryTimeout = 20 * time.Second

// cloudHealth is what the inventory loop last saw of each cloud.
type cloudHealth struct {
	mu sync.Mutex
	by map[string]admin.Health
}

func (h *cloudHealth) set(name string, v admin.Health) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.by == nil {
		h.by = map[string]admin.Health{}
	}
	h.by[name] = v
}

func (h *cloudHealth) drop(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.by, name)
}

func (h *cloudHealth) get(name string) admin.Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	if v, ok := h.by[name]; ok {
		return v
	}
	return admin.Health{Status: "unknown"}
}

// refreshInventory asks every cloud for its hosts, in parallel, and writes
// them to the scheduler. A cloud that fails to answer is marked down (all its
// hosts down, so it gets no placements) until it answers again; the others
// are unaffected.
func (a *App) refreshInventory(ctx context.Context) {
	var wg sync.WaitGroup
	for name, b := range a.clouds.All() {
		wg.Go(func() { a.refreshCloud(ctx, name, b) })
	}
	wg.Wait()
}

// refreshCloud asks one cloud for its hosts and writes them to the
// scheduler (all down when it does not answer).
func (a *App) refreshCloud(ctx context.Context, name string, b proxies.Backend) {
	cctx, cancel := context.WithTimeout(ctx, inventoryTimeout)
	defer cancel()
	hosts, err := b.Inventory().Hosts(cctx)
	now := time.Now().UTC()
	if err != nil {
		a.log.Warn("cloud inventory failed; its hosts are marked down", "cloud", name, "err", err)
		a.health.set(name, admin.Health{Status: "down", CheckedAt: now, Error: proxies.SafeMessage(err)})
		hosts = nil
	} else {
		a.health.set(name, admin.Health{Status: "up", CheckedAt: now})
	}
	if !a.clouds.Has(name) {
		return // removed meanwhile: writing its hosts would bring them back
	}
	if err := a.Scheduler.SyncHosts(ctx, name, hosts); err != nil {
		a.log.Error("cannot record cloud inventory", "cloud", name, "err", err)
	}
}

// inventoryLoop refreshes inventory every interval until ctx ends.
func (a *App) inventoryLoop(ctx context.Context) error {
	t := time.NewTicker(a.opts.InventoryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			a.reconcileRegistered(ctx)
			a.refreshInventory(ctx)
		}
	}
}

// CloudList lists the configured clouds for the admin API.
func (a *App) CloudList() []admin.CloudRef {
	all := a.clouds.All()
	out := make([]admin.CloudRef, 0, len(all))
	for name, b := range all {
		typ := a.ct.typeOf(name)
		if name == a.opts.LocalName {
			typ = "local"
		}
		if typ == "" {
			typ = "unknown"
		}
		out = append(out, admin.CloudRef{Name: name, Type: typ, Capabilities: b.Capabilities(), Health: a.health.get(name), Registered: a.isRegistered(name)})
	}
	a.ct.mu.Lock()
	for name, msg := range a.ct.broken {
		if _, ok := all[name]; !ok {
			out = append(out, admin.CloudRef{Name: name, Type: a.ct.types[name], Registered: true,
				Health: admin.Health{Status: "down", Error: "the registered configuration does not build: " + msg}})
		}
	}
	a.ct.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// isRegistered says whether cloud came from the admin API (not canopy.yaml).
func (a *App) isRegistered(cloud string) bool {
	a.ct.mu.Lock()
	defer a.ct.mu.Unlock()
	_, ok := a.ct.registered[cloud]
	return ok
}
