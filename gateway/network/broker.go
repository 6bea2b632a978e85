package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// Server port bookkeeping: a hash per server, port id → how the port came
// to the server ("created" ports are deleted with it, "bound" ones are only
// unbound, as Nova's preserve_on_delete). It is written before the port is
// created or bound, so it always covers every port the server holds.
const (
	portCreated = "created"
	portBound   = "bound"
)

func serverPortsKey(projectID, serverID string) string {
	return registry.Key(projectID, "srvports", serverID)
}

func (s *Service) deviceOwner() string { return "compute:" + s.opts.AvailabilityZone }

// member is the principal the broker acts as: the project's member, never
// an admin (Nova creates ports with the user's token).
func member(projectID string) *wire.Principal {
	return &wire.Principal{ProjectID: projectID, Roles: []string{"member"}}
}

// CreateServerPort implements broker.Ports.
func (s *Service) CreateServerPort(ctx context.Context, projectID, networkID, fixedIP, serverID string) (*registry.Port, *registry.Network, error) {
	p := member(projectID)
	n, err := s.network(ctx, p, networkID)
	if err != nil {
		return nil, nil, fmt.Errorf("network %s: %w", networkID, registry.ErrNotFound)
	}
	req := portRequest{projectID: projectID, adminUp: true, deviceID: serverID, deviceOwner: s.deviceOwner()}
	if fixedIP != "" {
		ip, perr := netip.ParseAddr(fixedIP)
		if perr != nil {
			return nil, nil, invalidAttr("fixed_ips", "'%s' is not a valid IP address", fixedIP)
		}
		req.fixedGiven = true
		req.fixed = []fixedIPRequest{{ip: ip}}
	}
	// Pre-mint the id so the server's index names the port before it exists.
	id := s.opts.NewID()
	if err := s.reg.Client().HSet(ctx, serverPortsKey(projectID, serverID), id, portCreated).Err(); err != nil {
		return nil, nil, err
	}
	pt, err := s.makePort(ctx, id, n.ProjectID == projectID, n, req)
	if err != nil {
		s.reg.Client().HDel(context.WithoutCancel(ctx), serverPortsKey(projectID, serverID), id)
		return nil, nil, err
	}
	return pt, n, nil
}

