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

var routerFilters = []string{"id", "name", "description", "admin_state_up", "status", "project_id", "tenant_id",
	"revision_number", "created_at", "updated_at"}

var routerCreateAttrs = []string{"name", "description", "admin_state_up", "external_gateway_info", "project_id", "tenant_id"}

var routerUpdateAttrs = []string{"name", "description", "admin_state_up", "external_gateway_info", "routes"}

const (
	ownerRouterInterface = "network:router_interface"
	ownerRouterGateway   = "network:router_gateway"
)

func renderRouter(rt *router) map[string]any {
	var gw any
	if rt.Gateway != nil {
		ips := make([]map[string]any, 0, len(rt.Gateway.FixedIPs))
		for _, f := range rt.Gateway.FixedIPs {
			ips = append(ips, map[string]any{"subnet_id": f.SubnetID, "ip_address": f.IPAddress})
		}
		gw = map[string]any{"network_id": rt.Gateway.NetworkID, "enable_snat": rt.Gateway.EnableSNAT, "external_fixed_ips": ips}
	}
	routes := rt.Routes
	if routes == nil {
		routes = []map[string]string{}
	}
	return map[string]any{
		"id": rt.ID, "name": rt.Name, "description": rt.Description, "admin_state_up": rt.AdminStateUp,
		"status": rt.Status, "external_gateway_info": gw, "routes": routes, "tags": []string{},
		"project_id": rt.ProjectID, "tenant_id": rt.ProjectID,
		"revision_number": rt.Revision, "created_at": stamp(rt.Created), "updated_at": stamp(rt.Updated),
	}
}

func routerNotFound(id string) *wire.Error {
	return wire.NotFound("Router %s could not be found", id).WithType("RouterNotFound")
}

func badRouter(format string, args ...any) *wire.Error {
	return wire.BadRequest("Bad router request: "+format+".", args...).WithType("BadRequest")
}

// router reads a router of the caller's project (any, for an admin).
func (s *Service) router(ctx context.Context, p *wire.Principal, id string) (*router, error) {
	v, err := s.routers.Lookup(ctx, id)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && (v.Value.Deleting || !p.IsAdmin() && v.Value.ProjectID != p.ProjectID)) {
		return nil, routerNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return v.Value, nil
}

func (s *Service) listRouters(w http.ResponseWriter, r *http.Request) error {
	lq, err := parseList(r, routerFilters)
	if err != nil {
		return err
	}
	p := wire.PrincipalFrom(r.Context())
	scope := listScope(p)
	all, err := s.routers.List(r.Context(), scope, registry.Page{})
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(all))
	for _, rt := range all {
		if !rt.Deleting {
			items = append(items, renderRouter(rt))
		}
	}
	return respond(w, r, lq, "routers", "Router", items)
}

func (s *Service) showRouter(w http.ResponseWriter, r *http.Request) error {
	rt, err := s.router(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"router": project(renderRouter(rt), showFields(r))})
	return nil
}

// gatewayRequest is a validated external_gateway_info (nil: none).
type gatewayRequest struct {
	networkID string
	snat      bool
}

func parseGateway(a attrs, p *wire.Principal) (*gatewayRequest, error) {
	if a.isNull("external_gateway_info") {
		return nil, nil
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(a["external_gateway_info"], &in); err != nil {
		return nil, invalidAttr("external_gateway_info", "'%s' is not a dictionary", string(a["external_gateway_info"]))
	}
	if len(in) == 0 {
		return nil, nil // Neutron's dict_or_nodata: an empty dict is no gateway
	}
	g := attrs(in)
	for k := range g {
		if k != "network_id" && k != "enable_snat" {
			return nil, invalidAttr("external_gateway_info", "Unrecognized attribute(s) '%s'", k)
		}
	}
	id, err := g.uuid("network_id")
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, invalidAttr("external_gateway_info", "Validation of dictionary's keys failed. Expected keys: {'network_id'} Provided keys: {}")
	}
	out := &gatewayRequest{networkID: *id, snat: true}
	if v, err := g.boolean("enable_snat"); err != nil {
		return nil, err
	} else if v != nil {
		if !*v && !p.IsAdmin() {
			return nil, policyDenied("create_router:external_gateway_info:enable_snat")
		}
		out.snat = *v
	}
	return out, nil
}

