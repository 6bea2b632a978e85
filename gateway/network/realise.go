package network

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// Realiser is told about changes to network resources so that it can push
// them to the clouds where they are realised (the broker implements it;
// SetRealiser wires it in). The Check methods run before the registry
// write and may refuse the change; the others run after a successful write
// and cannot fail it: a push that fails is the Realiser's to retry.
type Realiser interface {
	// CheckPortSecurityGroups refuses groups the cloud of the port's
	// server cannot enforce.
	CheckPortSecurityGroups(ctx context.Context, projectID, portID string, groupIDs []string) error
	// CheckFloatingIPPort refuses an association with a port whose server's
	// cloud has no floating IPs.
	CheckFloatingIPPort(ctx context.Context, projectID, portID string) error

	SecurityGroupChanged(ctx context.Context, projectID, id string)
	SecurityGroupDeleted(ctx context.Context, projectID, id string)
	PortSecurityGroupsChanged(ctx context.Context, projectID, portID string)
	FloatingIPChanged(ctx context.Context, projectID, id string)
	FloatingIPDeleted(ctx context.Context, projectID, id string)
	RouterChanged(ctx context.Context, projectID, id string)
	RouterDeleted(ctx context.Context, projectID, id string)
}

var (
	_ Realiser            = (*broker.Broker)(nil)
	_ broker.NetworkSpecs = (*Service)(nil)
)

// SetRealiser wires the realiser in. Call it before the service serves;
// without it changes stay in the registry only.
func (s *Service) SetRealiser(r Realiser) { s.realiser = r }

// realiseRefusal turns a Check refusal into Neutron's fault.
func realiseRefusal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, proxies.ErrConflict), errors.Is(err, proxies.ErrNotSupported):
		return conflict("Conflict", "%s", proxies.SafeMessage(err))
	case errors.Is(err, proxies.ErrInvalid):
		return badRequest("%s", proxies.SafeMessage(err))
	}
	return err
}

func (s *Service) checkPortGroups(ctx context.Context, pt *registry.Port, groups []string) error {
	if s.realiser == nil || pt.DeviceID == "" {
		return nil
	}
	return realiseRefusal(s.realiser.CheckPortSecurityGroups(ctx, pt.ProjectID, pt.ID, groups))
}

func (s *Service) checkFloatingIPPort(ctx context.Context, pt *registry.Port) error {
	if s.realiser == nil || pt.DeviceID == "" {
		return nil
	}
	return realiseRefusal(s.realiser.CheckFloatingIPPort(ctx, pt.ProjectID, pt.ID))
}

// The after-write notifications; each is a no-op without a realiser.

func (s *Service) groupChanged(ctx context.Context, projectID, id string) {
	if s.realiser != nil {
		s.realiser.SecurityGroupChanged(ctx, projectID, id)
	}
}

func (s *Service) groupDeleted(ctx context.Context, projectID, id string) {
	if s.realiser != nil {
		s.realiser.SecurityGroupDeleted(ctx, projectID, id)
	}
}

func (s *Service) portGroupsChanged(ctx context.Context, projectID, portID string) {
	if s.realiser != nil {
		s.realiser.PortSecurityGroupsChanged(ctx, projectID, portID)
	}
}

func (s *Service) floatingIPChanged(ctx context.Context, projectID, id string) {
	if s.realiser != nil {
		s.realiser.FloatingIPChanged(ctx, projectID, id)
	}
}

func (s *Service) floatingIPDeleted(ctx context.Context, projectID, id string) {
	if s.realiser != nil {
		s.realiser.FloatingIPDeleted(ctx, projectID, id)
	}
}

func (s *Service) routerChanged(ctx context.Context, projectID, id string) {
	if s.realiser != nil {
		s.realiser.RouterChanged(ctx, projectID, id)
	}
}

func (s *Service) routerDeleted(ctx context.Context, projectID, id string) {
	if s.realiser != nil {
		s.realiser.RouterDeleted(ctx, projectID, id)
	}
}

// NetworkSpec implements broker.NetworkSpecs.
func (s *Service) NetworkSpec(ctx context.Context, networkID string) (proxies.NetworkSpec, error) {
	v, err := s.networks.Lookup(ctx, networkID)
	if err != nil {
		return proxies.NetworkSpec{}, err
	}
	n := v.Value
	spec := proxies.NetworkSpec{ID: n.ID, ProjectID: n.ProjectID, Name: n.Name, MTU: n.MTU, External: n.External}
	subs, err := s.subnets.GetMany(ctx, "*", n.Subnets)
	if err != nil {
		return proxies.NetworkSpec{}, err
	}
	for _, sn := range subs {
		ss := proxies.SubnetSpec{ID: sn.ID, CIDR: sn.CIDR, IPVersion: sn.IPVersion, EnableDHCP: sn.EnableDHCP,
			DNSNameservers: slices.Clone(sn.DNSNameservers)}
		if sn.GatewayIP != nil {
			ss.GatewayIP = *sn.GatewayIP
		}
		spec.Subnets = append(spec.Subnets, ss)
	}
	return spec, nil
}

// icmpProtocols take type and code in the port range fields.
var icmpProtocols = []string{"icmp", "icmpv6", "ipv6-icmp", "1", "58"}

