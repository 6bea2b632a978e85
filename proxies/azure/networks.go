package azure

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/canopy-cloud/canopy/proxies"
)

func netName(id string) string { return "canopy-net-" + id }
func sgName(id string) string  { return "canopy-sg-" + id }
func fipName(id string) string { return "canopy-fip-" + id }
func asgName(id string) string { return "canopy-asg-" + id }

// defaultNetworkSpec is the network a server with no ports is put on.
func defaultNetworkSpec() proxies.NetworkSpec {
	return proxies.NetworkSpec{ID: "default", Subnets: []proxies.SubnetSpec{{ID: "default", CIDR: "10.254.0.0/24", IPVersion: 4}}}
}

type vnetStatus struct {
	id      string
	subnets []string
}

// ensureVNet makes vnet name converge to spec's IPv4 subnets.
func (b *Backend) ensureVNet(ctx context.Context, op, rg, loc, name string, spec proxies.NetworkSpec, tags map[string]*string) (vnetStatus, error) {
	var space []*string
	var subnets []*armnetwork.Subnet
	for _, s := range spec.Subnets {
		pf, err := netip.ParsePrefix(s.CIDR)
		if err != nil {
			return vnetStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "subnet %s has an invalid CIDR %q", s.ID, s.CIDR)
		}
		if !pf.Addr().Is4() {
			continue
		}
		space = append(space, to.Ptr(pf.Masked().String()))
		subnets = append(subnets, &armnetwork.Subnet{Name: to.Ptr("canopy-subnet-" + s.ID),
			Properties: &armnetwork.SubnetPropertiesFormat{AddressPrefix: to.Ptr(pf.Masked().String())}})
	}
	if len(space) == 0 {
		return vnetStatus{}, proxies.Errorf(proxies.ErrNotSupported, op, "network %s has no IPv4 subnet; an Azure virtual network needs one", spec.ID)
	}
	// A router's route table is a property of the subnets: keep it.
	if cur, err := b.vnets.Get(ctx, rg, name, nil); err == nil && cur.Properties != nil {
		for _, old := range cur.Properties.Subnets {
			for _, sn := range subnets {
				if old.Name != nil && old.Properties != nil && strings.EqualFold(*old.Name, *sn.Name) {
					sn.Properties.RouteTable = old.Properties.RouteTable
				}
			}
		}
	} else if err != nil && !isNotFound(err) {
		return vnetStatus{}, mapErr(op, "could not read the virtual network", err)
	}
	v := armnetwork.VirtualNetwork{Location: &loc, Tags: tags, Properties: &armnetwork.VirtualNetworkPropertiesFormat{
		AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: space}, Subnets: subnets}}
	res, err := run(ctx, b, spec.ID+"/vnet", func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.VirtualNetworksClientCreateOrUpdateResponse], error) {
		return b.vnets.BeginCreateOrUpdate(ctx, rg, name, v, &armnetwork.VirtualNetworksClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return vnetStatus{}, mapErr(op, "the virtual network could not be made", err)
	}
	st := vnetStatus{id: *res.ID}
	for _, s := range res.Properties.Subnets {
		st.subnets = append(st.subnets, *s.ID)
	}
	return st, nil
}

type networks Backend

func (d *networks) EnsureNetwork(ctx context.Context, spec proxies.NetworkSpec) (proxies.NetworkStatus, error) {
	const op = "EnsureNetwork"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if spec.ID == "" {
		return proxies.NetworkStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a network needs its top id")
	}
	for _, sn := range spec.Subnets {
		if _, err := netip.ParsePrefix(sn.CIDR); err != nil {
			return proxies.NetworkStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "subnet %s has an invalid CIDR %q", sn.ID, sn.CIDR)
		}
	}
	if spec.External {
		// Public addresses are Azure's: nothing to make.
		return proxies.NetworkStatus{ID: spec.ID, BottomID: "azure-public-internet", Ready: true}, nil
	}
	rg, err := b.ensureRG(ctx, op, spec.ProjectID)
	if err != nil {
		return proxies.NetworkStatus{}, err
	}
	b.remember(ctx, "net", spec.ID, rg)
	st, err := b.ensureVNet(ctx, op, rg, b.cfg.Locations[0].Name, netName(spec.ID), spec, b.tags(spec.ID, spec.ProjectID))
	if err != nil {
		return proxies.NetworkStatus{}, err
	}
	return proxies.NetworkStatus{ID: spec.ID, BottomID: st.id, Ready: true}, nil
}