// BindPort implements broker.Ports.
func (s *Service) BindPort(ctx context.Context, projectID, portID, serverID string) (*registry.Port, *registry.Network, error) {
	cur, err := s.ports.Get(ctx, projectID, portID)
	if err != nil {
		return nil, nil, fmt.Errorf("port %s: %w", portID, err)
	}
	if cur.DeviceID != "" && cur.DeviceID != serverID {
		return nil, nil, wire.Conflict("Port %s is still in use.", portID)
	}
	n, err := s.network(ctx, member(projectID), cur.NetworkID)
	if err != nil {
		return nil, nil, fmt.Errorf("network %s: %w", cur.NetworkID, registry.ErrNotFound)
	}
	if err := s.reg.Client().HSetNX(ctx, serverPortsKey(projectID, serverID), portID, portBound).Err(); err != nil {
		return nil, nil, err
	}
	pt, err := s.ports.Update(ctx, projectID, portID, func(pt *registry.Port) error {
		if pt.DeviceID != "" && pt.DeviceID != serverID {
			return wire.Conflict("Port %s is still in use.", portID)
		}
		if pt.DeviceID == serverID {
			return nil
		}
		pt.DeviceID, pt.DeviceOwner, pt.Status = serverID, s.deviceOwner(), "ACTIVE"
		pt.Revision++
		pt.Updated = s.now()
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return pt, n, nil
}

// ReleaseServerPorts implements broker.Ports.
func (s *Service) ReleaseServerPorts(ctx context.Context, projectID, serverID string) error {
	key := serverPortsKey(projectID, serverID)
	held, err := s.reg.Client().HGetAll(ctx, key).Result()
	if err != nil {
		return err
	}
	for portID, how := range held {
		pt, err := s.ports.Get(ctx, projectID, portID)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if pt.DeviceID != serverID {
			continue // rebound elsewhere since
		}
		if how == portCreated {
			if err := s.removePort(ctx, pt); err != nil && !errors.Is(err, registry.ErrNotFound) {
				return err
			}
			continue
		}
		_, err = s.ports.Update(ctx, projectID, portID, func(pt *registry.Port) error {
			if pt.DeviceID != serverID {
				return nil
			}
			pt.DeviceID, pt.DeviceOwner, pt.Status, pt.BindingHost = "", "", "DOWN", ""
			pt.Revision++
			pt.Updated = s.now()
			return nil
		})
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
	}
	return s.reg.Client().Del(ctx, key).Err()
}

// ProjectNetworks implements broker.Ports: the project's own networks and
// shared ones, not external ones, oldest first.
func (s *Service) ProjectNetworks(ctx context.Context, projectID string) ([]*registry.Network, error) {
	all, err := s.networks.List(ctx, "*", registry.Page{})
	if err != nil {
		return nil, err
	}
	var out []*registry.Network
	for _, n := range all {
		if (n.ProjectID == projectID || n.Shared) && !n.External {
			out = append(out, n)
		}
	}
	return out, nil
}

// EnsureNetwork makes (or finds) the network name of projectID with one
// subnet of cidr, for bootstrap (`canopy dev`'s "private"). Ids are derived
// from (project, name) and (network, cidr), so it is idempotent: a second
// call returns the same records.
func (s *Service) EnsureNetwork(ctx context.Context, projectID, name, cidr string) (*registry.Network, *registry.Subnet, error) {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil || pfx != pfx.Masked() {
		return nil, nil, fmt.Errorf("network: EnsureNetwork: bad cidr %q", cidr)
	}
	now := s.now()
	n := &registry.Network{ID: nameUUID("network", projectID, name), ProjectID: projectID, Name: name, AdminStateUp: true,
		MTU: s.opts.MTU, Status: "ACTIVE", Subnets: []string{}, Tags: []string{}, Revision: 1, Created: now, Updated: now}
	if err := s.networks.Create(ctx, projectID, n.ID, now, n); errors.Is(err, registry.ErrExists) {
		if n, err = s.networks.Get(ctx, projectID, n.ID); err != nil {
			return nil, nil, err
		}
	} else if err != nil {
		return nil, nil, err
	}
	ver := 4
	if pfx.Addr().Is6() {
		ver = 6
	}
	subName, _ := json.Marshal(name + "-subnet")
	body := attrs{"ip_version": []byte(fmt.Sprint(ver)), "cidr": []byte(`"` + pfx.String() + `"`), "name": subName}
	sub, err := parseSubnet(body)
	if err != nil {
		return nil, nil, err
	}
	sub.ID, sub.ProjectID, sub.NetworkID = nameUUID("subnet", n.ID, pfx.String()), projectID, n.ID
	sub, err = s.addSubnet(ctx, n, sub)
	if err != nil {
		return nil, nil, err
	}
	n, err = s.networks.Get(ctx, projectID, n.ID)
	if err != nil {
		return nil, nil, err
	}
	return n, sub, nil
}

// EnsureExternalNetwork makes (or finds) the external network name with
// one subnet of cidr (devstack's "public", 172.24.4.0/24), owned by
// Options.AdminProjectID, not shared, router:external true: the network
// routers take their gateways from. Idempotent like EnsureNetwork.
func (s *Service) EnsureExternalNetwork(ctx context.Context, name, cidr string) (*registry.Network, *registry.Subnet, error) {
	n, sub, err := s.EnsureNetwork(ctx, s.opts.AdminProjectID, name, cidr)
	if err != nil {
		return nil, nil, err
	}
	if n.External {
		return n, sub, nil
	}
	n, err = s.networks.Update(ctx, n.ProjectID, n.ID, func(cur *registry.Network) error {
		if !cur.External {
			cur.External, cur.Shared = true, false
			cur.Revision++
			cur.Updated = s.now()
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return n, sub, nil
}
