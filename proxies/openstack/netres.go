package openstack

import (
	"context"
	"fmt"
	"strings"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
)

// Security groups, routers and floating IPs become their Neutron
// namesakes in the bottom, named canopy-<top id> (floating IPs carry it in
// their description). Each Ensure converges the bottom to the spec.

func (b *Backend) findGroup(ctx context.Context, s *scope, id string) (groups.SecGroup, bool, error) {
	pages, err := groups.List(s.network, groups.ListOpts{Name: bottomName(id)}).AllPages(ctx)
	if err != nil {
		return groups.SecGroup{}, false, err
	}
	list, err := groups.ExtractGroups(pages)
	if err != nil || len(list) == 0 {
		return groups.SecGroup{}, false, err
	}
	return list[0], true, nil
}

// bottomGroups maps top security group ids; each must have been ensured.
func (b *Backend) bottomGroups(ctx context.Context, s *scope, ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		b.mu.Lock()
		v, ok := b.sgs[id]
		b.mu.Unlock()
		if !ok {
			g, found, err := b.findGroup(ctx, s, id)
			if err != nil {
				return nil, err
			}
			if !found {
				return nil, proxies.Errorf(proxies.ErrInvalid, "SecurityGroups", "security group %s is not in the bottom cloud; ensure it first", id)
			}
			v = g.ID
			b.mu.Lock()
			b.sgs[id] = v
			b.mu.Unlock()
		}
		out = append(out, v)
	}
	return out, nil
}

// ruleKey is a rule's identity for convergence.
func ruleKey(dir, eth, proto string, lo, hi int, prefix, group string) string {
	if strings.HasPrefix(proto, "icmp") || proto == "1" || proto == "58" {
		lo, hi = max(lo, 0), max(hi, 0)
	}
	return fmt.Sprintf("%s|%s|%s|%d|%d|%s|%s", dir, eth, strings.ToLower(proto), lo, hi, prefix, group)
}

// EnsureSecurityGroup creates the bottom group and converges its rules to
// exactly spec.Rules (the default rules Neutron adds are removed unless the
// spec has them).
func (b *Backend) EnsureSecurityGroup(ctx context.Context, spec proxies.SecurityGroupSpec) (proxies.SecurityGroupStatus, error) {
	const op = "EnsureSecurityGroup"
	if err := validateGroup(spec); err != nil {
		return proxies.SecurityGroupStatus{}, err
	}
	ctx, cancel := b.call(ctx)
	defer cancel()
	unlock := b.lockID(spec.ID)
	defer unlock()
	s, err := b.scopeFor(ctx, spec.ProjectID)
	if err != nil {
		return proxies.SecurityGroupStatus{}, wrap(op, err)
	}
	g, ok, err := b.findGroup(ctx, s, spec.ID)
	if err != nil {
		return proxies.SecurityGroupStatus{}, wrap(op, err)
	}
	if !ok {
		created, err := groups.Create(ctx, s.network, groups.CreateOpts{Name: bottomName(spec.ID),
			Description: "Canopy security group " + spec.ID + " (" + spec.Name + ")"}).Extract()
		if err != nil {
			return proxies.SecurityGroupStatus{}, wrap(op, err)
		}
		g = *created
	}
	b.mu.Lock()
	b.sgs[spec.ID] = g.ID
	b.mu.Unlock()
	want := map[string]rules.CreateOpts{}
	for _, r := range spec.Rules {
		remote := ""
		if r.RemoteGroupID != "" {
			ids, err := b.bottomGroups(ctx, s, []string{r.RemoteGroupID})
			if err != nil {
				return proxies.SecurityGroupStatus{}, err
			}
			remote = ids[0]
		}
		o := rules.CreateOpts{Direction: rules.RuleDirection(r.Direction), EtherType: rules.RuleEtherType(orDefault(r.EtherType, "IPv4")),
			SecGroupID: g.ID, Protocol: rules.RuleProtocol(r.Protocol), RemoteIPPrefix: r.RemoteIPPrefix, RemoteGroupID: remote}
		if r.PortMin > 0 || r.PortMax > 0 {
			o.PortRangeMin, o.PortRangeMax = max(r.PortMin, 0), max(r.PortMax, 0)
		}
		want[ruleKey(string(o.Direction), string(o.EtherType), string(o.Protocol), o.PortRangeMin, o.PortRangeMax, o.RemoteIPPrefix, remote)] = o
	}
	pages, err := rules.List(s.network, rules.ListOpts{SecGroupID: g.ID}).AllPages(ctx)
	if err != nil {
		return proxies.SecurityGroupStatus{}, wrap(op, err)
	}
	have, err := rules.ExtractRules(pages)
	if err != nil {
		return proxies.SecurityGroupStatus{}, wrap(op, err)
	}
	for _, r := range have {
		k := ruleKey(r.Direction, r.EtherType, r.Protocol, r.PortRangeMin, r.PortRangeMax, r.RemoteIPPrefix, r.RemoteGroupID)
		if _, keep := want[k]; keep {
			delete(want, k)
			continue
		}
		if err := rules.Delete(ctx, s.network, r.ID).ExtractErr(); err != nil && !isNotFound(err) {
			return proxies.SecurityGroupStatus{}, wrap(op, err)
		}
	}
	for _, o := range want {
		if _, err := rules.Create(ctx, s.network, o).Extract(); err != nil && !isConflict(err) {
			return proxies.SecurityGroupStatus{}, wrap(op, err)
		}
	}
	return proxies.SecurityGroupStatus{ID: spec.ID, BottomID: g.ID}, nil
}

