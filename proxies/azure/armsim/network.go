package armsim

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	netfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9/fake"
)

const network = "Microsoft.Network"

type (
	vnetPut = armnetwork.VirtualNetworksClientCreateOrUpdateResponse
	vnetDel = armnetwork.VirtualNetworksClientDeleteResponse
	nicPut  = armnetwork.InterfacesClientCreateOrUpdateResponse
	nicDel  = armnetwork.InterfacesClientDeleteResponse
	nsgPut  = armnetwork.SecurityGroupsClientCreateOrUpdateResponse
	nsgDel  = armnetwork.SecurityGroupsClientDeleteResponse
	pipPut  = armnetwork.PublicIPAddressesClientCreateOrUpdateResponse
	pipDel  = armnetwork.PublicIPAddressesClientDeleteResponse
)

// subnet finds a subnet by id.
func (st *state) subnet(id string) (*armnetwork.Subnet, bool) {
	vnetID, _, ok := strings.Cut(key(id), "/subnets/")
	if !ok {
		return nil, false
	}
	v, ok := st.vnets[vnetID]
	if !ok {
		return nil, false
	}
	for _, sn := range v.Properties.Subnets {
		if key(*sn.ID) == key(id) {
			return sn, true
		}
	}
	return nil, false
}

// nicsOnSubnetsOf lists the NICs that use a subnet of vnet k.
func (st *state) nicUses(prefix string) string {
	for _, nic := range st.nics {
		for _, ipc := range nic.Properties.IPConfigurations {
			if ipc.Properties.Subnet != nil && strings.HasPrefix(key(*ipc.Properties.Subnet.ID), prefix) {
				return *nic.Name
			}
		}
	}
	return ""
}

func (st *state) deleteNIC(k string) {
	nic, ok := st.nics[k]
	if !ok {
		return
	}
	for _, ipc := range nic.Properties.IPConfigurations {
		if ipc.Properties.PublicIPAddress != nil {
			if pip := st.pips[key(*ipc.Properties.PublicIPAddress.ID)]; pip != nil {
				pip.Properties.IPConfiguration = nil
			}
		}
	}
	delete(st.nics, k)
}

