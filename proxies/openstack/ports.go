package openstack

import (
	"context"
	"strings"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/attachinterfaces"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
)

// A top port becomes a bottom Neutron port named canopy-<top port id> on
// the bottom network of the top one; the bottom allocates its addresses.
// Servers are created on these ports, so a NIC keeps its identity for
// os-interface detach and security group changes.

// findPort finds the bottom port made for top port id.
func (b *Backend) findPort(ctx context.Context, s *scope, id string) (ports.Port, bool, error) {
	pages, err := ports.List(s.network, ports.ListOpts{Name: bottomName(id)}).AllPages(ctx)
	if err != nil {
		return ports.Port{}, false, err
	}
	list, err := ports.ExtractPorts(pages)
	if err != nil || len(list) == 0 {
		return ports.Port{}, false, err
	}
	return list[0], true, nil
}

// ensurePort finds or creates the bottom port of a top NIC on bottom
// network netID.
func (b *Backend) ensurePort(ctx context.Context, s *scope, nic proxies.NIC, netID string) (ports.Port, error) {
	if p, ok, err := b.findPort(ctx, s, nic.PortID); err != nil || ok {
		return p, err
	}
	opts := ports.CreateOpts{NetworkID: netID, Name: bottomName(nic.PortID), Description: "Canopy port " + nic.PortID}
	if sgs, err := b.bottomGroups(ctx, s, nic.SecurityGroupIDs); err != nil {
		return ports.Port{}, err
	} else if len(sgs) > 0 {
		opts.SecurityGroups = &sgs
	}
	p, err := ports.Create(ctx, s.network, opts).Extract()
	if err != nil {
		return ports.Port{}, err
	}
	return *p, nil
}

// canopyPorts lists the bottom ports Canopy made that server bottomID uses.
func (b *Backend) canopyPorts(ctx context.Context, s *scope, bottomID string) ([]ports.Port, error) {
	pages, err := ports.List(s.network, ports.ListOpts{DeviceID: bottomID}).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	list, err := ports.ExtractPorts(pages)
	if err != nil {
		return nil, err
	}
	var out []ports.Port
	for _, p := range list {
		if strings.HasPrefix(p.Name, "canopy-") {
			out = append(out, p)
		}
	}
	return out, nil
}

// AttachNIC plugs the top NIC into the server through os-interface, on a
// bottom port made for it. Attaching a port the server has changes nothing.
func (b *Backend) AttachNIC(ctx context.Context, id string, nic proxies.NIC) (proxies.ServerStatus, error) {
	const op = "AttachNIC"
	ctx, cancel := b.call(ctx)
	defer cancel()
	ref, _, err := b.lookup(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	netID, err := b.bottomNetwork(ctx, ref.scope, nic.NetworkID)
	if err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	if netID == "" {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "network %s has no bottom counterpart; ensure or map it first", nic.NetworkID)
	}
	unlock := b.lockID(nic.PortID)
	defer unlock()
	p, err := b.ensurePort(ctx, ref.scope, nic, netID)
	if err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	if p.DeviceID != ref.bottomID {
		if _, err := attachinterfaces.Create(ctx, ref.scope.compute, ref.bottomID, attachinterfaces.CreateOpts{PortID: p.ID}).Extract(); err != nil {
			return proxies.ServerStatus{}, wrap(op, err)
		}
	}
	srv, err := b.getBottom(ctx, ref.scope, ref.bottomID)
	if err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	st := b.status(srv)
	st.ID = id
	return st, nil
}

// DetachNIC unplugs the top port and deletes its bottom port; nil when the
// server does not have it.
func (b *Backend) DetachNIC(ctx context.Context, id, portID string) error {
	const op = "DetachNIC"
	ctx, cancel := b.call(ctx)
	defer cancel()
	ref, _, err := b.lookup(ctx, op, id)
	if err != nil {
		return err
	}
	p, ok, err := b.findPort(ctx, ref.scope, portID)
	if err != nil {
		return wrap(op, err)
	}
	if !ok {
		return nil
	}
	if p.DeviceID == ref.bottomID {
		if err := attachinterfaces.Delete(ctx, ref.scope.compute, ref.bottomID, p.ID).ExtractErr(); err != nil && !isNotFound(err) {
			return wrap(op, err)
		}
	}
	if err := ports.Delete(ctx, ref.scope.network, p.ID).ExtractErr(); err != nil && !isNotFound(err) && !isConflict(err) {
		return wrap(op, err)
	}
	return nil
}

// deletePorts removes the bottom ports Canopy made for a deleted server
// (Nova unbinds ports it did not create but leaves them).
func (b *Backend) deletePorts(ctx context.Context, s *scope, list []ports.Port) {
	for _, p := range list {
		if err := ports.Delete(ctx, s.network, p.ID).ExtractErr(); err != nil && !isNotFound(err) {
			b.log.Warn("could not delete a bottom port", "port", p.ID, "err", wrap("DeleteServer", err))
		}
	}
}