func (d *networks) DeleteNetwork(ctx context.Context, id string) error {
	const op = "DeleteNetwork"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg := b.lookupRG(ctx, "net", id)
	if rg == "" {
		return nil
	}
	_, err := run(ctx, b, id+"/vnet-delete", func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.VirtualNetworksClientDeleteResponse], error) {
		return b.vnets.BeginDelete(ctx, rg, netName(id), &armnetwork.VirtualNetworksClientBeginDeleteOptions{ResumeToken: tok})
	})
	if err != nil && !isNotFound(err) {
		return mapErr(op, "the virtual network could not be deleted", err)
	}
	b.forget(ctx, "net", id)
	return nil
}

// nsgID is the Azure id of a Canopy security group's NSG.
func (b *Backend) nsgID(ctx context.Context, op, id string) (string, error) {
	rg := b.lookupRG(ctx, "sg", id)
	if rg == "" {
		return "", proxies.Errorf(proxies.ErrInvalid, op, "security group %s is not realised in this Azure cloud", id)
	}
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/networkSecurityGroups/%s", b.cfg.SubscriptionID, rg, sgName(id)), nil
}

// nsgRules translates Canopy rules to NSG rules: priorities from 100 in
// rule-id order per direction, then a deny-all at 4096 in each direction.
// A rule with a remote group names that group's application security
// group (asgOf gives its id) as its source (ingress) or destination
// (egress), so it admits exactly the NICs of the group's members.
func nsgRules(op string, rules []proxies.SecurityGroupRule, asgOf func(groupID string) (string, error)) ([]*armnetwork.SecurityRule, error) {
	sorted := append([]proxies.SecurityGroupRule(nil), rules...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	next := map[string]int32{"ingress": 100, "egress": 100}
	var out []*armnetwork.SecurityRule
	for _, r := range sorted {
		dir := armnetwork.SecurityRuleDirectionInbound
		if r.Direction == "egress" {
			dir = armnetwork.SecurityRuleDirectionOutbound
		} else if r.Direction != "ingress" {
			return nil, proxies.Errorf(proxies.ErrInvalid, op, "rule %s has direction %q", r.ID, r.Direction)
		}
		proto, err := ruleProtocol(op, r)
		if err != nil {
			return nil, err
		}
		ports := "*"
		if proto == armnetwork.SecurityRuleProtocolTCP || proto == armnetwork.SecurityRuleProtocolUDP {
			if r.PortMin > 0 {
				ports = strconv.Itoa(r.PortMin)
				if r.PortMax > r.PortMin {
					ports += "-" + strconv.Itoa(r.PortMax)
				}
			}
		}
		if r.RemoteIPPrefix != "" {
			if _, err := netip.ParsePrefix(r.RemoteIPPrefix); err != nil {
				return nil, proxies.Errorf(proxies.ErrInvalid, op, "rule %s has an invalid remote prefix %q", r.ID, r.RemoteIPPrefix)
			}
		}
		if r.EtherType != "" && r.EtherType != "IPv4" && r.EtherType != "IPv6" {
			return nil, proxies.Errorf(proxies.ErrInvalid, op, "rule %s has ethertype %q", r.ID, r.EtherType)
		}
		remote := "0.0.0.0/0"
		if r.EtherType == "IPv6" {
			remote = "::/0"
		}
		if r.RemoteIPPrefix != "" && r.RemoteGroupID != "" {
			return nil, proxies.Errorf(proxies.ErrInvalid, op, "rule %s has both a remote prefix and a remote group", r.ID)
		}
		if r.RemoteIPPrefix != "" {
			remote = r.RemoteIPPrefix
		}
		local := "*"
		p := &armnetwork.SecurityRulePropertiesFormat{Access: to.Ptr(armnetwork.SecurityRuleAccessAllow), Direction: to.Ptr(dir),
			Protocol: to.Ptr(proto), Priority: to.Ptr(next[r.Direction]), SourcePortRange: to.Ptr("*"), DestinationPortRange: to.Ptr(ports),
			Description: to.Ptr("canopy rule " + r.ID)}
		var asg []*armnetwork.ApplicationSecurityGroup
		if r.RemoteGroupID != "" {
			if asgOf == nil {
				return nil, proxies.Errorf(proxies.ErrInvalid, op, "rule %s has a remote group", r.ID)
			}
			id, err := asgOf(r.RemoteGroupID)
			if err != nil {
				return nil, err
			}
			asg = []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(id)}}
		}
		switch {
		case asg != nil && dir == armnetwork.SecurityRuleDirectionInbound:
			p.SourceApplicationSecurityGroups, p.DestinationAddressPrefix = asg, to.Ptr(local)
		case asg != nil:
			p.SourceAddressPrefix, p.DestinationApplicationSecurityGroups = to.Ptr(local), asg
		case dir == armnetwork.SecurityRuleDirectionInbound:
			p.SourceAddressPrefix, p.DestinationAddressPrefix = to.Ptr(remote), to.Ptr(local)
		default:
			p.SourceAddressPrefix, p.DestinationAddressPrefix = to.Ptr(local), to.Ptr(remote)
		}
		if next[r.Direction] >= 4096 {
			return nil, proxies.Errorf(proxies.ErrQuota, op, "an Azure NSG holds at most 3996 rules per direction")
		}
		out = append(out, &armnetwork.SecurityRule{Name: to.Ptr("canopy-" + r.ID), Properties: p})
		next[r.Direction]++
	}
	for _, dir := range []armnetwork.SecurityRuleDirection{armnetwork.SecurityRuleDirectionInbound, armnetwork.SecurityRuleDirectionOutbound} {
		out = append(out, &armnetwork.SecurityRule{Name: to.Ptr("canopy-deny-all-" + strings.ToLower(string(dir))), Properties: &armnetwork.SecurityRulePropertiesFormat{
			Access: to.Ptr(armnetwork.SecurityRuleAccessDeny), Direction: to.Ptr(dir), Protocol: to.Ptr(armnetwork.SecurityRuleProtocolAsterisk),
			Priority: to.Ptr(int32(4096)), SourceAddressPrefix: to.Ptr("*"), DestinationAddressPrefix: to.Ptr("*"),
			SourcePortRange: to.Ptr("*"), DestinationPortRange: to.Ptr("*"), Description: to.Ptr("Neutron's default deny")}})
	}
	return out, nil
}

