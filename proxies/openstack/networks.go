package openstack

import (
	"context"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/external"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
)

// networkDriver realises top networks as bottom Neutron networks named
// canopy-<top id>, with one subnet canopy-<top subnet id> per top subnet.
// The bottom allocates its own addresses in them.
type networkDriver struct{ b *Backend }

// bottomName is the name of every bottom resource made for a top id.
func bottomName(id string) string { return "canopy-" + id }

// findNetwork finds the bottom network made for top network id.
func (b *Backend) findNetwork(ctx context.Context, s *scope, id string) (networks.Network, bool, error) {
	pages, err := networks.List(s.network, networks.ListOpts{Name: bottomName(id)}).AllPages(ctx)
	if err != nil {
		return networks.Network{}, false, err
	}
	list, err := networks.ExtractNetworks(pages)
	if err != nil || len(list) == 0 {
		return networks.Network{}, false, err
	}
	return list[0], true, nil
}

// bottomNetwork maps a top network: network_map, else the one EnsureNetwork
// made; "" when the bottom has none.
func (b *Backend) bottomNetwork(ctx context.Context, s *scope, id string) (string, error) {
	if v, ok := b.cfg.NetworkMap[id]; ok {
		return v, nil
	}
	b.mu.Lock()
	v, ok := b.nets[id]
	b.mu.Unlock()
	if ok {
		return v, nil
	}
	n, ok, err := b.findNetwork(ctx, s, id)
	if err != nil || !ok {
		return "", err
	}
	b.mu.Lock()
	b.nets[id] = n.ID
	b.mu.Unlock()
	return n.ID, nil
}

// bottomNICs maps the NICs of a server create. When a top network has no
// bottom counterpart the server gets Nova's "auto" network (the bottom
// project's own), or none when the spec has no NICs.
func (b *Backend) bottomNICs(ctx context.Context, s *scope, nics []proxies.NIC) (any, error) {
	if len(nics) == 0 {
		if !b.maxMicro.atLeast(mvNetworksAuto) {
			return nil, nil // before 2.37 a server without networks is not expressible
		}
		return "none", nil
	}
	var out []servers.Network
	for _, nic := range nics {
		id, err := b.bottomNetwork(ctx, s, nic.NetworkID)
		if err != nil {
			return nil, err
		}
		if id == "" {
			if !b.maxMicro.atLeast(mvNetworksAuto) {
				return nil, nil // before 2.37 Nova picks the project's network itself
			}
			return "auto", nil
		}
		if nic.PortID == "" {
			out = append(out, servers.Network{UUID: id})
			continue
		}
		p, err := b.ensurePort(ctx, s, nic, id)
		if err != nil {
			return nil, err
		}
		out = append(out, servers.Network{Port: p.ID})
	}
	return out, nil
}

// EnsureNetwork finds or creates the bottom network and its subnets.
func (d networkDriver) EnsureNetwork(ctx context.Context, spec proxies.NetworkSpec) (proxies.NetworkStatus, error) {
	const op = "EnsureNetwork"
	b := d.b
	if err := validateNetwork(spec); err != nil {
		return proxies.NetworkStatus{}, err
	}
	ctx, cancel := b.call(ctx)
	defer cancel()
	if v, ok := b.cfg.NetworkMap[spec.ID]; ok {
		return proxies.NetworkStatus{ID: spec.ID, BottomID: v, Ready: true}, nil
	}
	unlock := b.lockID(spec.ID)
	defer unlock()
	s, err := b.scopeFor(ctx, spec.ProjectID)
	if err != nil {
		return proxies.NetworkStatus{}, wrap(op, err)
	}
	if spec.External {
		ext, err := b.externalNetwork(ctx, s, spec.ID)
		if err != nil {
			return proxies.NetworkStatus{}, wrap(op, err)
		}
		return proxies.NetworkStatus{ID: spec.ID, BottomID: ext, Ready: true}, nil
	}
	n, ok, err := b.findNetwork(ctx, s, spec.ID)
	if err != nil {
		return proxies.NetworkStatus{}, wrap(op, err)
	}
	if !ok {
		up := true
		created, err := networks.Create(ctx, s.network, networks.CreateOpts{Name: bottomName(spec.ID), AdminStateUp: &up,
			Description: "Canopy network " + spec.ID + " (" + spec.Name + ")"}).Extract()
		if err != nil {
			return proxies.NetworkStatus{}, wrap(op, err)
		}
		n = *created
	}
	if err := b.ensureSubnets(ctx, s, n, spec.Subnets); err != nil {
		return proxies.NetworkStatus{}, wrap(op, err)
	}
	b.mu.Lock()
	b.nets[spec.ID] = n.ID
	b.mu.Unlock()
	return proxies.NetworkStatus{ID: spec.ID, BottomID: n.ID, Ready: true}, nil
}