func (s *Service) createRouter(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	if !p.CanWrite() {
		return policyDenied("create_router")
	}
	a, err := readBody(r, "router", routerCreateAttrs)
	if err != nil {
		return err
	}
	projectID, err := a.project(p, "create_router")
	if err != nil {
		return err
	}
	now := s.now()
	rt := &router{ID: s.opts.NewID(), ProjectID: projectID, AdminStateUp: true, Status: "ACTIVE",
		Routes: []map[string]string{}, Revision: 1, Created: now, Updated: now}
	if err := applyRouterBasics(a, rt); err != nil {
		return err
	}
	var gw *gatewayRequest
	if a.has("external_gateway_info") {
		if gw, err = parseGateway(a, p); err != nil {
			return err
		}
	}
	release, err := s.reserveQuota(ctx, projectID, quotaRouter, rt.ID)
	if err != nil {
		return err
	}
	defer release()
	if gw != nil {
		if err := s.attachGateway(ctx, p, rt, gw); err != nil {
			return err
		}
	}
	if err := s.routers.Create(ctx, projectID, rt.ID, now, rt); err != nil {
		s.detachGateway(ctx, rt)
		return err
	}
	wire.WriteJSON(w, http.StatusCreated, map[string]any{"router": renderRouter(rt)})
	return nil
}

func applyRouterBasics(a attrs, rt *router) error {
	if v, err := a.str("name", 255); err != nil {
		return err
	} else if v != nil {
		rt.Name = *v
	}
	if v, err := a.str("description", 255); err != nil {
		return err
	} else if v != nil {
		rt.Description = *v
	}
	if v, err := a.boolean("admin_state_up"); err != nil {
		return err
	} else if v != nil {
		rt.AdminStateUp = *v
	}
	return nil
}

// attachGateway makes rt's gateway port on an external network (an address
// from its subnets' allocators) and records it in rt (not yet stored).
func (s *Service) attachGateway(ctx context.Context, p *wire.Principal, rt *router, gw *gatewayRequest) error {
	n, err := s.network(ctx, p, gw.networkID)
	if err != nil {
		return err
	}
	if !n.External {
		return badRouter("Network %s is not an external network", n.ID)
	}
	req := portRequest{adminUp: true, deviceID: rt.ID, deviceOwner: ownerRouterGateway}
	pt, err := s.makePort(ctx, s.opts.NewID(), true, n, req)
	if err != nil {
		return err
	}
	rt.GatewayPortID = pt.ID
	rt.Gateway = &routerGateway{NetworkID: n.ID, EnableSNAT: gw.snat, FixedIPs: pt.FixedIPs}
	return nil
}

// detachGateway removes rt's gateway port, if any.
func (s *Service) detachGateway(ctx context.Context, rt *router) {
	if rt.GatewayPortID == "" {
		return
	}
	if pt, err := s.ports.Get(context.WithoutCancel(ctx), "", rt.GatewayPortID); err == nil {
		_ = s.removePort(context.WithoutCancel(ctx), pt)
	}
}

func (s *Service) updateRouter(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	id := r.PathValue("id")
	cur, err := s.router(ctx, p, id)
	if err != nil {
		return err
	}
	if !p.CanWrite() {
		return policyDenied("update_router")
	}
	a, err := readBody(r, "router", routerUpdateAttrs)
	if err != nil {
		return err
	}
	var routes []map[string]string
	if a.has("routes") {
		if routes, err = parseRoutes(a); err != nil {
			return err
		}
		if err := s.checkNexthops(ctx, cur, routes); err != nil {
			return err
		}
	}
	// A new gateway is made before the record changes; the old one is
	// removed after, so a failure leaves the router as it was.
	next := &router{GatewayPortID: cur.GatewayPortID, Gateway: cur.Gateway}
	if a.has("external_gateway_info") {
		gw, err := parseGateway(a, p)
		if err != nil {
			return err
		}
		next = &router{ID: cur.ID}
		if gw == nil || cur.Gateway == nil || gw.networkID != cur.Gateway.NetworkID {
			if err := s.checkGatewayFreeOfFloatingIPs(ctx, cur); err != nil {
				return err
			}
		}
		if gw != nil && cur.Gateway != nil && gw.networkID == cur.Gateway.NetworkID {
			next.GatewayPortID, next.Gateway = cur.GatewayPortID, &routerGateway{NetworkID: gw.networkID, EnableSNAT: gw.snat, FixedIPs: cur.Gateway.FixedIPs}
		} else if gw != nil {
			if err := s.attachGateway(ctx, p, next, gw); err != nil {
				return err
			}
		}
	}
	oldGW := cur.GatewayPortID
	rt, err := s.routers.Update(ctx, cur.ProjectID, id, func(rt *router) error {
		if rt.Deleting {
			return routerNotFound(id)
		}
		if rt.GatewayPortID != oldGW {
			return registry.ErrConflict
		}
		if err := applyRouterBasics(a, rt); err != nil {
			return err
		}
		if routes != nil {
			rt.Routes = routes
		}
		rt.GatewayPortID, rt.Gateway = next.GatewayPortID, next.Gateway
		rt.Revision++
		rt.Updated = s.now()
		return nil
	})
	if err != nil {
		if next.GatewayPortID != oldGW {
			s.detachGateway(ctx, next)
		}
		if errors.Is(err, registry.ErrNotFound) {
			return routerNotFound(id)
		}
		return err
	}
	if oldGW != "" && oldGW != rt.GatewayPortID {
		s.detachGateway(ctx, &router{GatewayPortID: oldGW})
	}
	s.routerChanged(ctx, rt.ProjectID, rt.ID)
	wire.WriteJSON(w, http.StatusOK, map[string]any{"router": renderRouter(rt)})
	return nil
}