func (s *Sim) networkServers() *netfake.ServerFactory {
	st := s.st
	return &netfake.ServerFactory{
		VirtualNetworksServer: netfake.VirtualNetworksServer{
			BeginCreateOrUpdate: func(ctx context.Context, rg, name string, v armnetwork.VirtualNetwork, _ *armnetwork.VirtualNetworksClientBeginCreateOrUpdateOptions) (azfake.PollerResponder[vnetPut], azfake.ErrorResponder) {
				s.mu.Lock()
				defer s.mu.Unlock()
				if !st.rgExists(rg) {
					return fail[vnetPut](ctx, http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
				}
				if v.Location == nil || v.Properties == nil || v.Properties.AddressSpace == nil || len(v.Properties.AddressSpace.AddressPrefixes) == 0 {
					return fail[vnetPut](ctx, http.StatusBadRequest, "InvalidRequestFormat", "location and addressSpace are required")
				}
				var space []netip.Prefix
				for _, p := range v.Properties.AddressSpace.AddressPrefixes {
					pf, err := netip.ParsePrefix(*p)
					if err != nil {
						return fail[vnetPut](ctx, http.StatusBadRequest, "InvalidAddressPrefixFormat", "address prefix %s is not valid", *p)
					}
					space = append(space, pf)
				}
				id := s.id(rg, network, "virtualNetworks", name)
				k := key(id)
				next := clone(&v)
				setMeta(next, id, name, "Microsoft.Network/virtualNetworks")
				kept := map[string]bool{}
				for _, sn := range next.Properties.Subnets {
					if sn.Name == nil || sn.Properties == nil || sn.Properties.AddressPrefix == nil {
						return fail[vnetPut](ctx, http.StatusBadRequest, "InvalidRequestFormat", "a subnet needs a name and an addressPrefix")
					}
					pf, err := netip.ParsePrefix(*sn.Properties.AddressPrefix)
					inside := false
					for _, sp := range space {
						inside = inside || (err == nil && sp.Contains(pf.Addr()) && pf.Bits() >= sp.Bits())
					}
					if !inside {
						return fail[vnetPut](ctx, http.StatusBadRequest, "NetcfgSubnetRangeOutsideVnet", "subnet %s is not within the address space", *sn.Name)
					}
					if sn.Properties.NetworkSecurityGroup != nil {
						if _, ok := st.nsgs[key(*sn.Properties.NetworkSecurityGroup.ID)]; !ok {
							return fail[vnetPut](ctx, http.StatusBadRequest, "InvalidResourceReference", "network security group not found")
						}
					}
					if rt := sn.Properties.RouteTable; rt != nil {
						if rt.ID == nil {
							return fail[vnetPut](ctx, http.StatusBadRequest, "InvalidRequestFormat", "subnet %s: a route table reference needs an id", *sn.Name)
						}
						if _, ok := st.rts[key(*rt.ID)]; !ok {
							return fail[vnetPut](ctx, http.StatusBadRequest, "InvalidResourceReference", "route table %s not found", *rt.ID)
						}
						sn.Properties.RouteTable = &armnetwork.RouteTable{ID: rt.ID}
					}
					sn.ID = to.Ptr(id + "/subnets/" + *sn.Name)
					sn.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateSucceeded)
					kept[key(*sn.ID)] = true
				}
				if old, ok := st.vnets[k]; ok {
					for _, sn := range old.Properties.Subnets {
						if !kept[key(*sn.ID)] && st.nicUses(key(*sn.ID)) != "" {
							return fail[vnetPut](ctx, http.StatusBadRequest, "InUseSubnetCannotBeDeleted", "Subnet %s is in use and cannot be deleted.", *sn.Name)
						}
					}
				}
				next.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateUpdating)
				st.vnets[k] = next
				final := clone(next)
				final.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateSucceeded)
				return lro(ctx, s, http.StatusCreated, as[vnetPut](final), func() {
					if cur := st.vnets[k]; cur != nil {
						cur.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateSucceeded)
					}
				})
			},
			BeginDelete: func(ctx context.Context, rg, name string, _ *armnetwork.VirtualNetworksClientBeginDeleteOptions) (azfake.PollerResponder[vnetDel], azfake.ErrorResponder) {
				s.mu.Lock()
				defer s.mu.Unlock()
				k := key(s.id(rg, network, "virtualNetworks", name))
				v, ok := st.vnets[k]
				if !ok {
					return gone[vnetDel]()
				}
				if nic := st.nicUses(k + "/subnets/"); nic != "" {
					return fail[vnetDel](ctx, http.StatusBadRequest, "InUseSubnetCannotBeDeleted", "Subnet is in use by network interface %s and cannot be deleted.", nic)
				}
				v.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateDeleting)
				return lro(ctx, s, http.StatusAccepted, vnetDel{}, func() { delete(st.vnets, k) })
			},
			Get: func(ctx context.Context, rg, name string, _ *armnetwork.VirtualNetworksClientGetOptions) (azfake.Responder[armnetwork.VirtualNetworksClientGetResponse], azfake.ErrorResponder) {
				return get[armnetwork.VirtualNetwork, armnetwork.VirtualNetworksClientGetResponse](ctx, s, st.vnets, s.id(rg, network, "virtualNetworks", name))
			},
		},
		InterfacesServer: netfake.InterfacesServer{
			BeginCreateOrUpdate: func(ctx context.Context, rg, name string, n armnetwork.Interface, _ *armnetwork.InterfacesClientBeginCreateOrUpdateOptions) (azfake.PollerResponder[nicPut], azfake.ErrorResponder) {
				s.mu.Lock()
				defer s.mu.Unlock()
				if !st.rgExists(rg) {
					return fail[nicPut](ctx, http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
				}
				if n.Location == nil || n.Properties == nil || len(n.Properties.IPConfigurations) == 0 {
					return fail[nicPut](ctx, http.StatusBadRequest, "InvalidRequestFormat", "location and ipConfigurations are required")
				}
				id := s.id(rg, network, "networkInterfaces", name)
				k := key(id)
				old := st.nics[k]
				if g := n.Properties.NetworkSecurityGroup; g != nil {
					if _, ok := st.nsgs[key(*g.ID)]; !ok {
						return fail[nicPut](ctx, http.StatusBadRequest, "InvalidResourceReference", "network security group %s not found", *g.ID)
					}
				}
				next := clone(&n)
				setMeta(next, id, name, "Microsoft.Network/networkInterfaces")
				for i, ipc := range next.Properties.IPConfigurations {
					if ipc.Name == nil {
						ipc.Name = to.Ptr(fmt.Sprintf("ipconfig%d", i+1))
					}
					ipc.ID = to.Ptr(id + "/ipConfigurations/" + *ipc.Name)
					if ipc.Properties == nil || ipc.Properties.Subnet == nil || ipc.Properties.Subnet.ID == nil {
						return fail[nicPut](ctx, http.StatusBadRequest, "InvalidRequestFormat", "an ip configuration needs a subnet")
					}
					sn, ok := st.subnet(*ipc.Properties.Subnet.ID)
					if !ok {
						return fail[nicPut](ctx, http.StatusBadRequest, "InvalidResourceReference", "subnet %s not found", *ipc.Properties.Subnet.ID)
					}
					if miss := st.missingASG(ipc.Properties.ApplicationSecurityGroups); miss != "" {
						return fail[nicPut](ctx, http.StatusBadRequest, "InvalidResourceReference", "application security group %s not found", miss)
					}
					if ipc.Properties.PrivateIPAddress != nil {
						pf, _ := netip.ParsePrefix(*sn.Properties.AddressPrefix)
						a, err := netip.ParseAddr(*ipc.Properties.PrivateIPAddress)
						switch {
						case err != nil || !pf.Contains(a):
							return fail[nicPut](ctx, http.StatusBadRequest, "PrivateIPAddressNotInSubnet", "private IP address %s is not in subnet %s", *ipc.Properties.PrivateIPAddress, *sn.Name)
						case reservedIP(pf, a):
							return fail[nicPut](ctx, http.StatusBadRequest, "PrivateIPAddressInReservedRange", "private IP address %s is reserved by Azure in subnet %s", a, *sn.Name)
						}
					}
					if ipc.Properties.PrivateIPAddress == nil {
						if old != nil && i < len(old.Properties.IPConfigurations) && old.Properties.IPConfigurations[i].Properties.PrivateIPAddress != nil {
							ipc.Properties.PrivateIPAddress = old.Properties.IPConfigurations[i].Properties.PrivateIPAddress
						} else {
							pf, _ := netip.ParsePrefix(*sn.Properties.AddressPrefix)
							a := pf.Addr()
							for range 4 + len(st.nics) {
								a = a.Next()
							}
							ipc.Properties.PrivateIPAddress = to.Ptr(a.String())
						}
						ipc.Properties.PrivateIPAllocationMethod = to.Ptr(armnetwork.IPAllocationMethodDynamic)
					}
					if p := ipc.Properties.PublicIPAddress; p != nil {
						pip, ok := st.pips[key(*p.ID)]
						if !ok {
							return fail[nicPut](ctx, http.StatusBadRequest, "InvalidResourceReference", "public IP %s not found", *p.ID)
						}
						if c := pip.Properties.IPConfiguration; c != nil && !strings.HasPrefix(key(*c.ID), k+"/") {
							return fail[nicPut](ctx, http.StatusBadRequest, "PublicIPAddressInUse", "public IP %s is in use by %s", *pip.Name, *c.ID)
						}
					}
				}
				if old != nil {
					next.Properties.VirtualMachine = old.Properties.VirtualMachine
					next.Properties.MacAddress = old.Properties.MacAddress
					for _, ipc := range old.Properties.IPConfigurations {
						if p := ipc.Properties.PublicIPAddress; p != nil {
							if pip := st.pips[key(*p.ID)]; pip != nil {
								pip.Properties.IPConfiguration = nil
							}
						}
					}
				} else {
					next.Properties.MacAddress = to.Ptr(fmt.Sprintf("00-0D-3A-%02X-%02X-%02X", len(st.nics)>>16&0xff, len(st.nics)>>8&0xff, len(st.nics)&0xff))
				}
				for _, ipc := range next.Properties.IPConfigurations {
					if p := ipc.Properties.PublicIPAddress; p != nil {
						st.pips[key(*p.ID)].Properties.IPConfiguration = &armnetwork.IPConfiguration{ID: ipc.ID}
					}
				}
				next.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateUpdating)
				st.nics[k] = next
				final := clone(next)
				final.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateSucceeded)
				return lro(ctx, s, http.StatusCreated, as[nicPut](final), func() {
					if cur := st.nics[k]; cur != nil {
						cur.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateSucceeded)
					}
				})
			},
			BeginDelete: func(ctx context.Context, rg, name string, _ *armnetwork.InterfacesClientBeginDeleteOptions) (azfake.PollerResponder[nicDel], azfake.ErrorResponder) {
				s.mu.Lock()
				defer s.mu.Unlock()
				k := key(s.id(rg, network, "networkInterfaces", name))
				nic, ok := st.nics[k]
				if !ok {
					return gone[nicDel]()
				}
				if nic.Properties.VirtualMachine != nil {
					return fail[nicDel](ctx, http.StatusBadRequest, "NicInUse", "Network Interface %s is used by existing resource %s.", name, *nic.Properties.VirtualMachine.ID)
				}
				nic.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateDeleting)
				return lro(ctx, s, http.StatusAccepted, nicDel{}, func() { st.deleteNIC(k) })
			},
			Get: func(ctx context.Context, rg, name string, _ *armnetwork.InterfacesClientGetOptions) (azfake.Responder[armnetwork.InterfacesClientGetResponse], azfake.ErrorResponder) {
				return get[armnetwork.Interface, armnetwork.InterfacesClientGetResponse](ctx, s, st.nics, s.id(rg, network, "networkInterfaces", name))
			},
		},
		SecurityGroupsServer: netfake.SecurityGroupsServer{
			BeginCreateOrUpdate: func(ctx context.Context, rg, name string, g armnetwork.SecurityGroup, _ *armnetwork.SecurityGroupsClientBeginCreateOrUpdateOptions) (azfake.PollerResponder[nsgPut], azfake.ErrorResponder) {
				s.mu.Lock()
				defer s.mu.Unlock()
				if !st.rgExists(rg) {
					return fail[nsgPut](ctx, http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
				}
				if g.Location == nil {
					return fail[nsgPut](ctx, http.StatusBadRequest, "LocationRequired", "location is required")
				}
				id := s.id(rg, network, "networkSecurityGroups", name)
				k := key(id)
				next := clone(&g)
				setMeta(next, id, name, "Microsoft.Network/networkSecurityGroups")
				if next.Properties == nil {
					next.Properties = &armnetwork.SecurityGroupPropertiesFormat{}
				}
				seen := map[string]bool{}
				for _, r := range next.Properties.SecurityRules {
					p := r.Properties
					if r.Name == nil || p == nil || p.Priority == nil || p.Direction == nil || p.Access == nil || p.Protocol == nil {
						return fail[nsgPut](ctx, http.StatusBadRequest, "InvalidRequestFormat", "a security rule needs name, priority, direction, access and protocol")
					}
					if *p.Priority < 100 || *p.Priority > 4096 {
						return fail[nsgPut](ctx, http.StatusBadRequest, "SecurityRuleInvalidPriority", "priority %d of rule %s is outside 100-4096", *p.Priority, *r.Name)
					}
					pk := fmt.Sprintf("%s/%d", *p.Direction, *p.Priority)
					if seen[pk] {
						return fail[nsgPut](ctx, http.StatusBadRequest, "SecurityRuleConflict", "two %s rules have priority %d", *p.Direction, *p.Priority)
					}
					seen[pk] = true
					if miss := st.missingASG(append(p.SourceApplicationSecurityGroups, p.DestinationApplicationSecurityGroups...)); miss != "" {
						return fail[nsgPut](ctx, http.StatusBadRequest, "InvalidResourceReference", "rule %s: application security group %s not found", *r.Name, miss)
					}
					r.ID = to.Ptr(id + "/securityRules/" + *r.Name)
				}
				next.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateUpdating)
				st.nsgs[k] = next
				final := clone(next)
				final.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateSucceeded)
				return lro(ctx, s, http.StatusCreated, as[nsgPut](final), func() {
					if cur := st.nsgs[k]; cur != nil {
						cur.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateSucceeded)
					}
				})
			},
			BeginDelete: func(ctx context.Context, rg, name string, _ *armnetwork.SecurityGroupsClientBeginDeleteOptions) (azfake.PollerResponder[nsgDel], azfake.ErrorResponder) {
				s.mu.Lock()
				defer s.mu.Unlock()
				k := key(s.id(rg, network, "networkSecurityGroups", name))
				g, ok := st.nsgs[k]
				if !ok {
					return gone[nsgDel]()
				}
				for _, nic := range st.nics {
					if ng := nic.Properties.NetworkSecurityGroup; ng != nil && key(*ng.ID) == k {
						return fail[nsgDel](ctx, http.StatusBadRequest, "InUseNetworkSecurityGroupCannotBeDeleted", "Network security group %s cannot be deleted because it is in use by %s.", name, *nic.Name)
					}
				}
				g.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateDeleting)
				return lro(ctx, s, http.StatusAccepted, nsgDel{}, func() { delete(st.nsgs, k) })
			},
			Get: func(ctx context.Context, rg, name string, _ *armnetwork.SecurityGroupsClientGetOptions) (azfake.Responder[armnetwork.SecurityGroupsClientGetResponse], azfake.ErrorResponder) {
				return get[armnetwork.SecurityGroup, armnetwork.SecurityGroupsClientGetResponse](ctx, s, st.nsgs, s.id(rg, network, "networkSecurityGroups", name))
			},
		},
		RouteTablesServer:               s.routeTableServer(),
		ApplicationSecurityGroupsServer: s.asgServer(),
		PublicIPAddressesServer: netfake.PublicIPAddressesServer{
			BeginCreateOrUpdate: func(ctx context.Context, rg, name string, p armnetwork.PublicIPAddress, _ *armnetwork.PublicIPAddressesClientBeginCreateOrUpdateOptions) (azfake.PollerResponder[pipPut], azfake.ErrorResponder) {
				s.mu.Lock()
				defer s.mu.Unlock()
				if !st.rgExists(rg) {
					return fail[pipPut](ctx, http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
				}
				if p.Location == nil {
					return fail[pipPut](ctx, http.StatusBadRequest, "LocationRequired", "location is required")
				}
				if p.SKU != nil && p.SKU.Name != nil && *p.SKU.Name == armnetwork.PublicIPAddressSKUNameStandard &&
					(p.Properties == nil || p.Properties.PublicIPAllocationMethod == nil || *p.Properties.PublicIPAllocationMethod != armnetwork.IPAllocationMethodStatic) {
					return fail[pipPut](ctx, http.StatusBadRequest, "StandardSkuPublicIPAddressesMustBeStatic", "Standard sku public IP addresses must have the Static allocation method.")
				}
				id := s.id(rg, network, "publicIPAddresses", name)
				k := key(id)
				next := clone(&p)
				setMeta(next, id, name, "Microsoft.Network/publicIPAddresses")
				if next.Properties == nil {
					next.Properties = &armnetwork.PublicIPAddressPropertiesFormat{}
				}
				if old, ok := st.pips[k]; ok {
					next.Properties.IPAddress, next.Properties.IPConfiguration = old.Properties.IPAddress, old.Properties.IPConfiguration
				} else {
					st.nextIP++
					next.Properties.IPAddress = to.Ptr(fmt.Sprintf("20.50.%d.%d", st.nextIP/250, st.nextIP%250+1))
				}
				next.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateUpdating)
				st.pips[k] = next
				final := clone(next)
				final.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateSucceeded)
				return lro(ctx, s, http.StatusCreated, as[pipPut](final), func() {
					if cur := st.pips[k]; cur != nil {
						cur.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateSucceeded)
					}
				})
			},
			BeginDelete: func(ctx context.Context, rg, name string, _ *armnetwork.PublicIPAddressesClientBeginDeleteOptions) (azfake.PollerResponder[pipDel], azfake.ErrorResponder) {
				s.mu.Lock()
				defer s.mu.Unlock()
				k := key(s.id(rg, network, "publicIPAddresses", name))
				p, ok := st.pips[k]
				if !ok {
					return gone[pipDel]()
				}
				if p.Properties.IPConfiguration != nil {
					return fail[pipDel](ctx, http.StatusBadRequest, "PublicIPAddressCannotBeDeleted", "Public IP address %s can not be deleted since it is still allocated to resource %s.", name, *p.Properties.IPConfiguration.ID)
				}
				p.Properties.ProvisioningState = to.Ptr(armnetwork.ProvisioningStateDeleting)
				return lro(ctx, s, http.StatusAccepted, pipDel{}, func() { delete(st.pips, k) })
			},
			Get: func(ctx context.Context, rg, name string, _ *armnetwork.PublicIPAddressesClientGetOptions) (azfake.Responder[armnetwork.PublicIPAddressesClientGetResponse], azfake.ErrorResponder) {
				return get[armnetwork.PublicIPAddress, armnetwork.PublicIPAddressesClientGetResponse](ctx, s, st.pips, s.id(rg, network, "publicIPAddresses", name))
			},
		},
	}
}

// reservedIP reports whether Azure keeps a in IPv4 subnet pf: the first
// four addresses and the last.
func reservedIP(pf netip.Prefix, a netip.Addr) bool {
	pf = pf.Masked()
	if !a.Is4() || !pf.Addr().Is4() {
		return false
	}
	base := binary.BigEndian.Uint32(pf.Addr().AsSlice())
	last := base | (1<<(32-pf.Bits()) - 1)
	v := binary.BigEndian.Uint32(a.AsSlice())
	return v-base < 4 || v == last
}
