package broker

import (
	"context"
	"errors"
	"slices"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// InterfacePorts is the optional part of the network service that Nova's
// os-interface needs beyond Ports: reading one port, and releasing one port
// of a server (deleted when it was created for the server, unbound when the
// user brought it). gateway/network implements it; a Ports without it makes
// interface attach and detach answer 501.
type InterfacePorts interface {
	ServerPort(ctx context.Context, projectID, portID string) (*registry.Port, error)
	// ReleaseServerPort detaches portID from serverID. Idempotent.
	ReleaseServerPort(ctx context.Context, projectID, serverID, portID string) error
}

// Interface is one of a server's ports as os-interface shows it.
type Interface struct {
	PortID    string
	NetworkID string
	MAC       string
	State     string
	FixedIPs  []registry.FixedIP
}

func (b *Broker) interfacePorts(op string) (InterfacePorts, error) {
	ip, ok := b.ports.(InterfacePorts)
	if !ok {
		return nil, proxies.Errorf(proxies.ErrNotSupported, op, "Network interface attach is not available in this cloud.")
	}
	return ip, nil
}

func asInterface(pt *registry.Port) Interface {
	return Interface{PortID: pt.ID, NetworkID: pt.NetworkID, MAC: pt.MACAddress, State: pt.Status, FixedIPs: pt.FixedIPs}
}

// ListInterfaces returns a server's ports (GET os-interface).
func (b *Broker) ListInterfaces(ctx context.Context, c Caller, id string) ([]Interface, error) {
	const op = "ListInterfaces"
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return nil, err
	}
	ip, err := b.interfacePorts(op)
	if err != nil {
		return nil, err
	}
	out := []Interface{}
	for _, p := range serverPorts(s) {
		pt, err := ip.ServerPort(ctx, s.ProjectID, p)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, asInterface(pt))
	}
	return out, nil
}

// GetInterface returns one port of a server.
func (b *Broker) GetInterface(ctx context.Context, c Caller, id, portID string) (Interface, error) {
	const op = "GetInterface"
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return Interface{}, err
	}
	ip, err := b.interfacePorts(op)
	if err != nil {
		return Interface{}, err
	}
	if !slices.Contains(serverPorts(s), portID) {
		return Interface{}, notFound(op, "Instance %s does not have a port with id %s", id, portID)
	}
	pt, err := ip.ServerPort(ctx, s.ProjectID, portID)
	if errors.Is(err, registry.ErrNotFound) {
		return Interface{}, notFound(op, "Instance %s does not have a port with id %s", id, portID)
	}
	if err != nil {
		return Interface{}, err
	}
	return asInterface(pt), nil
}

// AttachInterface plugs a new port on a network, or an existing port, into
// a server (POST os-interface): the port is made or bound first, then
// plugged at the backend, then recorded in the server's addresses; a
// failure at the backend gives the port back.
func (b *Broker) AttachInterface(ctx context.Context, c Caller, id string, req NetworkRequest) (Interface, error) {
	const op = "interface_attach"
	s, err := b.checkActionable(ctx, c, id, op)
	if err != nil {
		return Interface{}, err
	}
	if s.VMState != "active" && s.VMState != "stopped" {
		return Interface{}, stateConflict(op, op, id, s.VMState)
	}
	ip, err := b.interfacePorts(op)
	if err != nil {
		return Interface{}, err
	}
	be, err := b.backend(s.Routing.Cloud, op)
	if err != nil {
		return Interface{}, err
	}
	at, ok := proxies.NICAttacherOf(be)
	if !ok {
		return Interface{}, proxies.Errorf(proxies.ErrNotSupported, op, "The cloud %s hosting this server does not support '%s'.", be.Name(), op)
	}
	if req.PortID != "" && slices.Contains(serverPorts(s), req.PortID) {
		return b.GetInterface(ctx, c, id, req.PortID) // a retry
	}
	if req.PortID == "" && req.NetworkID == "" {
		nets, err := b.ports.ProjectNetworks(ctx, s.ProjectID)
		if err != nil {
			return Interface{}, err
		}
		switch len(nets) {
		case 0:
			return Interface{}, invalid(op, "No networks are available to attach the interface to.")
		case 1:
			req.NetworkID = nets[0].ID
		default:
			return Interface{}, conflict(op, "Multiple possible networks found, use a Network ID to be more specific.")
		}
	}
	addrs, nics, err := b.allocatePorts(ctx, s.ProjectID, id, []NetworkRequest{req})
	if err != nil {
		return Interface{}, err
	}
	nic := nics[0]
	release := func() {
		if err := ip.ReleaseServerPort(context.WithoutCancel(ctx), s.ProjectID, id, nic.PortID); err != nil {
			b.log.Error("release port after failed attach", "server", id, "port", nic.PortID, "err", err)
		}
	}
	if ns, ok := b.networkSpecs(); ok {
		if err := b.realiseNIC(ctx, be, ns, s.ProjectID, &nic); err != nil {
			release()
			return Interface{}, err
		}
	}
	if _, err := at.AttachNIC(ctx, id, nic); err != nil {
		release()
		return Interface{}, err
	}
	_, err = b.UpdateServer(ctx, c, id, func(cur *registry.Server) error {
		if cur.TaskState == "deleting" {
			return instanceNotFound(op, id)
		}
		cur.Addresses = append(slices.DeleteFunc(slices.Clone(cur.Addresses), func(a registry.ServerAddress) bool {
			return a.PortID == nic.PortID
		}), addrs...)
		return nil
	})
	if err != nil {
		_ = at.DetachNIC(context.WithoutCancel(ctx), id, nic.PortID)
		release()
		return Interface{}, err
	}
	ref := b.logAction(ctx, c, s, "attach_interface")
	b.finishAction(context.WithoutCancel(ctx), ref, false)
	pt, err := ip.ServerPort(ctx, s.ProjectID, nic.PortID)
	if err != nil {
		return Interface{}, err
	}
	return asInterface(pt), nil
}

// DetachInterface unplugs a port from a server (DELETE os-interface): the
// backend first, then the record, then the port is released.
func (b *Broker) DetachInterface(ctx context.Context, c Caller, id, portID string) error {
	const op = "interface_detach"
	s, err := b.checkActionable(ctx, c, id, op)
	if err != nil {
		return err
	}
	ip, err := b.interfacePorts(op)
	if err != nil {
		return err
	}
	if !slices.Contains(serverPorts(s), portID) {
		return notFound(op, "Port %s is not attached", portID)
	}
	be, err := b.backend(s.Routing.Cloud, op)
	if err != nil {
		return err
	}
	at, ok := proxies.NICAttacherOf(be)
	if !ok {
		return proxies.Errorf(proxies.ErrNotSupported, op, "The cloud %s hosting this server does not support '%s'.", be.Name(), op)
	}
	if err := at.DetachNIC(ctx, id, portID); err != nil && !errors.Is(err, proxies.ErrNotFound) {
		return err
	}
	if _, err := b.UpdateServer(ctx, c, id, func(cur *registry.Server) error {
		cur.Addresses = slices.DeleteFunc(slices.Clone(cur.Addresses), func(a registry.ServerAddress) bool { return a.PortID == portID })
		return nil
	}); err != nil {
		return err
	}
	if err := ip.ReleaseServerPort(ctx, s.ProjectID, id, portID); err != nil {
		return err
	}
	ref := b.logAction(ctx, c, s, "detach_interface")
	b.finishAction(context.WithoutCancel(ctx), ref, false)
	return nil
}
