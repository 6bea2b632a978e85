package openstack

import (
	"net/netip"

	"github.com/canopy-cloud/canopy/proxies"
)

// Specs are checked before anything is made in the bottom, so an invalid
// one never leaves half a resource behind.

func validateNetwork(spec proxies.NetworkSpec) error {
	const op = "EnsureNetwork"
	if spec.ID == "" {
		return proxies.Errorf(proxies.ErrInvalid, op, "a network needs a top id")
	}
	for _, sn := range spec.Subnets {
		p, err := netip.ParsePrefix(sn.CIDR)
		if err != nil || p.Masked() != p {
			return proxies.Errorf(proxies.ErrInvalid, op, "subnet %s has an invalid cidr %q", sn.ID, sn.CIDR)
		}
		if sn.GatewayIP != "" {
			if gw, err := netip.ParseAddr(sn.GatewayIP); err != nil || !p.Contains(gw) {
				return proxies.Errorf(proxies.ErrInvalid, op, "subnet %s has a gateway %q outside %s", sn.ID, sn.GatewayIP, sn.CIDR)
			}
		}
	}
	return nil
}

func validateGroup(spec proxies.SecurityGroupSpec) error {
	const op = "EnsureSecurityGroup"
	if spec.ID == "" {
		return proxies.Errorf(proxies.ErrInvalid, op, "a security group needs a top id")
	}
	for _, r := range spec.Rules {
		if r.Direction != "ingress" && r.Direction != "egress" {
			return proxies.Errorf(proxies.ErrInvalid, op, "rule %s: direction %q is not ingress or egress", r.ID, r.Direction)
		}
		if r.EtherType != "" && r.EtherType != "IPv4" && r.EtherType != "IPv6" {
			return proxies.Errorf(proxies.ErrInvalid, op, "rule %s: ethertype %q is not IPv4 or IPv6", r.ID, r.EtherType)
		}
		if r.RemoteIPPrefix != "" {
			if _, err := netip.ParsePrefix(r.RemoteIPPrefix); err != nil {
				return proxies.Errorf(proxies.ErrInvalid, op, "rule %s: remote prefix %q is not a CIDR", r.ID, r.RemoteIPPrefix)
			}
		}
		if r.RemoteIPPrefix != "" && r.RemoteGroupID != "" {
			return proxies.Errorf(proxies.ErrInvalid, op, "rule %s sets both a remote prefix and a remote group", r.ID)
		}
		if (r.Protocol == "tcp" || r.Protocol == "udp") && (r.PortMin < 0 || r.PortMax > 65535 || r.PortMin > r.PortMax) {
			return proxies.Errorf(proxies.ErrInvalid, op, "rule %s: port range %d-%d is invalid", r.ID, r.PortMin, r.PortMax)
		}
	}
	return nil
}

func validateRouter(spec proxies.RouterSpec) error {
	const op = "EnsureRouter"
	if spec.ID == "" {
		return proxies.Errorf(proxies.ErrInvalid, op, "a router needs a top id")
	}
	for _, rt := range spec.Routes {
		if _, err := netip.ParsePrefix(rt.Destination); err != nil {
			return proxies.Errorf(proxies.ErrInvalid, op, "route destination %q is not a CIDR", rt.Destination)
		}
		if _, err := netip.ParseAddr(rt.NextHop); err != nil {
			return proxies.Errorf(proxies.ErrInvalid, op, "route next hop %q is not an address", rt.NextHop)
		}
	}
	return nil
}