func ruleProtocol(op string, r proxies.SecurityGroupRule) (armnetwork.SecurityRuleProtocol, error) {
	switch strings.ToLower(r.Protocol) {
	case "", "any":
		return armnetwork.SecurityRuleProtocolAsterisk, nil
	case "tcp", "6":
		return armnetwork.SecurityRuleProtocolTCP, nil
	case "udp", "17":
		return armnetwork.SecurityRuleProtocolUDP, nil
	case "icmp", "1", "icmpv6", "ipv6-icmp", "58":
		if r.PortMin > 0 || r.PortMax > 0 {
			return "", proxies.Errorf(proxies.ErrNotSupported, op, "Azure NSGs cannot filter ICMP by type or code (rule %s)", r.ID)
		}
		return armnetwork.SecurityRuleProtocolIcmp, nil
	case "esp", "50":
		return armnetwork.SecurityRuleProtocolEsp, nil
	case "ah", "51":
		return armnetwork.SecurityRuleProtocolAh, nil
	}
	return "", proxies.Errorf(proxies.ErrNotSupported, op, "Azure NSGs cannot filter protocol %q (rule %s)", r.Protocol, r.ID)
}

// EnsureSecurityGroup makes the NSG carry exactly the group's rules.
func (b *Backend) EnsureSecurityGroup(ctx context.Context, spec proxies.SecurityGroupSpec) (proxies.SecurityGroupStatus, error) {
	const op = "EnsureSecurityGroup"
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if spec.ID == "" {
		return proxies.SecurityGroupStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a security group needs its top id")
	}
	if _, err := nsgRules(op, spec.Rules, func(string) (string, error) { return "", nil }); err != nil {
		return proxies.SecurityGroupStatus{}, err
	}
	rg, err := b.ensureRG(ctx, op, spec.ProjectID)
	if err != nil {
		return proxies.SecurityGroupStatus{}, err
	}
	b.remember(ctx, "sg", spec.ID, rg)
	if _, err := b.ensureASG(ctx, op, spec.ID, rg); err != nil {
		return proxies.SecurityGroupStatus{}, err
	}
	rules, err := nsgRules(op, spec.Rules, func(remote string) (string, error) { return b.ensureASG(ctx, op, remote, rg) })
	if err != nil {
		return proxies.SecurityGroupStatus{}, err
	}
	g := armnetwork.SecurityGroup{Location: to.Ptr(b.cfg.Locations[0].Name), Tags: b.tags(spec.ID, spec.ProjectID),
		Properties: &armnetwork.SecurityGroupPropertiesFormat{SecurityRules: rules}}
	res, err := run(ctx, b, spec.ID+"/nsg", func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.SecurityGroupsClientCreateOrUpdateResponse], error) {
		return b.nsgs.BeginCreateOrUpdate(ctx, rg, sgName(spec.ID), g, &armnetwork.SecurityGroupsClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return proxies.SecurityGroupStatus{}, mapErr(op, "the network security group could not be made", err)
	}
	if err := b.refreshSets(ctx, op, spec.ID); err != nil {
		return proxies.SecurityGroupStatus{}, err
	}
	return proxies.SecurityGroupStatus{ID: spec.ID, BottomID: *res.ID}, nil
}

