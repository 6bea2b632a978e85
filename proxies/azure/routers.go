package azure

import (
	"context"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/canopy-cloud/canopy/proxies"
)

// A Canopy router is an Azure route table, canopy-rt-<top id>, associated
// with the subnets of its interfaces (a subnet's routeTable property, set
// by rewriting its virtual network). Azure routes between the subnets of a
// vnet itself and sends 0.0.0.0/0 to the Internet by a system route, so an
// interface needs no route, and the external gateway becomes an explicit
// 0.0.0.0/0 → Internet route (what Azure does anyway: without a gateway
// the system route still reaches the Internet; Azure has no way to take
// it away short of a None route, which would also drop floating-IP
// traffic). Each extra route is a route to a VirtualAppliance at its next
// hop. A subnet takes one route table: a subnet another router already
// holds is ErrConflict.

func rtName(id string) string     { return "canopy-rt-" + id }
func subnetName(id string) string { return "canopy-subnet-" + id }

var _ proxies.RouterDriver = (*Backend)(nil)

// routerRoutes translates a spec's gateway and routes.
func routerRoutes(op string, spec proxies.RouterSpec) ([]*armnetwork.Route, error) {
	var out []*armnetwork.Route
	defaultRoute := false
	routes := append([]proxies.Route(nil), spec.Routes...)
	sort.Slice(routes, func(i, j int) bool { return routes[i].Destination < routes[j].Destination })
	for i, r := range routes {
		dst, err := netip.ParsePrefix(r.Destination)
		if err != nil {
			return nil, proxies.Errorf(proxies.ErrInvalid, op, "route destination %q is not a CIDR", r.Destination)
		}
		hop, err := netip.ParseAddr(r.NextHop)
		if err != nil {
			return nil, proxies.Errorf(proxies.ErrInvalid, op, "route next hop %q is not an IP address", r.NextHop)
		}
		if dst.Addr().Is4() != hop.Is4() {
			return nil, proxies.Errorf(proxies.ErrInvalid, op, "route %s via %s mixes IPv4 and IPv6", r.Destination, r.NextHop)
		}
		if dst.Masked() == netip.MustParsePrefix("0.0.0.0/0") {
			defaultRoute = true
		}
		out = append(out, &armnetwork.Route{Name: to.Ptr("canopy-route-" + strconv.Itoa(i)), Properties: &armnetwork.RoutePropertiesFormat{
			AddressPrefix: to.Ptr(dst.Masked().String()), NextHopType: to.Ptr(armnetwork.RouteNextHopTypeVirtualAppliance),
			NextHopIPAddress: to.Ptr(hop.String())}})
	}
	if spec.ExternalNetworkID != "" && !defaultRoute {
		out = append(out, &armnetwork.Route{Name: to.Ptr("canopy-gateway"), Properties: &armnetwork.RoutePropertiesFormat{
			AddressPrefix: to.Ptr("0.0.0.0/0"), NextHopType: to.Ptr(armnetwork.RouteNextHopTypeInternet)}})
	}
	return out, nil
}

// subnetRef is one subnet of a Canopy network in Azure.
type subnetRef struct{ rg, vnet, subnet string }

func (r subnetRef) id(sub string) string {
	return "/subscriptions/" + sub + "/resourceGroups/" + r.rg + "/providers/Microsoft.Network/virtualNetworks/" + r.vnet + "/subnets/" + r.subnet
}

// parseSubnetID splits an Azure subnet id.
func parseSubnetID(id string) (subnetRef, bool) {
	parts := strings.Split(id, "/")
	var r subnetRef
	for i := 0; i+1 < len(parts); i++ {
		switch strings.ToLower(parts[i]) {
		case "resourcegroups":
			r.rg = parts[i+1]
		case "virtualnetworks":
			r.vnet = parts[i+1]
		case "subnets":
			r.subnet = parts[i+1]
		}
	}
	return r, r.rg != "" && r.vnet != "" && r.subnet != ""
}