// SecurityGroupSpec implements broker.NetworkSpecs. NetworkIDs are the
// networks of the ports that use the group.
func (s *Service) SecurityGroupSpec(ctx context.Context, groupID string) (proxies.SecurityGroupSpec, bool, error) {
	v, err := s.secGroups.Lookup(ctx, groupID)
	if err != nil {
		return proxies.SecurityGroupSpec{}, false, err
	}
	g := v.Value
	spec := proxies.SecurityGroupSpec{ID: g.ID, ProjectID: g.ProjectID, Name: g.Name, Description: g.Description,
		Rules: make([]proxies.SecurityGroupRule, 0, len(g.Rules))}
	for _, r := range g.Rules {
		unset := 0
		if slices.Contains(icmpProtocols, r.Protocol) {
			unset = -1
		}
		pr := proxies.SecurityGroupRule{ID: r.ID, Direction: r.Direction, EtherType: r.Ethertype, Protocol: r.Protocol,
			PortMin: unset, PortMax: unset, RemoteIPPrefix: r.RemoteIPPrefix, RemoteGroupID: r.RemoteGroupID}
		if r.PortRangeMin != nil {
			pr.PortMin = *r.PortRangeMin
		}
		if r.PortRangeMax != nil {
			pr.PortMax = *r.PortRangeMax
		}
		spec.Rules = append(spec.Rules, pr)
	}
	portIDs, err := s.reg.Client().SMembers(ctx, groupPortsKey(g.ProjectID, g.ID)).Result()
	if err != nil {
		return proxies.SecurityGroupSpec{}, false, err
	}
	ports, err := s.ports.GetMany(ctx, g.ProjectID, portIDs)
	if err != nil {
		return proxies.SecurityGroupSpec{}, false, err
	}
	for _, pt := range ports {
		if !slices.Contains(spec.NetworkIDs, pt.NetworkID) {
			spec.NetworkIDs = append(spec.NetworkIDs, pt.NetworkID)
		}
	}
	slices.Sort(spec.NetworkIDs)
	return spec, g.Default, nil
}

// RouterSpec implements broker.NetworkSpecs.
func (s *Service) RouterSpec(ctx context.Context, routerID string) (proxies.RouterSpec, error) {
	v, err := s.routers.Lookup(ctx, routerID)
	if err != nil {
		return proxies.RouterSpec{}, err
	}
	rt := v.Value
	spec := proxies.RouterSpec{ID: rt.ID, ProjectID: rt.ProjectID, Name: rt.Name}
	if rt.Gateway != nil {
		spec.ExternalNetworkID, spec.SNAT = rt.Gateway.NetworkID, rt.Gateway.EnableSNAT
		for _, ip := range rt.Gateway.FixedIPs {
			spec.ExternalIPs = append(spec.ExternalIPs, ip.IPAddress)
		}
	}
	for _, itf := range rt.Interfaces {
		pv, err := s.ports.Lookup(ctx, itf.PortID)
		if errors.Is(err, registry.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return proxies.RouterSpec{}, err
		}
		ri := proxies.RouterInterface{PortID: itf.PortID, NetworkID: pv.Value.NetworkID, SubnetID: itf.SubnetID}
		for _, ip := range pv.Value.FixedIPs {
			if ip.SubnetID == itf.SubnetID {
				ri.IPAddress = ip.IPAddress
				break
			}
		}
		spec.Interfaces = append(spec.Interfaces, ri)
	}
	for _, r := range rt.Routes {
		spec.Routes = append(spec.Routes, proxies.Route{Destination: r["destination"], NextHop: r["nexthop"]})
	}
	return spec, nil
}

// FloatingIPSpec implements broker.NetworkSpecs. ServerID is the device of
// the associated port when that is a server.
func (s *Service) FloatingIPSpec(ctx context.Context, fipID string) (proxies.FloatingIPSpec, error) {
	v, err := s.fips.Lookup(ctx, fipID)
	if err != nil {
		return proxies.FloatingIPSpec{}, err
	}
	f := v.Value
	spec := proxies.FloatingIPSpec{ID: f.ID, ProjectID: f.ProjectID, FloatingNetworkID: f.NetworkID, Address: f.Address,
		PortID: f.PortID, FixedIP: f.FixedIP}
	if f.PortID != "" {
		if pt, err := s.ports.Get(ctx, f.PortProject, f.PortID); err == nil && isServerPort(pt) {
			spec.ServerID = pt.DeviceID
		} else if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return proxies.FloatingIPSpec{}, err
		}
	}
	return spec, nil
}

// PortBinding implements broker.NetworkSpecs.
func (s *Service) PortBinding(ctx context.Context, projectID, portID string) (string, []string, error) {
	pt, err := s.ports.Get(ctx, projectID, portID)
	if err != nil {
		return "", nil, err
	}
	server := ""
	if isServerPort(pt) {
		server = pt.DeviceID
	}
	return server, slices.Clone(pt.SecurityGroups), nil
}

// PortFloatingIPs implements broker.NetworkSpecs: the claims of the
// floating IPs that point at the port.
func (s *Service) PortFloatingIPs(ctx context.Context, projectID, portID string) ([]string, error) {
	ids, err := s.reg.Client().HVals(ctx, fipClaimsKey(projectID, portID)).Result()
	slices.Sort(ids)
	return slices.Compact(ids), err
}

// DefaultSecurityGroupID implements broker.NetworkSpecs.
func (s *Service) DefaultSecurityGroupID(projectID string) string { return defaultGroupID(projectID) }

// isServerPort reports whether a port is bound to a server (Nova's
// device_owner "compute:<az>").
func isServerPort(pt *registry.Port) bool {
	return pt.DeviceID != "" && strings.HasPrefix(pt.DeviceOwner, "compute:")
}