// DeleteSecurityGroup removes the NSG (ErrConflict while a NIC uses it).
func (b *Backend) DeleteSecurityGroup(ctx context.Context, id string) error {
	const op = "DeleteSecurityGroup"
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg := b.lookupRG(ctx, "sg", id)
	if rg == "" {
		return nil
	}
	if err := b.dropSets(ctx, op, id); err != nil {
		return err
	}
	_, err := run(ctx, b, id+"/nsg-delete", func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.SecurityGroupsClientDeleteResponse], error) {
		return b.nsgs.BeginDelete(ctx, rg, sgName(id), &armnetwork.SecurityGroupsClientBeginDeleteOptions{ResumeToken: tok})
	})
	if err != nil && !isNotFound(err) {
		return mapErr(op, "the network security group could not be deleted", err)
	}
	if arg := b.lookupRG(ctx, "asg", id); arg != "" {
		_, err = run(ctx, b, id+"/asg-delete", func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.ApplicationSecurityGroupsClientDeleteResponse], error) {
			return b.asgs.BeginDelete(ctx, arg, asgName(id), &armnetwork.ApplicationSecurityGroupsClientBeginDeleteOptions{ResumeToken: tok})
		})
		if err != nil && !isNotFound(err) {
			return mapErr(op, "the group's application security group could not be deleted (a rule of another group may still name it)", err)
		}
		b.forget(ctx, "asg", id)
	}
	b.forget(ctx, "sg", id)
	return nil
}

