package localcloud

import (
	"context"
	"slices"

	"github.com/canopy-cloud/canopy/proxies"
)

// domainNICs is the optional HostDriver pair behind the pool's interface
// attach and detach (libvirt's attach-device/detach-device for KVM).
type domainNICs interface {
	AttachDomainNIC(ctx context.Context, id string, nic proxies.NIC) (proxies.ServerStatus, error)
	DetachDomainNIC(ctx context.Context, id, portID string) error
}

var (
	_ proxies.NICAttacher = (*Pool)(nil)
	_ domainNICs          = (*SimulatedHost)(nil)
)

func (p *Pool) nicHost(op, id string) (domainNICs, error) {
	h, err := p.host(op, id)
	if err != nil {
		return nil, err
	}
	n, ok := h.(domainNICs)
	if !ok {
		return nil, proxies.Errorf(proxies.ErrNotSupported, op, "host %s cannot plug interfaces", h.Name())
	}
	return n, nil
}

// AttachNIC plugs nic into server id on its host.
func (p *Pool) AttachNIC(ctx context.Context, id string, nic proxies.NIC) (proxies.ServerStatus, error) {
	if err := p.checkNICGroups("AttachNIC", []proxies.NIC{nic}); err != nil {
		return proxies.ServerStatus{}, err
	}
	h, err := p.nicHost("AttachNIC", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	groups := nicGroups([]proxies.NIC{nic})
	if sh, ok := h.(SecurityGroupHost); ok {
		if err := p.pushGroups(ctx, []SecurityGroupHost{sh}, groups); err != nil {
			return proxies.ServerStatus{}, err
		}
	}
	st, err := h.AttachDomainNIC(ctx, id, nic)
	if err == nil {
		p.membersChanged(ctx, groups)
	}
	return st, err
}

// DetachNIC unplugs port portID from server id.
func (p *Pool) DetachNIC(ctx context.Context, id, portID string) error {
	h, err := p.nicHost("DetachNIC", id)
	if err != nil {
		return err
	}
	var groups []string
	if len(p.filterHosts()) > 0 {
		if nics, err := p.serverNICs(ctx, "DetachNIC", id); err == nil {
			for _, n := range nics {
				if n.PortID == portID {
					groups = nicGroups([]proxies.NIC{n})
				}
			}
		}
	}
	if err := h.DetachDomainNIC(ctx, id, portID); err != nil {
		return err
	}
	p.membersChanged(ctx, groups)
	return nil
}

// AttachDomainNIC adds a NIC to an active or stopped simulated server.
func (h *SimulatedHost) AttachDomainNIC(ctx context.Context, id string, nic proxies.NIC) (proxies.ServerStatus, error) {
	const op = "AttachNIC"
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.lookup(op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if slices.ContainsFunc(d.spec.NICs, func(n proxies.NIC) bool { return n.PortID == nic.PortID }) {
		return h.status(d), nil
	}
	if (d.state != proxies.StateActive && d.state != proxies.StateStopped) || d.task != "" {
		return proxies.ServerStatus{}, conflict(op, "interface_attach", d)
	}
	d.spec.NICs = append(slices.Clip(d.spec.NICs), nic)
	return h.status(d), nil
}

// DetachDomainNIC removes a NIC from a simulated server.
func (h *SimulatedHost) DetachDomainNIC(ctx context.Context, id, portID string) error {
	const op = "DetachNIC"
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.lookup(op, id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(d.spec.NICs, func(n proxies.NIC) bool { return n.PortID == portID })
	if i < 0 {
		return nil
	}
	if d.task != "" {
		return conflict(op, "interface_detach", d)
	}
	d.spec.NICs = slices.Delete(slices.Clone(d.spec.NICs), i, i+1)
	return nil
}

// NICs reports the ports plugged into server id (for tests and the host
// agent's inventory).
func (h *SimulatedHost) NICs(id string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.doms[id]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(d.spec.NICs))
	for _, n := range d.spec.NICs {
		out = append(out, n.PortID)
	}
	return out
}
