package network

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// interfaceBody reads add/remove_router_interface's body: exactly one of
// subnet_id and port_id.
func interfaceBody(r *http.Request) (subnetID, portID string, err error) {
	var body map[string]json.RawMessage
	if err := wire.DecodeJSON(r, &body, false); err != nil {
		return "", "", badRequest("%s", wire.FromError(err).Message)
	}
	a := attrs(body)
	sid, err := a.uuid("subnet_id")
	if err != nil {
		return "", "", err
	}
	pid, err := a.uuid("port_id")
	if err != nil {
		return "", "", err
	}
	switch {
	case sid == nil && pid == nil:
		return "", "", badRouter("Either subnet_id or port_id must be specified")
	case sid != nil && pid != nil:
		return "", "", badRouter("Cannot specify both subnet-id and port-id")
	case sid != nil:
		return *sid, "", nil
	}
	return "", *pid, nil
}

func interfaceInfo(rt *router, itf routerInterface, networkID string) map[string]any {
	return map[string]any{
		"id": rt.ID, "subnet_id": itf.SubnetID, "subnet_ids": []string{itf.SubnetID}, "port_id": itf.PortID,
		"network_id": networkID, "project_id": rt.ProjectID, "tenant_id": rt.ProjectID,
	}
}

func (s *Service) addRouterInterface(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	rt, err := s.router(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !p.CanWrite() {
		return policyDenied("add_router_interface")
	}
	subnetID, portID, err := interfaceBody(r)
	if err != nil {
		return err
	}
	var pt *registry.Port
	created := false
	if subnetID != "" {
		pt, err = s.interfacePortOnSubnet(ctx, p, rt, subnetID)
		created = true
	} else {
		pt, err = s.claimInterfacePort(ctx, p, rt, portID)
	}
	if err != nil {
		return err
	}
	itf := routerInterface{PortID: pt.ID, SubnetID: pt.FixedIPs[0].SubnetID}
	_, err = s.routers.Update(ctx, rt.ProjectID, rt.ID, func(cur *router) error {
		if cur.Deleting {
			return routerNotFound(rt.ID)
		}
		for _, o := range cur.Interfaces {
			if o.SubnetID == itf.SubnetID {
				return badRouter("Router already has a port on subnet %s", itf.SubnetID)
			}
		}
		cur.Interfaces = append(cur.Interfaces, itf)
		cur.Revision++
		cur.Updated = s.now()
		return nil
	})
	if err != nil {
		s.giveBackInterfacePort(ctx, pt, created)
		if errors.Is(err, registry.ErrNotFound) {
			return routerNotFound(rt.ID)
		}
		return err
	}
	s.routerChanged(ctx, rt.ProjectID, rt.ID)
	wire.WriteJSON(w, http.StatusOK, interfaceInfo(rt, itf, pt.NetworkID))
	return nil
}

// interfacePortOnSubnet makes the router's port holding the subnet's
// gateway address.
func (s *Service) interfacePortOnSubnet(ctx context.Context, p *wire.Principal, rt *router, subnetID string) (*registry.Port, error) {
	sub, n, err := s.subnet(ctx, p, subnetID)
	if err != nil {
		return nil, err
	}
	if sub.GatewayIP == nil {
		return nil, badRouter("Subnet for router interface must have a gateway IP")
	}
	gw := netip.MustParseAddr(*sub.GatewayIP)
	if slices.ContainsFunc(rt.Interfaces, func(i routerInterface) bool { return i.SubnetID == subnetID }) {
		return nil, badRouter("Router already has a port on subnet %s", subnetID)
	}
	req := portRequest{projectID: rt.ProjectID, adminUp: true, deviceID: rt.ID, deviceOwner: ownerRouterInterface,
		fixedGiven: true, fixed: []fixedIPRequest{{subnetID: subnetID, ip: gw}}}
	return s.makePort(ctx, s.opts.NewID(), true, n, req)
}

// claimInterfacePort binds an existing, unused port of the router's project
// to the router.
func (s *Service) claimInterfacePort(ctx context.Context, p *wire.Principal, rt *router, portID string) (*registry.Port, error) {
	cur, err := s.port(ctx, p, portID)
	if err != nil {
		return nil, err
	}
	if len(cur.FixedIPs) == 0 {
		return nil, badRouter("Router port must have at least one fixed IP")
	}
	return s.ports.Update(ctx, cur.ProjectID, portID, func(pt *registry.Port) error {
		if pt.DeviceID != "" {
			return conflict("PortInUse", "Unable to complete operation on port %s for network %s. Port already has an attached device %s.", pt.ID, pt.NetworkID, pt.DeviceID)
		}
		pt.DeviceID, pt.DeviceOwner, pt.Status = rt.ID, ownerRouterInterface, "ACTIVE"
		pt.Revision++
		pt.Updated = s.now()
		return nil
	})
}

// giveBackInterfacePort deletes a port made for an interface, or unbinds a
// port the user brought.
func (s *Service) giveBackInterfacePort(ctx context.Context, pt *registry.Port, created bool) {
	ctx = context.WithoutCancel(ctx)
	if created {
		_ = s.removePort(ctx, pt)
		return
	}
	_, _ = s.ports.Update(ctx, pt.ProjectID, pt.ID, func(cur *registry.Port) error {
		if cur.DeviceID == pt.DeviceID {
			cur.DeviceID, cur.DeviceOwner, cur.Status = "", "", "DOWN"
			cur.Revision++
			cur.Updated = s.now()
		}
		return nil
	})
}

func (s *Service) removeRouterInterface(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	rt, err := s.router(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !p.CanWrite() {
		return policyDenied("remove_router_interface")
	}
	subnetID, portID, err := interfaceBody(r)
	if err != nil {
		return err
	}
	for _, itf := range rt.Interfaces {
		if itf.SubnetID == subnetID || itf.PortID == portID {
			if err := s.checkInterfaceFreeOfFloatingIPs(ctx, rt, itf.SubnetID); err != nil {
				return err
			}
		}
	}
	var gone routerInterface
	updated, err := s.routers.Update(ctx, rt.ProjectID, rt.ID, func(cur *router) error {
		i := slices.IndexFunc(cur.Interfaces, func(x routerInterface) bool {
			return (subnetID != "" && x.SubnetID == subnetID) || (portID != "" && x.PortID == portID)
		})
		if i < 0 && subnetID != "" {
			return wire.NotFound("Router %s has no interface on subnet %s", rt.ID, subnetID).WithType("RouterInterfaceNotFoundForSubnet")
		}
		if i < 0 {
			return wire.NotFound("Router %s does not have an interface with id %s", rt.ID, portID).WithType("RouterInterfaceNotFound")
		}
		gone = cur.Interfaces[i]
		cur.Interfaces = slices.Delete(cur.Interfaces, i, i+1)
		cur.Revision++
		cur.Updated = s.now()
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return routerNotFound(rt.ID)
	}
	if err != nil {
		return err
	}
	networkID := ""
	if pt, err := s.ports.Get(ctx, rt.ProjectID, gone.PortID); err == nil {
		networkID = pt.NetworkID
		if err := s.removePort(ctx, pt); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
	}
	s.routerChanged(ctx, rt.ProjectID, rt.ID)
	wire.WriteJSON(w, http.StatusOK, interfaceInfo(updated, gone, networkID))
	return nil
}