// SetNICSecurityGroups puts the port's NIC under the group's NSG.
func (b *Backend) SetNICSecurityGroups(ctx context.Context, serverID, portID string, groupIDs []string) error {
	const op = "SetNICSecurityGroups"
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg := b.lookupRG(ctx, "vm", serverID)
	if rg == "" {
		return proxies.Errorf(proxies.ErrNotFound, op, "server %s is not in this Azure cloud", serverID)
	}
	nic, err := b.nics.Get(ctx, rg, nicName(portID), nil)
	if err != nil {
		return mapErr(op, "could not read the network interface", err)
	}
	want, err := b.nsgFor(ctx, op, rg, groupIDs)
	if err != nil {
		return err
	}
	asgs, err := b.asgRefs(ctx, op, groupIDs)
	if err != nil {
		return err
	}
	cur := nic.Properties.NetworkSecurityGroup
	if ((cur == nil && want == nil) || (cur != nil && want != nil && strings.EqualFold(*cur.ID, *want.ID))) &&
		sameASGs(nic.Properties.IPConfigurations, asgs) {
		return nil
	}
	nic.Properties.NetworkSecurityGroup = want
	for _, ipc := range nic.Properties.IPConfigurations {
		ipc.Properties.ApplicationSecurityGroups = asgs
	}
	_, err = run(ctx, b, serverID+"/nic-sg-"+portID, func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.InterfacesClientCreateOrUpdateResponse], error) {
		return b.nics.BeginCreateOrUpdate(ctx, rg, nicName(portID), nic.Interface, &armnetwork.InterfacesClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	return mapErr(op, "the network interface could not be updated", err)
}

// EnsureFloatingIP makes a Standard static public IP and associates it
// with the port's NIC (or with none).
func (b *Backend) EnsureFloatingIP(ctx context.Context, spec proxies.FloatingIPSpec) (proxies.FloatingIPStatus, error) {
	const op = "EnsureFloatingIP"
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if spec.ID == "" {
		return proxies.FloatingIPStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a floating IP needs its top id")
	}
	rg, err := b.ensureRG(ctx, op, spec.ProjectID)
	if err != nil {
		return proxies.FloatingIPStatus{}, err
	}
	b.remember(ctx, "fip", spec.ID, rg)
	pip, err := run(ctx, b, spec.ID+"/pip", func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.PublicIPAddressesClientCreateOrUpdateResponse], error) {
		return b.pips.BeginCreateOrUpdate(ctx, rg, fipName(spec.ID), armnetwork.PublicIPAddress{Location: to.Ptr(b.cfg.Locations[0].Name),
			Tags: b.tags(spec.ID, spec.ProjectID), SKU: &armnetwork.PublicIPAddressSKU{Name: to.Ptr(armnetwork.PublicIPAddressSKUNameStandard)},
			Properties: &armnetwork.PublicIPAddressPropertiesFormat{PublicIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodStatic)}},
			&armnetwork.PublicIPAddressesClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return proxies.FloatingIPStatus{}, mapErr(op, "the public IP could not be made", err)
	}
	// Detach from a NIC it should no longer be on.
	if c := pip.Properties.IPConfiguration; c != nil && c.ID != nil {
		nicID, _, _ := strings.Cut(*c.ID, "/ipConfigurations/")
		if spec.PortID == "" || !strings.HasSuffix(strings.ToLower(nicID), strings.ToLower("/"+nicName(spec.PortID))) {
			if err := b.setNICPublicIP(ctx, op, spec.ID, rgOf(nicID), nicID[strings.LastIndex(nicID, "/")+1:], nil); err != nil {
				return proxies.FloatingIPStatus{}, err
			}
		}
	}
	if spec.PortID != "" {
		nrg := b.lookupRG(ctx, "vm", spec.ServerID)
		if nrg == "" {
			return proxies.FloatingIPStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "server %s is not in this Azure cloud", spec.ServerID)
		}
		if nrg == "" {
			nrg = rg
		}
		if err := b.setNICPublicIP(ctx, op, spec.ID, nrg, nicName(spec.PortID), pip.ID); err != nil {
			return proxies.FloatingIPStatus{}, err
		}
	}
	addr := ""
	if pip.Properties.IPAddress != nil {
		addr = *pip.Properties.IPAddress
	}
	return proxies.FloatingIPStatus{ID: spec.ID, BottomID: *pip.ID, PublicAddress: addr, PortID: spec.PortID}, nil
}