// DeleteSecurityGroup deletes the bottom group; nil when gone, ErrConflict
// (the bottom's 409) while a port uses it.
func (b *Backend) DeleteSecurityGroup(ctx context.Context, id string) error {
	const op = "DeleteSecurityGroup"
	ctx, cancel := b.call(ctx)
	defer cancel()
	for _, s := range b.allScopes() {
		g, ok, err := b.findGroup(ctx, s, id)
		if err != nil {
			return wrap(op, err)
		}
		if ok {
			if err := groups.Delete(ctx, s.network, g.ID).ExtractErr(); err != nil && !isNotFound(err) {
				return wrap(op, err)
			}
		}
	}
	b.mu.Lock()
	delete(b.sgs, id)
	b.mu.Unlock()
	return nil
}

// SetNICSecurityGroups sets the groups of the bottom port of top port
// portID on server serverID.
func (b *Backend) SetNICSecurityGroups(ctx context.Context, serverID, portID string, groupIDs []string) error {
	const op = "SetNICSecurityGroups"
	ctx, cancel := b.call(ctx)
	defer cancel()
	ref, _, err := b.lookup(ctx, op, serverID)
	if err != nil {
		return err
	}
	p, ok, err := b.findPort(ctx, ref.scope, portID)
	if err != nil {
		return wrap(op, err)
	}
	if !ok {
		return proxies.Errorf(proxies.ErrNotFound, op, "port %s of server %s has no bottom port", portID, serverID)
	}
	ids, err := b.bottomGroups(ctx, ref.scope, groupIDs)
	if err != nil {
		return err
	}
	if _, err := ports.Update(ctx, ref.scope.network, p.ID, ports.UpdateOpts{SecurityGroups: &ids}).Extract(); err != nil {
		return wrap(op, err)
	}
	return nil
}

func (b *Backend) findRouter(ctx context.Context, s *scope, id string) (routers.Router, bool, error) {
	pages, err := routers.List(s.network, routers.ListOpts{Name: bottomName(id)}).AllPages(ctx)
	if err != nil {
		return routers.Router{}, false, err
	}
	list, err := routers.ExtractRouters(pages)
	if err != nil || len(list) == 0 {
		return routers.Router{}, false, err
	}
	return list[0], true, nil
}

// bottomSubnet finds the bottom subnet made for top subnet id.
func (b *Backend) bottomSubnet(ctx context.Context, s *scope, id string) (string, error) {
	pages, err := subnets.List(s.network, subnets.ListOpts{Name: bottomName(id)}).AllPages(ctx)
	if err != nil {
		return "", err
	}
	list, err := subnets.ExtractSubnets(pages)
	if err != nil {
		return "", err
	}
	if len(list) == 0 {
		return "", proxies.Errorf(proxies.ErrInvalid, "EnsureRouter", "subnet %s is not in the bottom cloud; ensure its network first", id)
	}
	return list[0].ID, nil
}

