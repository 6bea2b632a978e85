package armsim

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	netfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9/fake"
)

// Route tables (a subnet uses one through its routeTable property, set by
// a virtual network PUT) and application security groups (a NIC's ip
// configurations join them; NSG rules name them as source or destination).
// References to either are checked when a subnet, NIC or NSG is written,
// and neither can be deleted while something refers to it, as on Azure.

type (
	rtPut  = armnetwork.RouteTablesClientCreateOrUpdateResponse
	rtDel  = armnetwork.RouteTablesClientDeleteResponse
	asgPut = armnetwork.ApplicationSecurityGroupsClientCreateOrUpdateResponse
	asgDel = armnetwork.ApplicationSecurityGroupsClientDeleteResponse
)

// subnetsUsing lists the subnets whose routeTable is route table k.
func (st *state) subnetsUsing(k string) []*armnetwork.Subnet {
	var out []*armnetwork.Subnet
	for _, v := range sortedKeys(st.vnets) {
		for _, sn := range v.Properties.Subnets {
			if rt := sn.Properties.RouteTable; rt != nil && rt.ID != nil && key(*rt.ID) == k {
				out = append(out, &armnetwork.Subnet{ID: sn.ID})
			}
		}
	}
	return out
}

// asgUser names what refers to application security group k ("" for nothing).
func (st *state) asgUser(k string) string {
	for _, nic := range sortedKeys(st.nics) {
		for _, ipc := range nic.Properties.IPConfigurations {
			for _, g := range ipc.Properties.ApplicationSecurityGroups {
				if g.ID != nil && key(*g.ID) == k {
					return "network interface " + *nic.Name
				}
			}
		}
	}
	for _, nsg := range sortedKeys(st.nsgs) {
		for _, r := range nsg.Properties.SecurityRules {
			for _, g := range slices.Concat(r.Properties.SourceApplicationSecurityGroups, r.Properties.DestinationApplicationSecurityGroups) {
				if g.ID != nil && key(*g.ID) == k {
					return "security rule " + *r.Name + " of " + *nsg.Name
				}
			}
		}
	}
	return ""
}

// missingASG returns the first of refs that does not exist ("" when all do).
func (st *state) missingASG(refs []*armnetwork.ApplicationSecurityGroup) string {
	for _, g := range refs {
		if g == nil || g.ID == nil {
			return "(no id)"
		}
		if _, ok := st.asgs[key(*g.ID)]; !ok {
			return *g.ID
		}
	}
	return ""
}

var nextHopTypes = armnetwork.PossibleRouteNextHopTypeValues()