// parseRoutes reads a router's routes: destination CIDRs and nexthop
// addresses, without duplicates.
func parseRoutes(a attrs) ([]map[string]string, error) {
	if a.isNull("routes") {
		return []map[string]string{}, nil
	}
	var in []map[string]string
	if err := json.Unmarshal(a["routes"], &in); err != nil {
		return nil, invalidAttr("routes", "'%s' is not a list of destination/nexthop objects", string(a["routes"]))
	}
	out := []map[string]string{}
	for _, rt := range in {
		if len(rt) != 2 || rt["destination"] == "" || rt["nexthop"] == "" {
			return nil, invalidAttr("routes", "Validation of dictionary's keys failed. Expected keys: {'destination', 'nexthop'}")
		}
		d, err := netip.ParsePrefix(rt["destination"])
		if err != nil {
			return nil, invalidAttr("routes", "'%s' is not a valid IP subnet", rt["destination"])
		}
		if _, err := netip.ParseAddr(rt["nexthop"]); err != nil {
			return nil, invalidAttr("routes", "'%s' is not a valid IP address", rt["nexthop"])
		}
		route := map[string]string{"destination": d.Masked().String(), "nexthop": rt["nexthop"]}
		if slices.ContainsFunc(out, func(o map[string]string) bool {
			return o["destination"] == route["destination"] && o["nexthop"] == route["nexthop"]
		}) {
			return nil, invalidAttr("routes", "Duplicate route '%s'", mustString(route))
		}
		out = append(out, route)
	}
	return out, nil
}

func mustString(v any) string { b, _ := json.Marshal(v); return string(b) }

// checkNexthops is Neutron's InvalidRoutes check: every nexthop must be on
// a subnet the router is connected to, and not be one of its own addresses.
func (s *Service) checkNexthops(ctx context.Context, rt *router, routes []map[string]string) error {
	var ids []string
	for _, itf := range rt.Interfaces {
		ids = append(ids, itf.SubnetID)
	}
	var own []string
	if rt.Gateway != nil {
		for _, f := range rt.Gateway.FixedIPs {
			ids = append(ids, f.SubnetID)
			own = append(own, f.IPAddress)
		}
	}
	subs, err := s.subnets.GetMany(ctx, "*", ids)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if sub.GatewayIP != nil && slices.ContainsFunc(rt.Interfaces, func(i routerInterface) bool { return i.SubnetID == sub.ID }) {
			own = append(own, *sub.GatewayIP)
		}
	}
	for _, route := range routes {
		hop := netip.MustParseAddr(route["nexthop"])
		if slices.Contains(own, hop.String()) {
			return invalidRoutes(route, "the nexthop is used by router")
		}
		connected := slices.ContainsFunc(subs, func(sub *registry.Subnet) bool {
			pfx, err := netip.ParsePrefix(sub.CIDR)
			return err == nil && pfx.Contains(hop)
		})
		if !connected {
			return invalidRoutes(route, "the nexthop is not connected with router")
		}
	}
	return nil
}

func invalidRoutes(route map[string]string, reason string) *wire.Error {
	return wire.BadRequest("Invalid format for routes: [{'destination': '%s', 'nexthop': '%s'}], %s.",
		route["destination"], route["nexthop"], reason).WithType("InvalidRoutes")
}

func (s *Service) deleteRouter(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	id := r.PathValue("id")
	cur, err := s.router(ctx, p, id)
	if err != nil {
		return err
	}
	if !p.CanWrite() {
		return policyDenied("delete_router")
	}
	// Mark first (refused while interfaces remain), so an interface add
	// racing this delete sees the mark and gives its port back.
	rt, err := s.routers.Update(ctx, cur.ProjectID, id, func(rt *router) error {
		if len(rt.Interfaces) > 0 {
			return conflict("RouterInUse", "Router %s still has ports", id)
		}
		rt.Deleting = true
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return routerNotFound(id)
	}
	if err != nil {
		return err
	}
	s.detachGateway(ctx, rt)
	if err := s.routers.Delete(ctx, rt.ProjectID, id); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	s.routerDeleted(ctx, rt.ProjectID, id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