// EnsureRouter creates the bottom router and converges its gateway,
// interfaces and routes to spec. The external network must be mapped to the
// bottom's own in network_map; the bottom picks the gateway addresses.
func (b *Backend) EnsureRouter(ctx context.Context, spec proxies.RouterSpec) (proxies.RouterStatus, error) {
	const op = "EnsureRouter"
	if err := validateRouter(spec); err != nil {
		return proxies.RouterStatus{}, err
	}
	ctx, cancel := b.call(ctx)
	defer cancel()
	unlock := b.lockID(spec.ID)
	defer unlock()
	s, err := b.scopeFor(ctx, spec.ProjectID)
	if err != nil {
		return proxies.RouterStatus{}, wrap(op, err)
	}
	var gw *routers.GatewayInfo
	if spec.ExternalNetworkID != "" {
		ext, err := b.externalNetwork(ctx, s, spec.ExternalNetworkID)
		if err != nil {
			return proxies.RouterStatus{}, wrap(op, err)
		}
		snat := spec.SNAT
		gw = &routers.GatewayInfo{NetworkID: ext, EnableSNAT: &snat}
	}
	r, ok, err := b.findRouter(ctx, s, spec.ID)
	if err != nil {
		return proxies.RouterStatus{}, wrap(op, err)
	}
	if !ok {
		created, err := routers.Create(ctx, s.network, routers.CreateOpts{Name: bottomName(spec.ID), GatewayInfo: gw,
			Description: "Canopy router " + spec.ID}).Extract()
		if err != nil {
			return proxies.RouterStatus{}, wrap(op, err)
		}
		r = *created
	} else if (gw == nil) != (r.GatewayInfo.NetworkID == "") || (gw != nil && gw.NetworkID != r.GatewayInfo.NetworkID) {
		if gw == nil {
			gw = &routers.GatewayInfo{}
		}
		if _, err := routers.Update(ctx, s.network, r.ID, routers.UpdateOpts{GatewayInfo: gw}).Extract(); err != nil {
			return proxies.RouterStatus{}, wrap(op, err)
		}
	}
	want := map[string]bool{}
	for _, in := range spec.Interfaces {
		id, err := b.bottomSubnet(ctx, s, in.SubnetID)
		if err != nil {
			return proxies.RouterStatus{}, err
		}
		want[id] = true
	}
	pages, err := ports.List(s.network, ports.ListOpts{DeviceID: r.ID}).AllPages(ctx)
	if err != nil {
		return proxies.RouterStatus{}, wrap(op, err)
	}
	have, err := ports.ExtractPorts(pages)
	if err != nil {
		return proxies.RouterStatus{}, wrap(op, err)
	}
	for _, p := range have {
		if !strings.HasPrefix(p.DeviceOwner, "network:router_interface") || len(p.FixedIPs) == 0 {
			continue
		}
		sn := p.FixedIPs[0].SubnetID
		if want[sn] {
			delete(want, sn)
			continue
		}
		if _, err := routers.RemoveInterface(ctx, s.network, r.ID, routers.RemoveInterfaceOpts{PortID: p.ID}).Extract(); err != nil && !isNotFound(err) {
			return proxies.RouterStatus{}, wrap(op, err)
		}
	}
	for sn := range want {
		if _, err := routers.AddInterface(ctx, s.network, r.ID, routers.AddInterfaceOpts{SubnetID: sn}).Extract(); err != nil && !isConflict(err) {
			return proxies.RouterStatus{}, wrap(op, err)
		}
	}
	routes := make([]routers.Route, 0, len(spec.Routes))
	for _, rt := range spec.Routes {
		routes = append(routes, routers.Route{DestinationCIDR: rt.Destination, NextHop: rt.NextHop})
	}
	if len(routes) > 0 || len(r.Routes) > 0 {
		if _, err := routers.Update(ctx, s.network, r.ID, routers.UpdateOpts{Routes: &routes}).Extract(); err != nil {
			return proxies.RouterStatus{}, wrap(op, err)
		}
	}
	b.mu.Lock()
	b.routers[spec.ID] = r.ID
	b.mu.Unlock()
	return proxies.RouterStatus{ID: spec.ID, BottomID: r.ID}, nil
}

// DeleteRouter unplugs the bottom router's interfaces and deletes it; nil
// when it is gone.
func (b *Backend) DeleteRouter(ctx context.Context, id string) error {
	const op = "DeleteRouter"
	ctx, cancel := b.call(ctx)
	defer cancel()
	for _, s := range b.allScopes() {
		r, ok, err := b.findRouter(ctx, s, id)
		if err != nil {
			return wrap(op, err)
		}
		if !ok {
			continue
		}
		pages, err := ports.List(s.network, ports.ListOpts{DeviceID: r.ID}).AllPages(ctx)
		if err != nil {
			return wrap(op, err)
		}
		have, err := ports.ExtractPorts(pages)
		if err != nil {
			return wrap(op, err)
		}
		for _, p := range have {
			if strings.HasPrefix(p.DeviceOwner, "network:router_interface") {
				if _, err := routers.RemoveInterface(ctx, s.network, r.ID, routers.RemoveInterfaceOpts{PortID: p.ID}).Extract(); err != nil && !isNotFound(err) {
					return wrap(op, err)
				}
			}
		}
		if err := routers.Delete(ctx, s.network, r.ID).ExtractErr(); err != nil && !isNotFound(err) {
			return wrap(op, err)
		}
	}
	b.mu.Lock()
	delete(b.routers, id)
	b.mu.Unlock()
	return nil
}