func (s *Sim) routeTableServer() netfake.RouteTablesServer {
	st := s.st
	return netfake.RouteTablesServer{
		BeginCreateOrUpdate: func(ctx context.Context, rg, name string, t armnetwork.RouteTable, _ *armnetwork.RouteTablesClientBeginCreateOrUpdateOptions) (azfake.PollerResponder[rtPut], azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if !st.rgExists(rg) {
				return fail[rtPut](ctx, http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
			}
			if t.Location == nil || s.opts.Locations[*t.Location] == nil {
				return fail[rtPut](ctx, http.StatusBadRequest, "LocationRequired", "location is missing or not served")
			}
			id := s.id(rg, network, "routeTables", name)
			k := key(id)
			next := clone(&t)
			setMeta(next, id, name, "Microsoft.Network/routeTables")
			if next.Properties == nil {
				next.Properties = &armnetwork.RouteTablePropertiesFormat{}
			}
			seen := map[string]bool{}
			for _, r := range next.Properties.Routes {
				p := r.Properties
				if r.Name == nil || p == nil || p.AddressPrefix == nil || p.NextHopType == nil {
					return fail[rtPut](ctx, http.StatusBadRequest, "InvalidRequestFormat", "a route needs a name, an addressPrefix and a nextHopType")
				}
				if seen[strings.ToLower(*r.Name)] {
					return fail[rtPut](ctx, http.StatusBadRequest, "InvalidRequestFormat", "two routes are named %s", *r.Name)
				}
				seen[strings.ToLower(*r.Name)] = true
				if _, err := netip.ParsePrefix(*p.AddressPrefix); err != nil {
					return fail[rtPut](ctx, http.StatusBadRequest, "InvalidRouteAddressPrefix", "route %s has an invalid address prefix %s", *r.Name, *p.AddressPrefix)
				}
				if !slices.Contains(nextHopTypes, *p.NextHopType) {
					return fail[rtPut](ctx, http.StatusBadRequest, "InvalidRequestFormat", "route %s has next hop type %s", *r.Name, *p.NextHopType)
				}
				appliance := *p.NextHopType == armnetwork.RouteNextHopTypeVirtualAppliance
				if hasIP := p.NextHopIPAddress != nil && *p.NextHopIPAddress != ""; appliance != hasIP {
					return fail[rtPut](ctx, http.StatusBadRequest, "InvalidNextHopIpAddress", "route %s: a next hop IP address is required for VirtualAppliance and allowed for no other type", *r.Name)
				}
				if appliance {
					if _, err := netip.ParseAddr(*p.NextHopIPAddress); err != nil {
						return fail[rtPut](ctx, http.StatusBadRequest, "InvalidNextHopIpAddress", "route %s has an invalid next hop %s", *r.Name, *p.NextHopIPAddress)
					}
				}
				r.ID = to.Ptr(id + "/routes/" + *r.Name)
				p.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateSucceeded)
			}
			next.Properties.Subnets = nil // read-only: derived from the subnets
			next.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateUpdating)
			st.rts[k] = next
			final := clone(next)
			final.Properties.Subnets = st.subnetsUsing(k)
			final.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateSucceeded)
			return lro(ctx, s, http.StatusCreated, as[rtPut](final), func() {
				if cur := st.rts[k]; cur != nil {
					cur.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateSucceeded)
				}
			})
		},
		BeginDelete: func(ctx context.Context, rg, name string, _ *armnetwork.RouteTablesClientBeginDeleteOptions) (azfake.PollerResponder[rtDel], azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			k := key(s.id(rg, network, "routeTables", name))
			t, ok := st.rts[k]
			if !ok {
				return gone[rtDel]()
			}
			if used := st.subnetsUsing(k); len(used) > 0 {
				return fail[rtDel](ctx, http.StatusBadRequest, "InUseRouteTableCannotBeDeleted", "Route table %s is in use by subnet %s and cannot be deleted.", name, *used[0].ID)
			}
			t.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateDeleting)
			return lro(ctx, s, http.StatusAccepted, rtDel{}, func() { delete(st.rts, k) })
		},
		Get: func(ctx context.Context, rg, name string, _ *armnetwork.RouteTablesClientGetOptions) (resp azfake.Responder[armnetwork.RouteTablesClientGetResponse], e azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			id := s.id(rg, network, "routeTables", name)
			t, ok := st.rts[key(id)]
			if !ok {
				return failSync[armnetwork.RouteTablesClientGetResponse](ctx, http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", id)
			}
			out := clone(t)
			out.Properties.Subnets = st.subnetsUsing(key(id))
			resp.SetResponse(http.StatusOK, armnetwork.RouteTablesClientGetResponse{RouteTable: *out}, nil)
			return resp, e
		},
	}
}