// setNICPublicIP sets (or clears, with nil) the public IP of a NIC's
// primary IP configuration.
func (b *Backend) setNICPublicIP(ctx context.Context, op, fipID, rg, nic string, pipID *string) error {
	res, err := b.nics.Get(ctx, rg, nic, nil)
	if err != nil {
		if isNotFound(err) && pipID == nil {
			return nil
		}
		return mapErr(op, "could not read the network interface", err)
	}
	ipc := res.Properties.IPConfigurations[0].Properties
	cur := ipc.PublicIPAddress
	if (cur == nil && pipID == nil) || (cur != nil && pipID != nil && strings.EqualFold(*cur.ID, *pipID)) {
		return nil
	}
	if pipID == nil {
		ipc.PublicIPAddress = nil
	} else {
		ipc.PublicIPAddress = &armnetwork.PublicIPAddress{ID: pipID}
	}
	_, err = run(ctx, b, fipID+"/assoc-"+nic, func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.InterfacesClientCreateOrUpdateResponse], error) {
		return b.nics.BeginCreateOrUpdate(ctx, rg, nic, res.Interface, &armnetwork.InterfacesClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	return mapErr(op, "the network interface could not be updated", err)
}

// ReleaseFloatingIP disassociates and deletes the public IP.
func (b *Backend) ReleaseFloatingIP(ctx context.Context, id string) error {
	const op = "ReleaseFloatingIP"
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg := b.lookupRG(ctx, "fip", id)
	if rg == "" {
		return nil
	}
	pip, err := b.pips.Get(ctx, rg, fipName(id), nil)
	if isNotFound(err) {
		b.forget(ctx, "fip", id)
		return nil
	}
	if err != nil {
		return mapErr(op, "could not read the public IP", err)
	}
	if c := pip.Properties.IPConfiguration; c != nil && c.ID != nil {
		nicID, _, _ := strings.Cut(*c.ID, "/ipConfigurations/")
		if err := b.setNICPublicIP(ctx, op, id, rgOf(nicID), nicID[strings.LastIndex(nicID, "/")+1:], nil); err != nil {
			return err
		}
	}
	_, err = run(ctx, b, id+"/pip-delete", func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.PublicIPAddressesClientDeleteResponse], error) {
		return b.pips.BeginDelete(ctx, rg, fipName(id), &armnetwork.PublicIPAddressesClientBeginDeleteOptions{ResumeToken: tok})
	})
	if err != nil && !isNotFound(err) {
		return mapErr(op, "the public IP could not be deleted", err)
	}
	b.forget(ctx, "fip", id)
	return nil
}

// ensureASG makes the application security group of Canopy group id (the
// NICs of its members join it; rules with it as remote group name it). It
// lives where it was first made: the group's resource group, or that of
// the first group whose rule named it before the group itself was ensured.
func (b *Backend) ensureASG(ctx context.Context, op, id, rg string) (string, error) {
	if prev := b.lookupRG(ctx, "asg", id); prev != "" {
		rg = prev
	}
	b.remember(ctx, "asg", id, rg)
	res, err := run(ctx, b, id+"/asg", func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.ApplicationSecurityGroupsClientCreateOrUpdateResponse], error) {
		return b.asgs.BeginCreateOrUpdate(ctx, rg, asgName(id), armnetwork.ApplicationSecurityGroup{Location: to.Ptr(b.cfg.Locations[0].Name),
			Tags: map[string]*string{tagID: to.Ptr(id), tagCloud: to.Ptr(b.name)}},
			&armnetwork.ApplicationSecurityGroupsClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return "", mapErr(op, "the application security group could not be made", err)
	}
	return *res.ID, nil
}

// asgRefs are the application security groups a NIC with groupIDs joins.
func (b *Backend) asgRefs(ctx context.Context, op string, groupIDs []string) ([]*armnetwork.ApplicationSecurityGroup, error) {
	ids := append([]string(nil), groupIDs...)
	sort.Strings(ids)
	var out []*armnetwork.ApplicationSecurityGroup
	for _, g := range ids {
		rg := b.lookupRG(ctx, "asg", g)
		if rg == "" {
			return nil, proxies.Errorf(proxies.ErrInvalid, op, "security group %s is not realised in this Azure cloud", g)
		}
		out = append(out, &armnetwork.ApplicationSecurityGroup{ID: to.Ptr(fmt.Sprintf(
			"/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/applicationSecurityGroups/%s", b.cfg.SubscriptionID, rg, asgName(g)))})
	}
	return out, nil
}

// sameASGs reports whether every ip configuration has exactly want.
func sameASGs(ipcs []*armnetwork.InterfaceIPConfiguration, want []*armnetwork.ApplicationSecurityGroup) bool {
	for _, ipc := range ipcs {
		have := ipc.Properties.ApplicationSecurityGroups
		if len(have) != len(want) {
			return false
		}
		set := map[string]bool{}
		for _, g := range have {
			set[strings.ToLower(*g.ID)] = true
		}
		for _, g := range want {
			if !set[strings.ToLower(*g.ID)] {
				return false
			}
		}
	}
	return true
}
