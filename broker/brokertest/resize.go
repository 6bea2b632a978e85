package brokertest

import (
	"context"

	"github.com/canopy-cloud/canopy/proxies"
)

var (
	_ proxies.Rebuilder = (*Backend)(nil)
	_ proxies.Resizer   = (*Backend)(nil)
)

// RebuildServer re-images a fake server at once; RebuildErr fails it.
func (b *Backend) RebuildServer(ctx context.Context, id string, spec proxies.RebuildSpec) (proxies.ServerStatus, error) {
	b.add("rebuild " + id + " " + spec.ImageID)
	if b.RebuildErr != nil {
		return proxies.ServerStatus{}, b.RebuildErr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.servers[id]
	if !ok {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrNotFound, "RebuildServer", "no server %s", id)
	}
	if s.State == proxies.StateError {
		s.State, s.PowerState, s.Fault = proxies.StateActive, proxies.PowerRunning, ""
	}
	return *s, nil
}

// ResizeServer gives a fake server flavor f at once; ResizeErr fails it.
func (b *Backend) ResizeServer(ctx context.Context, id string, f proxies.Flavor) (proxies.ServerStatus, error) {
	b.add("resize " + id + " " + f.ID)
	if b.ResizeErr != nil {
		return proxies.ServerStatus{}, b.ResizeErr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.servers[id]
	if !ok {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrNotFound, "ResizeServer", "no server %s", id)
	}
	return *s, nil
}

// ResizeClaim moves serverID's claim to flavor f; ResizeErr fails it
// (scheduler.ErrNoValidHost for "no room").
func (p *Placer) ResizeClaim(ctx context.Context, serverID string, f proxies.Flavor) error {
	p.add("resize-claim " + serverID + " " + f.ID)
	if p.ResizeErr != nil {
		return p.ResizeErr
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	req, ok := p.claims[serverID]
	if !ok {
		return proxies.Errorf(proxies.ErrNotFound, "ResizeClaim", "server %s holds no claim", serverID)
	}
	req.Flavor = f
	p.claims[serverID] = req
	return nil
}

// ClaimedFlavor is the flavor serverID's claim holds ("" when none).
func (p *Placer) ClaimedFlavor(serverID string) proxies.Flavor {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.claims[serverID].Flavor
}
