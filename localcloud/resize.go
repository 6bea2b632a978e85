package localcloud

import (
	"context"

	"github.com/canopy-cloud/canopy/proxies"
)

// domainResizer is the optional HostDriver method behind the pool's resize
// (within the host: the local pool does not move servers between hosts).
type domainResizer interface {
	ResizeDomain(ctx context.Context, id string, f proxies.Flavor) (proxies.ServerStatus, error)
}

var (
	_ proxies.Resizer = (*Pool)(nil)
	_ domainResizer   = (*SimulatedHost)(nil)
)

// ResizeServer changes a server's flavor on its host.
func (p *Pool) ResizeServer(ctx context.Context, id string, f proxies.Flavor) (proxies.ServerStatus, error) {
	const op = "ResizeServer"
	h, err := p.host(op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	rz, ok := h.(domainResizer)
	if !ok {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrNotSupported, op, "host %s cannot resize servers", h.Name())
	}
	return rz.ResizeDomain(ctx, id, f)
}

// ResizeDomain gives an active or stopped simulated server flavor f: the
// host's usage moves to f at once (ErrCapacity when f does not fit beside
// the other domains), the server shows task "resize_migrating" for the
// reboot delay and ends in the power state it had.
func (h *SimulatedHost) ResizeDomain(ctx context.Context, id string, f proxies.Flavor) (proxies.ServerStatus, error) {
	const op = "ResizeServer"
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.lookup(op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	old := d.spec.Flavor
	if old.ID == f.ID && old.VCPUs == f.VCPUs && old.RAMMB == f.RAMMB && old.DiskGB == f.DiskGB {
		return h.status(d), nil // already of this flavor (a retry)
	}
	if (d.state != proxies.StateActive && d.state != proxies.StateStopped) || d.task != "" {
		return proxies.ServerStatus{}, conflict(op, "resize", d)
	}
	delta := proxies.Flavor{VCPUs: f.VCPUs - old.VCPUs, RAMMB: f.RAMMB - old.RAMMB, DiskGB: f.DiskGB - old.DiskGB}
	if !h.fits(delta) {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrCapacity, op,
			"host %s has no room for flavor %s (%d vCPU, %d MB RAM, %d GB disk)", h.name, f.Name, f.VCPUs, f.RAMMB, f.DiskGB)
	}
	h.used.VCPUs += delta.VCPUs
	h.used.RAMMB += delta.RAMMB
	h.used.DiskGB += delta.DiskGB
	d.spec.Flavor = f
	d.task = "resize_migrating"
	wasStopped := d.state == proxies.StateStopped
	h.transition(d, h.reboot, func(d *domain) {
		d.task = ""
		if wasStopped {
			return
		}
		d.console = appendConsole(d.console, shutdownLog(d)...)
		d.state, d.power = proxies.StateActive, proxies.PowerRunning
		d.boots++
		d.console = appendConsole(d.console, bootLog(h.name, d)...)
	})
	return h.status(d), nil
}
