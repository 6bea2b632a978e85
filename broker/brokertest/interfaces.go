package brokertest

import (
	"context"
	"fmt"
	"slices"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

var (
	_ broker.InterfacePorts = (*Ports)(nil)
	_ proxies.NICAttacher   = (*Backend)(nil)
)

// ServerPort returns a port the fake made.
func (p *Ports) ServerPort(ctx context.Context, projectID, portID string) (*registry.Port, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pt, ok := p.records[portID]
	if !ok || pt.ProjectID != projectID {
		return nil, fmt.Errorf("port %s: %w", portID, registry.ErrNotFound)
	}
	cp := *pt
	cp.Status = "ACTIVE"
	return &cp, nil
}

// ReleaseServerPort drops one port of serverID.
func (p *Ports) ReleaseServerPort(ctx context.Context, projectID, serverID, portID string) error {
	p.add("release-port " + portID)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held[serverID] = slices.DeleteFunc(p.held[serverID], func(id string) bool { return id == portID })
	delete(p.records, portID)
	return nil
}

// AttachNIC records nic on a fake server; AttachErr fails it.
func (b *Backend) AttachNIC(ctx context.Context, id string, nic proxies.NIC) (proxies.ServerStatus, error) {
	b.add("attach " + id + " " + nic.PortID)
	if b.AttachErr != nil {
		return proxies.ServerStatus{}, b.AttachErr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.servers[id]
	if !ok {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrNotFound, "AttachNIC", "no server %s", id)
	}
	return *s, nil
}

// DetachNIC unplugs a port from a fake server.
func (b *Backend) DetachNIC(ctx context.Context, id, portID string) error {
	b.add("detach " + id + " " + portID)
	return nil
}