// EnsureRouter makes the route table and its subnet associations match spec.
func (b *Backend) EnsureRouter(ctx context.Context, spec proxies.RouterSpec) (proxies.RouterStatus, error) {
	const op = "EnsureRouter"
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if spec.ID == "" {
		return proxies.RouterStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a router needs its top id")
	}
	routes, err := routerRoutes(op, spec)
	if err != nil {
		return proxies.RouterStatus{}, err
	}
	want := map[string]subnetRef{}
	for _, itf := range spec.Interfaces {
		if itf.NetworkID == "" || itf.SubnetID == "" {
			return proxies.RouterStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "router interface %s needs a network and a subnet", itf.PortID)
		}
		nrg := b.lookupRG(ctx, "net", itf.NetworkID)
		if nrg == "" {
			return proxies.RouterStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "network %s is not realised in this Azure cloud", itf.NetworkID)
		}
		r := subnetRef{rg: nrg, vnet: netName(itf.NetworkID), subnet: subnetName(itf.SubnetID)}
		want[strings.ToLower(r.id(b.cfg.SubscriptionID))] = r
	}
	rg, err := b.ensureRG(ctx, op, spec.ProjectID)
	if err != nil {
		return proxies.RouterStatus{}, err
	}
	b.remember(ctx, "router", spec.ID, rg)
	rt, err := run(ctx, b, spec.ID+"/rt", func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.RouteTablesClientCreateOrUpdateResponse], error) {
		return b.rts.BeginCreateOrUpdate(ctx, rg, rtName(spec.ID), armnetwork.RouteTable{Location: to.Ptr(b.cfg.Locations[0].Name),
			Tags: b.tags(spec.ID, spec.ProjectID), Properties: &armnetwork.RouteTablePropertiesFormat{Routes: routes}},
			&armnetwork.RouteTablesClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return proxies.RouterStatus{}, mapErr(op, "the route table could not be made", err)
	}
	// Subnets it holds now but should not, then those it should hold.
	cur, err := b.rts.Get(ctx, rg, rtName(spec.ID), nil)
	if err != nil {
		return proxies.RouterStatus{}, mapErr(op, "could not read the route table", err)
	}
	if cur.Properties != nil {
		for _, sn := range cur.Properties.Subnets {
			if sn.ID == nil {
				continue
			}
			if _, keep := want[strings.ToLower(*sn.ID)]; keep {
				continue
			}
			if r, ok := parseSubnetID(*sn.ID); ok {
				if err := b.setSubnetRouteTable(ctx, op, spec.ID, r, *rt.ID, false); err != nil {
					return proxies.RouterStatus{}, err
				}
			}
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := b.setSubnetRouteTable(ctx, op, spec.ID, want[k], *rt.ID, true); err != nil {
			return proxies.RouterStatus{}, err
		}
	}
	return proxies.RouterStatus{ID: spec.ID, BottomID: *rt.ID}, nil
}

// setSubnetRouteTable associates (on) or dissociates route table rtID and
// one subnet, by rewriting the subnet's virtual network.
func (b *Backend) setSubnetRouteTable(ctx context.Context, op, routerID string, r subnetRef, rtID string, on bool) error {
	v, err := b.vnets.Get(ctx, r.rg, r.vnet, nil)
	if isNotFound(err) {
		if !on {
			return nil
		}
		return proxies.Errorf(proxies.ErrInvalid, op, "the virtual network of subnet %s is gone", r.subnet)
	}
	if err != nil {
		return mapErr(op, "could not read the virtual network", err)
	}
	var target *armnetwork.Subnet
	for _, sn := range v.Properties.Subnets {
		if sn.Name != nil && strings.EqualFold(*sn.Name, r.subnet) {
			target = sn
		}
	}
	if target == nil {
		if !on {
			return nil
		}
		return proxies.Errorf(proxies.ErrInvalid, op, "subnet %s is not realised in this Azure cloud", strings.TrimPrefix(r.subnet, "canopy-subnet-"))
	}
	cur := target.Properties.RouteTable
	switch {
	case on && cur != nil && cur.ID != nil && strings.EqualFold(*cur.ID, rtID):
		return nil
	case on && cur != nil && cur.ID != nil:
		return proxies.Errorf(proxies.ErrConflict, op, "subnet %s is already on another router", strings.TrimPrefix(r.subnet, "canopy-subnet-"))
	case !on && (cur == nil || cur.ID == nil || !strings.EqualFold(*cur.ID, rtID)):
		return nil
	case on:
		target.Properties.RouteTable = &armnetwork.RouteTable{ID: &rtID}
	default:
		target.Properties.RouteTable = nil
	}
	_, err = run(ctx, b, routerID+"/rt-assoc-"+r.vnet+"-"+r.subnet, func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.VirtualNetworksClientCreateOrUpdateResponse], error) {
		return b.vnets.BeginCreateOrUpdate(ctx, r.rg, r.vnet, v.VirtualNetwork, &armnetwork.VirtualNetworksClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	return mapErr(op, "the subnet's route table could not be set", err)
}

// DeleteRouter dissociates the route table from its subnets and deletes it.
func (b *Backend) DeleteRouter(ctx context.Context, id string) error {
	const op = "DeleteRouter"
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg := b.lookupRG(ctx, "router", id)
	if rg == "" {
		return nil
	}
	rt, err := b.rts.Get(ctx, rg, rtName(id), nil)
	if isNotFound(err) {
		b.forget(ctx, "router", id)
		return nil
	}
	if err != nil {
		return mapErr(op, "could not read the route table", err)
	}
	if rt.Properties != nil {
		for _, sn := range rt.Properties.Subnets {
			if sn.ID == nil {
				continue
			}
			if r, ok := parseSubnetID(*sn.ID); ok {
				if err := b.setSubnetRouteTable(ctx, op, id, r, *rt.ID, false); err != nil {
					return err
				}
			}
		}
	}
	_, err = run(ctx, b, id+"/rt-delete", func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.RouteTablesClientDeleteResponse], error) {
		return b.rts.BeginDelete(ctx, rg, rtName(id), &armnetwork.RouteTablesClientBeginDeleteOptions{ResumeToken: tok})
	})
	if err != nil && !isNotFound(err) {
		return mapErr(op, "the route table could not be deleted", err)
	}
	b.forget(ctx, "router", id)
	return nil
}
