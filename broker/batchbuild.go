package broker

import (
	"context"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// startCreateBuilds starts the backend builds of the servers one create
// request recorded in BUILD (made, with their specs and placements, in
// order; servers already in ERROR are skipped). When several were placed on
// one cloud whose backend is a proxies.BatchCreator, they are first created
// there together (batchThenBuild); each then runs its own build as usual.
func (b *Broker) startCreateBuilds(ctx context.Context, c Caller, made []*registry.Server, specs []proxies.ServerSpec, placing []placeRequest) {
	var idx []int
	for i, s := range made {
		if s.VMState == "building" {
			idx = append(idx, i)
		}
	}
	refs := make([]actionRef, len(made))
	for _, i := range idx {
		refs[i] = b.logAction(ctx, c, made[i], "create")
	}
	if bb, per, ok := b.batchCreator(made, idx); ok {
		for len(idx) > 0 {
			n := min(len(idx), per)
			b.batchThenBuild(bb, made, specs, placing, refs, idx[:n])
			idx = idx[n:]
		}
		return
	}
	for _, i := range idx {
		b.startBuild(made[i], specs[i], placing[i], refs[i])
	}
}

// batchCreator is the one cloud every server of idx was placed on with its
// batch call, and the most servers that takes per call; false when there
// are fewer than two servers, several clouds, or no batch call.
func (b *Broker) batchCreator(made []*registry.Server, idx []int) (batchBackend, int, bool) {
	if len(idx) < 2 {
		return batchBackend{}, 0, false
	}
	cloud := made[idx[0]].Routing.Cloud
	for _, i := range idx {
		if made[i].Routing.Cloud != cloud {
			return batchBackend{}, 0, false
		}
	}
	be, err := b.backend(cloud, "CreateServers")
	if err != nil {
		return batchBackend{}, 0, false
	}
	caps := be.Capabilities()
	bc, ok := proxies.BatchCreatorOf(be)
	if !ok || !caps.Servers || caps.MaxServersBatch < 2 {
		return batchBackend{}, 0, false
	}
	return batchBackend{be, bc}, caps.MaxServersBatch, true
}

// batchBackend is a backend's batch call with the backend it belongs to
// (to realise images and networks there first).
type batchBackend struct {
	be proxies.Backend
	bc proxies.BatchCreator
}

// batchThenBuild registers a build for each server of idx at once (so a
// delete waits for it), creates them all in one batch call, then runs each
// server's own build. Each build finds its server made (creates are
// idempotent by top id) and waits for it to settle; when the batch failed
// (all or nothing), each build creates its server on its own, with the
// usual retries on another candidate.
func (b *Broker) batchThenBuild(bb batchBackend, made []*registry.Server, specs []proxies.ServerSpec, placing []placeRequest, refs []actionRef, idx []int) {
	be := bb.be
	handles := make([]*buildHandle, len(idx))
	ctxs := make([]context.Context, len(idx))
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	for k, i := range idx {
		h := &buildHandle{done: make(chan struct{})}
		ctxs[k], h.cancel = context.WithTimeout(b.ctx, b.opts.BuildTimeout)
		handles[k] = h
		b.builds[made[i].ID] = h
	}
	b.wg.Add(len(idx) + 1)
	b.mu.Unlock()

	batched := make(chan struct{})
	go func() {
		defer b.wg.Done()
		defer close(batched)
		ctx, cancel := context.WithTimeout(b.ctx, b.opts.BuildTimeout)
		defer cancel()
		group := make([]proxies.ServerSpec, 0, len(idx))
		for _, i := range idx {
			spec := specs[i]
			if err := b.realiseForServer(ctx, be, &spec); err != nil {
				b.log.Info("batch create skipped: building one by one", "cloud", be.Name(), "server", spec.ID, "err", err)
				return
			}
			group = append(group, spec)
		}
		if _, err := bb.bc.CreateServers(ctx, group); err != nil {
			b.log.Info("batch create failed: building one by one", "cloud", be.Name(), "servers", len(group), "err", err)
		}
	}()
	for k, i := range idx {
		s, h := made[i], handles[k]
		go func() {
			defer b.wg.Done()
			defer func() {
				h.cancel()
				b.mu.Lock()
				delete(b.builds, s.ID)
				b.mu.Unlock()
				close(h.done)
			}()
			// Even when stopped meanwhile, wait for the batch: a delete
			// (waiting on h.done) then finds the server the batch made.
			<-batched
			b.build(ctxs[k], s, specs[i], placing[i], refs[i])
		}()
	}
}