func (b *Backend) ensureSubnets(ctx context.Context, s *scope, n networks.Network, want []proxies.SubnetSpec) error {
	pages, err := subnets.List(s.network, subnets.ListOpts{NetworkID: n.ID}).AllPages(ctx)
	if err != nil {
		return err
	}
	have, err := subnets.ExtractSubnets(pages)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, sn := range have {
		names[sn.Name] = true
	}
	for _, sn := range want {
		if names[bottomName(sn.ID)] {
			continue
		}
		dhcp := sn.EnableDHCP
		opts := subnets.CreateOpts{NetworkID: n.ID, Name: bottomName(sn.ID), CIDR: sn.CIDR,
			IPVersion: gophercloud.IPVersion(orInt(sn.IPVersion, 4)), EnableDHCP: &dhcp, DNSNameservers: sn.DNSNameservers}
		if sn.GatewayIP != "" {
			gw := sn.GatewayIP
			opts.GatewayIP = &gw
		}
		if _, err := subnets.Create(ctx, s.network, opts).Extract(); err != nil {
			return err
		}
	}
	return nil
}

func orInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// DeleteNetwork deletes the bottom network (and so its subnets); nil when it
// is gone, ErrConflict while bottom ports use it.
func (d networkDriver) DeleteNetwork(ctx context.Context, id string) error {
	const op = "DeleteNetwork"
	b := d.b
	ctx, cancel := b.call(ctx)
	defer cancel()
	if _, ok := b.cfg.NetworkMap[id]; ok {
		return nil // the bottom's own network: never deleted by Canopy
	}
	for _, s := range b.allScopes() {
		n, ok, err := b.findNetwork(ctx, s, id)
		if err != nil {
			return wrap(op, err)
		}
		if !ok {
			continue
		}
		if err := networks.Delete(ctx, s.network, n.ID).ExtractErr(); err != nil && !isNotFound(err) {
			return wrap(op, err)
		}
	}
	b.mu.Lock()
	delete(b.nets, id)
	b.mu.Unlock()
	return nil
}

// externalNetwork maps a top external network to the bottom's own:
// network_map, else the bottom's first external network by name. Canopy
// never creates external networks in a bottom (they are its provider
// wiring); floating IPs and router gateways take the bottom's addresses.
func (b *Backend) externalNetwork(ctx context.Context, s *scope, top string) (string, error) {
	if v, ok := b.cfg.NetworkMap[top]; ok {
		return v, nil
	}
	ext := true
	pages, err := networks.List(s.network, external.ListOptsExt{ListOptsBuilder: networks.ListOpts{SortKey: "name", SortDir: "asc"}, External: &ext}).AllPages(ctx)
	if err != nil {
		return "", err
	}
	var list []struct {
		networks.Network
		external.NetworkExternalExt
	}
	if err := networks.ExtractNetworksInto(pages, &list); err != nil {
		return "", err
	}
	for _, n := range list {
		if n.External {
			return n.ID, nil
		}
	}
	return "", proxies.Errorf(proxies.ErrNotSupported, "EnsureNetwork",
		"the bottom cloud has no external network for top network %s; map one in network_map", top)
}
