package localcloud

import (
	"context"

	"github.com/canopy-cloud/canopy/proxies"
)

// domainRebuilder is the optional HostDriver method behind the pool's
// rebuild; a host kind without it makes the pool answer ErrNotSupported.
type domainRebuilder interface {
	RebuildDomain(ctx context.Context, id string, spec proxies.RebuildSpec) (proxies.ServerStatus, error)
}

var (
	_ proxies.Rebuilder = (*Pool)(nil)
	_ domainRebuilder   = (*SimulatedHost)(nil)
)

// RebuildServer rebuilds a server on its host (Nova's rebuild): same id,
// host and ports, a new root disk from spec.ImageID.
func (p *Pool) RebuildServer(ctx context.Context, id string, spec proxies.RebuildSpec) (proxies.ServerStatus, error) {
	const op = "RebuildServer"
	h, err := p.host(op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	rb, ok := h.(domainRebuilder)
	if !ok {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrNotSupported, op, "host %s cannot rebuild servers", h.Name())
	}
	return rb.RebuildDomain(ctx, id, spec)
}

// RebuildDomain re-images an active, stopped or errored simulated server:
// task "rebuilding" for the build delay, then the power state it had (an
// errored server comes back active, as Nova's rebuild repairs it).
func (h *SimulatedHost) RebuildDomain(ctx context.Context, id string, spec proxies.RebuildSpec) (proxies.ServerStatus, error) {
	const op = "RebuildServer"
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.lookup(op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if d.task == "rebuilding" && d.spec.ImageID == spec.ImageID {
		return h.status(d), nil // a retry of the rebuild in progress
	}
	ok := d.state == proxies.StateActive || d.state == proxies.StateStopped || d.state == proxies.StateError
	if !ok || d.task != "" {
		return proxies.ServerStatus{}, conflict(op, "rebuild", d)
	}
	d.spec.ImageID, d.spec.Name = spec.ImageID, spec.Name
	d.spec.Metadata = spec.Metadata
	if spec.PublicKey != "" {
		d.spec.PublicKey = spec.PublicKey
	}
	d.task = "rebuilding"
	wasStopped := d.state == proxies.StateStopped
	h.transition(d, h.build, func(d *domain) {
		d.task, d.fault = "", ""
		if wasStopped {
			d.state, d.power = proxies.StateStopped, proxies.PowerShutdown
			return
		}
		d.state, d.power = proxies.StateActive, proxies.PowerRunning
		d.boots++
		d.console = appendConsole(d.console, bootLog(h.name, d)...)
	})
	return h.status(d), nil
}