func (s *Sim) asgServer() netfake.ApplicationSecurityGroupsServer {
	st := s.st
	return netfake.ApplicationSecurityGroupsServer{
		BeginCreateOrUpdate: func(ctx context.Context, rg, name string, g armnetwork.ApplicationSecurityGroup, _ *armnetwork.ApplicationSecurityGroupsClientBeginCreateOrUpdateOptions) (azfake.PollerResponder[asgPut], azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if !st.rgExists(rg) {
				return fail[asgPut](ctx, http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
			}
			if g.Location == nil || s.opts.Locations[*g.Location] == nil {
				return fail[asgPut](ctx, http.StatusBadRequest, "LocationRequired", "location is missing or not served")
			}
			id := s.id(rg, network, "applicationSecurityGroups", name)
			k := key(id)
			next := clone(&g)
			setMeta(next, id, name, "Microsoft.Network/applicationSecurityGroups")
			next.Properties = &armnetwork.ApplicationSecurityGroupPropertiesFormat{ProvisioningState: to.Ptr(armnetwork.ProvisioningStateSucceeded)}
			st.asgs[k] = next
			return lro(ctx, s, http.StatusCreated, as[asgPut](next), func() {})
		},
		BeginDelete: func(ctx context.Context, rg, name string, _ *armnetwork.ApplicationSecurityGroupsClientBeginDeleteOptions) (azfake.PollerResponder[asgDel], azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			k := key(s.id(rg, network, "applicationSecurityGroups", name))
			if _, ok := st.asgs[k]; !ok {
				return gone[asgDel]()
			}
			if user := st.asgUser(k); user != "" {
				return fail[asgDel](ctx, http.StatusBadRequest, "ApplicationSecurityGroupInUse", "Application security group %s is in use by %s and cannot be deleted.", name, user)
			}
			return lro(ctx, s, http.StatusAccepted, asgDel{}, func() { delete(st.asgs, k) })
		},
		Get: func(ctx context.Context, rg, name string, _ *armnetwork.ApplicationSecurityGroupsClientGetOptions) (azfake.Responder[armnetwork.ApplicationSecurityGroupsClientGetResponse], azfake.ErrorResponder) {
			return get[armnetwork.ApplicationSecurityGroup, armnetwork.ApplicationSecurityGroupsClientGetResponse](ctx, s, st.asgs, s.id(rg, network, "applicationSecurityGroups", name))
		},
	}
}

// SubnetRouteTable is the name of the route table subnet name uses ("" for none).
func (s *Sim) SubnetRouteTable(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.st.vnets {
		for _, sn := range v.Properties.Subnets {
			if strings.EqualFold(*sn.Name, name) && sn.Properties.RouteTable != nil {
				id := *sn.Properties.RouteTable.ID
				return id[strings.LastIndex(id, "/")+1:]
			}
		}
	}
	return ""
}

// Routes lists route table name's routes as "prefix type [next hop]".
func (s *Sim) Routes(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, t := range s.st.rts {
		if !strings.EqualFold(*t.Name, name) {
			continue
		}
		for _, r := range t.Properties.Routes {
			line := *r.Properties.AddressPrefix + " " + string(*r.Properties.NextHopType)
			if r.Properties.NextHopIPAddress != nil {
				line += " " + *r.Properties.NextHopIPAddress
			}
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}

// SecurityRule returns a copy of rule of network security group nsg (nil if none).
func (s *Sim) SecurityRule(nsg, rule string) *armnetwork.SecurityRule {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.st.nsgs {
		if !strings.EqualFold(*g.Name, nsg) {
			continue
		}
		for _, r := range g.Properties.SecurityRules {
			if strings.EqualFold(*r.Name, rule) {
				return clone(r)
			}
		}
	}
	return nil
}

// NICApplicationSecurityGroups lists the names of the application security
// groups NIC name's ip configurations join.
func (s *Sim) NICApplicationSecurityGroups(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, nic := range s.st.nics {
		if !strings.EqualFold(*nic.Name, name) {
			continue
		}
		for _, ipc := range nic.Properties.IPConfigurations {
			for _, g := range ipc.Properties.ApplicationSecurityGroups {
				out = append(out, (*g.ID)[strings.LastIndex(*g.ID, "/")+1:])
			}
		}
	}
	slices.Sort(out)
	return out
}