func fipDescription(id string) string { return "canopy:" + id }

func (b *Backend) findFIP(ctx context.Context, s *scope, id string) (floatingips.FloatingIP, bool, error) {
	pages, err := floatingips.List(s.network, floatingips.ListOpts{Description: fipDescription(id)}).AllPages(ctx)
	if err != nil {
		return floatingips.FloatingIP{}, false, err
	}
	list, err := floatingips.ExtractFloatingIPs(pages)
	if err != nil {
		return floatingips.FloatingIP{}, false, err
	}
	for _, f := range list {
		if f.Description == fipDescription(id) {
			return f, true, nil
		}
	}
	return floatingips.FloatingIP{}, false, nil
}

// EnsureFloatingIP allocates a bottom floating IP on the bottom network
// mapped from spec.FloatingNetworkID and associates it with the bottom port
// of spec.PortID (or disassociates it). The address is the bottom's own and
// is reported in PublicAddress.
func (b *Backend) EnsureFloatingIP(ctx context.Context, spec proxies.FloatingIPSpec) (proxies.FloatingIPStatus, error) {
	const op = "EnsureFloatingIP"
	if spec.ID == "" || spec.FloatingNetworkID == "" {
		return proxies.FloatingIPStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a floating IP needs a top id and a floating network")
	}
	ctx, cancel := b.call(ctx)
	defer cancel()
	unlock := b.lockID(spec.ID)
	defer unlock()
	s, err := b.scopeFor(ctx, spec.ProjectID)
	if err != nil {
		return proxies.FloatingIPStatus{}, wrap(op, err)
	}
	ext, err := b.externalNetwork(ctx, s, spec.FloatingNetworkID)
	if err != nil {
		return proxies.FloatingIPStatus{}, wrap(op, err)
	}
	f, ok, err := b.findFIP(ctx, s, spec.ID)
	if err != nil {
		return proxies.FloatingIPStatus{}, wrap(op, err)
	}
	if !ok {
		created, err := floatingips.Create(ctx, s.network, floatingips.CreateOpts{FloatingNetworkID: ext, Description: fipDescription(spec.ID)}).Extract()
		if err != nil {
			return proxies.FloatingIPStatus{}, wrap(op, err)
		}
		f = *created
	}
	wantPort := ""
	if spec.PortID != "" {
		p, found, err := b.findPort(ctx, s, spec.PortID)
		if err != nil {
			return proxies.FloatingIPStatus{}, wrap(op, err)
		}
		if !found {
			return proxies.FloatingIPStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "port %s has no bottom port", spec.PortID)
		}
		wantPort = p.ID
	}
	if f.PortID != wantPort {
		upd, err := floatingips.Update(ctx, s.network, f.ID, floatingips.UpdateOpts{PortID: &wantPort}).Extract()
		if err != nil {
			return proxies.FloatingIPStatus{}, wrap(op, err)
		}
		f = *upd
	}
	b.mu.Lock()
	b.fips[spec.ID] = f.ID
	b.mu.Unlock()
	st := proxies.FloatingIPStatus{ID: spec.ID, BottomID: f.ID, PublicAddress: f.FloatingIP}
	if wantPort != "" {
		st.PortID = spec.PortID
	}
	return st, nil
}

// ReleaseFloatingIP deletes the bottom floating IP; nil when it is gone.
func (b *Backend) ReleaseFloatingIP(ctx context.Context, id string) error {
	const op = "ReleaseFloatingIP"
	ctx, cancel := b.call(ctx)
	defer cancel()
	for _, s := range b.allScopes() {
		f, ok, err := b.findFIP(ctx, s, id)
		if err != nil {
			return wrap(op, err)
		}
		if ok {
			if err := floatingips.Delete(ctx, s.network, f.ID).ExtractErr(); err != nil && !isNotFound(err) {
				return wrap(op, err)
			}
		}
	}
	b.mu.Lock()
	delete(b.fips, id)
	b.mu.Unlock()
	return nil
}
