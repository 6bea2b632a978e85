package libvirt

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
)

// Security groups on a KVM host are libvirt network filters (nwfilter), as
// Nova's libvirt nwfilter firewall made them (nova-base, nova-allow-dhcp-
// server, nova-secgroup-<id>, nova-instance-<name>):
//
//	canopy-sg-<group id>   one per security group: an accept rule per
//	                       Neutron rule (ingress = direction "in", egress =
//	                       "out"); remote-group rules arrive expanded by the
//	                       pool into one rule per member address
//	canopy-port-<port id>  one per NIC, referenced by the interface's
//	                       <filterref> with the NIC's IPv4 addresses as IP:
//	                       libvirt's clean-traffic (no MAC, IP or ARP
//	                       spoofing), DHCP, established and related
//	                       traffic, the NIC's group filters, and a final
//	                       drop of everything else, both directions
//
// Filters are defined by name with a UUID derived from the name, so a
// redefinition replaces the filter (libvirt re-instantiates it on running
// guests) and a retry changes nothing. libvirt's accept rules are stateful
// (statematch): an accepted connection's replies pass in the other
// direction. clean-traffic drops every layer-2 protocol but IPv4 and ARP,
// so IPv6 rules are translated but no IPv6 reaches a filtered guest.

// Filter names and the libvirt filter every port filter builds on.
const (
	groupFilterPrefix = "canopy-sg-"
	portFilterPrefix  = "canopy-port-"
	baseFilter        = "clean-traffic"
)

// shippedFilters is where Debian's libvirt-daemon-config-nwfilter keeps
// the filters libvirt ships (its postinst copies them to
// /etc/libvirt/nwfilter, which libvirtd loads).
var shippedFilters = "/usr/share/libvirt/nwfilter"

// Rule priorities in a port filter's chains (lower runs first).
const (
	prioDHCP        = 100
	prioEstablished = 200
	prioGroupRule   = 500
	prioDefaultDrop = 1000
)

// GroupFilterName is the nwfilter of security group id.
func GroupFilterName(id string) string { return groupFilterPrefix + id }

// PortFilterName is the nwfilter of the NIC of port portID.
func PortFilterName(portID string) string { return portFilterPrefix + portID }

// filterUUID is a stable UUID (version 5 layout, SHA-1 of the name) for the
// filter named name: libvirt refuses a redefinition whose UUID differs.
func filterUUID(name string) string {
	sum := sha1.Sum([]byte("canopy-nwfilter:" + name))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// field is an nwfilter attribute value.
func field(s string) libvirtxml.NWFilterField { return libvirtxml.NWFilterField{Str: s} }

func num(n int) libvirtxml.NWFilterField { return field(strconv.Itoa(n)) }

// groupFilter translates security group g (remote groups expanded) into
// its nwfilter. A protocol nwfilter cannot match statefully is
// ErrNotSupported: the host never accepts a rule it would not apply.
func groupFilter(g proxies.SecurityGroupSpec) (libvirtxml.NWFilter, error) {
	const op = "EnsureSecurityGroup"
	if !validID(g.ID) {
		return libvirtxml.NWFilter{}, proxies.Errorf(proxies.ErrInvalid, op, "security group id %q is not valid", g.ID)
	}
	name := GroupFilterName(g.ID)
	f := libvirtxml.NWFilter{Name: name, UUID: filterUUID(name), Chain: "root"}
	for _, r := range g.Rules {
		rule, err := filterRule(r)
		if err != nil {
			var pe *proxies.Error
			if errors.As(err, &pe) {
				pe.Op, pe.Message = op, fmt.Sprintf("security group %s: rule %s: %s", g.ID, r.ID, pe.Message)
			}
			return libvirtxml.NWFilter{}, err
		}
		f.Entries = append(f.Entries, libvirtxml.NWFilterEntry{Rule: rule})
	}
	return f, nil
}

// filterRule is one Neutron rule as an nwfilter accept rule. Ingress rules
// match the remote prefix as the source, egress rules as the destination;
// a port range is the destination port either way (as in Neutron).
func filterRule(r proxies.SecurityGroupRule) (*libvirtxml.NWFilterRule, error) {
	const op = "EnsureSecurityGroup"
	rule := &libvirtxml.NWFilterRule{Action: "accept", Priority: prioGroupRule}
	ingress := r.Direction == "ingress"
	switch r.Direction {
	case "ingress":
		rule.Direction = "in"
	case "egress":
		rule.Direction = "out"
	default:
		return nil, proxies.Errorf(proxies.ErrInvalid, op, "direction %q is not ingress or egress", r.Direction)
	}
	if r.EtherType != "IPv4" && r.EtherType != "IPv6" {
		return nil, proxies.Errorf(proxies.ErrInvalid, op, "ethertype %q is not IPv4 or IPv6", r.EtherType)
	}
	v6 := r.EtherType == "IPv6"
	if r.RemoteGroupID != "" {
		return nil, proxies.Errorf(proxies.ErrInvalid, op, "remote group %s was not expanded to addresses", r.RemoteGroupID)
	}
	var ip libvirtxml.NWFilterRuleCommonIP
	if r.RemoteIPPrefix != "" {
		pfx, err := netip.ParsePrefix(r.RemoteIPPrefix)
		if err != nil || pfx.Addr().Is4() == v6 {
			return nil, proxies.Errorf(proxies.ErrInvalid, op, "remote_ip_prefix %q is not an %s CIDR", r.RemoteIPPrefix, r.EtherType)
		}
		pfx = pfx.Masked()
		if ingress {
			ip.SrcIPAddr, ip.SrcIPMask = field(pfx.Addr().String()), num(pfx.Bits())
		} else {
			ip.DstIPAddr, ip.DstIPMask = field(pfx.Addr().String()), num(pfx.Bits())
		}
	}
	var ports libvirtxml.NWFilterRuleCommonPort
	if r.PortMin > 0 || r.PortMax > 0 {
		lo, hi := r.PortMin, r.PortMax
		if lo <= 0 {
			lo = 1
		}
		if hi <= 0 {
			hi = lo
		}
		ports.DstPortStart, ports.DstPortEnd = num(lo), num(hi)
	}
	hasPorts := ports.DstPortStart.Str != ""
	noPorts := func(proto string) error {
		if hasPorts {
			return proxies.Errorf(proxies.ErrNotSupported, op, "a port range on protocol %s cannot be filtered on a KVM host", proto)
		}
		return nil
	}
	proto := strings.ToLower(r.Protocol)
	switch proto {
	case "", "any":
		if v6 {
			rule.AllIPv6 = &libvirtxml.NWFilterRuleAllIPv6{NWFilterRuleCommonIP: ip}
		} else {
			rule.All = &libvirtxml.NWFilterRuleAll{NWFilterRuleCommonIP: ip}
		}
		return rule, noPorts("any")
	case "tcp", "6":
		if v6 {
			rule.TCPIPv6 = &libvirtxml.NWFilterRuleTCPIPv6{NWFilterRuleCommonIP: ip, NWFilterRuleCommonPort: ports}
		} else {
			rule.TCP = &libvirtxml.NWFilterRuleTCP{NWFilterRuleCommonIP: ip, NWFilterRuleCommonPort: ports}
		}
	case "udp", "17":
		if v6 {
			rule.UDPIPv6 = &libvirtxml.NWFilterRuleUDPIPv6{NWFilterRuleCommonIP: ip, NWFilterRuleCommonPort: ports}
		} else {
			rule.UDP = &libvirtxml.NWFilterRuleUDP{NWFilterRuleCommonIP: ip, NWFilterRuleCommonPort: ports}
		}
	case "sctp", "132":
		if v6 {
			rule.SCTPIPv6 = &libvirtxml.NWFilterRuleSCTPIPv6{NWFilterRuleCommonIP: ip, NWFilterRuleCommonPort: ports}
		} else {
			rule.SCTP = &libvirtxml.NWFilterRuleSCTP{NWFilterRuleCommonIP: ip, NWFilterRuleCommonPort: ports}
		}
	case "icmp", "1", "icmpv6", "ipv6-icmp", "58":
		// Neutron takes "icmp" with ethertype IPv6 as ICMPv6; the port
		// range is the ICMP type and code (-1 or 0: any).
		if !v6 && (proto == "icmpv6" || proto == "ipv6-icmp" || proto == "58") {
			return nil, proxies.Errorf(proxies.ErrInvalid, op, "protocol %s needs ethertype IPv6", r.Protocol)
		}
		var typ, code libvirtxml.NWFilterField
		if r.PortMin > 0 {
			typ = num(r.PortMin)
			if r.PortMax > 0 {
				code = num(r.PortMax)
			}
		}
		if v6 {
			rule.ICMPv6 = &libvirtxml.NWFilterRuleICMPIPv6{NWFilterRuleCommonIP: ip, Type: typ, Code: code}
		} else {
			rule.ICMP = &libvirtxml.NWFilterRuleICMP{NWFilterRuleCommonIP: ip, Type: typ, Code: code}
		}
	case "udplite", "136":
		if v6 {
			rule.UDPLiteIPv6 = &libvirtxml.NWFilterRuleUDPLiteIPv6{NWFilterRuleCommonIP: ip}
		} else {
			rule.UDPLite = &libvirtxml.NWFilterRuleUDPLite{NWFilterRuleCommonIP: ip}
		}
		return rule, noPorts(proto)
	case "esp", "50":
		if v6 {
			rule.ESPIPv6 = &libvirtxml.NWFilterRuleESPIPv6{NWFilterRuleCommonIP: ip}
		} else {
			rule.ESP = &libvirtxml.NWFilterRuleESP{NWFilterRuleCommonIP: ip}
		}
	case "ah", "51":
		if v6 {
			rule.AHIPv6 = &libvirtxml.NWFilterRuleAHIPv6{NWFilterRuleCommonIP: ip}
		} else {
			rule.AH = &libvirtxml.NWFilterRuleAH{NWFilterRuleCommonIP: ip}
		}
	case "igmp", "2":
		if v6 {
			return nil, proxies.Errorf(proxies.ErrInvalid, op, "protocol igmp needs ethertype IPv4")
		}
		rule.IGMP = &libvirtxml.NWFilterRuleIGMP{NWFilterRuleCommonIP: ip}
	default:
		return nil, proxies.Errorf(proxies.ErrNotSupported, op, "protocol %s cannot be filtered on a KVM host (nwfilter matches tcp, udp, sctp, icmp, icmpv6, udplite, esp, ah, igmp or any)", r.Protocol)
	}
	return rule, nil
}

// portFilter is the filter of the NIC of port portID using groups: the
// anti-spoofing base, DHCP, established traffic, the groups' accepts, then
// drop. A NIC with no groups passes only DHCP and replies (Neutron's
// port security with no groups).
func portFilter(portID string, groups []string) (libvirtxml.NWFilter, error) {
	if !validID(portID) {
		return libvirtxml.NWFilter{}, proxies.Errorf(proxies.ErrInvalid, "SetNICSecurityGroups", "port id %q is not valid", portID)
	}
	name := PortFilterName(portID)
	f := libvirtxml.NWFilter{Name: name, UUID: filterUUID(name), Chain: "root"}
	ref := func(name string) libvirtxml.NWFilterEntry {
		return libvirtxml.NWFilterEntry{Ref: &libvirtxml.NWFilterRef{Filter: name}}
	}
	rule := func(r libvirtxml.NWFilterRule) libvirtxml.NWFilterEntry { return libvirtxml.NWFilterEntry{Rule: &r} }
	established := libvirtxml.NWFilterRuleCommonIP{State: field("ESTABLISHED,RELATED")}
	f.Entries = append(f.Entries,
		ref(baseFilter),
		// DHCP requests out (the first from 0.0.0.0, renewals from the
		// lease) and answers in, as nova-allow-dhcp-server.
		rule(libvirtxml.NWFilterRule{Action: "accept", Direction: "out", Priority: prioDHCP,
			UDP: &libvirtxml.NWFilterRuleUDP{NWFilterRuleCommonPort: libvirtxml.NWFilterRuleCommonPort{SrcPortStart: num(68), DstPortStart: num(67)}}}),
		rule(libvirtxml.NWFilterRule{Action: "accept", Direction: "in", Priority: prioDHCP,
			UDP: &libvirtxml.NWFilterRuleUDP{NWFilterRuleCommonPort: libvirtxml.NWFilterRuleCommonPort{SrcPortStart: num(67), DstPortStart: num(68)}}}),
	)
	for _, dir := range []string{"in", "out"} {
		f.Entries = append(f.Entries,
			rule(libvirtxml.NWFilterRule{Action: "accept", Direction: dir, Priority: prioEstablished,
				All: &libvirtxml.NWFilterRuleAll{NWFilterRuleCommonIP: established}}),
			rule(libvirtxml.NWFilterRule{Action: "accept", Direction: dir, Priority: prioEstablished,
				AllIPv6: &libvirtxml.NWFilterRuleAllIPv6{NWFilterRuleCommonIP: established}}))
	}
	seen := map[string]bool{}
	for _, g := range groups {
		if !validID(g) {
			return libvirtxml.NWFilter{}, proxies.Errorf(proxies.ErrInvalid, "SetNICSecurityGroups", "security group id %q is not valid", g)
		}
		if !seen[g] {
			seen[g] = true
			f.Entries = append(f.Entries, ref(GroupFilterName(g)))
		}
	}
	for _, dir := range []string{"in", "out"} {
		f.Entries = append(f.Entries,
			rule(libvirtxml.NWFilterRule{Action: "drop", Direction: dir, Priority: prioDefaultDrop, All: &libvirtxml.NWFilterRuleAll{}}),
			rule(libvirtxml.NWFilterRule{Action: "drop", Direction: dir, Priority: prioDefaultDrop, AllIPv6: &libvirtxml.NWFilterRuleAllIPv6{}}))
	}
	return f, nil
}

// filterRef is the <filterref> of NIC n's interface: its port filter, with
// the NIC's IPv4 addresses as clean-traffic's IP (none: libvirt learns the
// address from the guest's first packets).
func filterRef(n proxies.NIC) *libvirtxml.DomainInterfaceFilterRef {
	ref := &libvirtxml.DomainInterfaceFilterRef{Filter: PortFilterName(n.PortID)}
	for _, s := range n.FixedIPs {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			ref.Parameters = append(ref.Parameters, libvirtxml.DomainInterfaceFilterParam{Name: "IP", Value: a.String()})
		}
	}
	return ref
}

// isNoFilter reports libvirt's "no such nwfilter".
func isNoFilter(err error) bool {
	var e golibvirt.Error
	return errors.As(err, &e) && e.Code == uint32(golibvirt.ErrNoNwfilter)
}

// defineFilter defines (or redefines) f.
func defineFilter(lv *golibvirt.Libvirt, f libvirtxml.NWFilter) error {
	doc, err := f.Marshal()
	if err != nil {
		return err
	}
	_, err = lv.NwfilterDefineXML(doc)
	return err
}

// undefineFilter removes the filter named name; nil when it is gone.
func undefineFilter(lv *golibvirt.Libvirt, name string) error {
	ref, err := lv.NwfilterLookupByName(name)
	if isNoFilter(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := lv.NwfilterUndefine(ref); err != nil && !isNoFilter(err) {
		return err
	}
	return nil
}

// ensureBaseFilter makes sure libvirtd has clean-traffic. A libvirtd whose
// shipped filters were never installed in /etc/libvirt/nwfilter (the
// Debian package unpacked but not configured) is given them from
// /usr/share/libvirt/nwfilter; without them the host cannot filter.
func (h *Host) ensureBaseFilter(ctx context.Context) error {
	const op = "Start"
	return h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
		if _, err := lv.NwfilterLookupByName(baseFilter); err == nil {
			return nil
		} else if !isNoFilter(err) {
			return err
		}
		files, _ := filepath.Glob(filepath.Join(shippedFilters, "*.xml"))
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".xml")
			if _, err := lv.NwfilterLookupByName(name); err == nil {
				continue
			}
			doc, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			if _, err := lv.NwfilterDefineXML(string(doc)); err != nil {
				h.log.Warn("could not define a shipped nwfilter", "host", h.name, "file", f, "err", err)
			}
		}
		if _, err := lv.NwfilterLookupByName(baseFilter); err != nil {
			return &proxies.Error{Kind: proxies.ErrUnavailable, Op: op,
				Message: "libvirtd on host " + h.name + " has no nwfilter " + baseFilter + " (install libvirt-daemon-config-nwfilter)", Cause: err}
		}
		return nil
	})
}

// SetGroups defines the filter of each group (remote groups already
// expanded to addresses by the pool); a redefined filter applies at once to
// the running guests whose NICs use it. Every group is translated before
// any is defined, so a refused rule changes nothing.
func (h *Host) SetGroups(ctx context.Context, groups []proxies.SecurityGroupSpec) error {
	const op = "EnsureSecurityGroup"
	filters := make([]libvirtxml.NWFilter, 0, len(groups))
	for _, g := range groups {
		f, err := groupFilter(g)
		if err != nil {
			return err
		}
		filters = append(filters, f)
	}
	return h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
		for _, f := range filters {
			if err := defineFilter(lv, f); err != nil {
				return fmt.Errorf("define nwfilter %s: %w", f.Name, err)
			}
		}
		return nil
	})
}

// DeleteGroup undefines the filter of group id; nil when it is gone.
// libvirt refuses while a port filter still references it (ErrConflict).
func (h *Host) DeleteGroup(ctx context.Context, id string) error {
	const op = "DeleteSecurityGroup"
	if !validID(id) {
		return nil
	}
	// The libvirt error is classified inside do: do wraps what it
	// returns in a *proxies.Error whose Unwrap yields only the kind.
	return h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
		err := undefineFilter(lv, GroupFilterName(id))
		var e golibvirt.Error
		if errors.As(err, &e) && e.Code == uint32(golibvirt.ErrOperationInvalid) {
			return &proxies.Error{Kind: proxies.ErrConflict, Op: op, Message: "Security Group " + id + " is in use on host " + h.name, Cause: err}
		}
		return err
	})
}

// GroupFilterXML returns the filter libvirtd holds for group id (for tests
// and operators).
func (h *Host) GroupFilterXML(ctx context.Context, id string) (string, error) {
	return h.filterXML(ctx, GroupFilterName(id))
}

// PortFilterXML returns the filter libvirtd holds for port portID.
func (h *Host) PortFilterXML(ctx context.Context, portID string) (string, error) {
	return h.filterXML(ctx, PortFilterName(portID))
}

func (h *Host) filterXML(ctx context.Context, name string) (string, error) {
	var doc string
	err := h.do(ctx, "FilterXML", func(lv *golibvirt.Libvirt) error {
		ref, err := lv.NwfilterLookupByName(name)
		if isNoFilter(err) {
			return proxies.Errorf(proxies.ErrNotFound, "FilterXML", "nwfilter %s is not defined on host %s", name, h.name)
		}
		if err != nil {
			return err
		}
		doc, err = lv.NwfilterGetXMLDesc(ref, 0)
		return err
	})
	return doc, err
}

// definePortFilters defines the filter of each NIC (called inside do).
func definePortFilters(lv *golibvirt.Libvirt, nics []proxies.NIC) error {
	for _, n := range nics {
		if n.PortID == "" {
			continue
		}
		f, err := portFilter(n.PortID, n.SecurityGroupIDs)
		if err != nil {
			return err
		}
		if err := defineFilter(lv, f); err != nil {
			return fmt.Errorf("define nwfilter %s: %w", f.Name, err)
		}
	}
	return nil
}

// undefinePortFilters removes the filters of ports, logging (not failing
// on) a filter libvirt still holds in use.
func (h *Host) undefinePortFilters(lv *golibvirt.Libvirt, ports []string) {
	for _, p := range ports {
		if p == "" || !validID(p) {
			continue
		}
		if err := undefineFilter(lv, PortFilterName(p)); err != nil {
			h.log.Warn("could not undefine a port's nwfilter", "host", h.name, "port", p, "err", err)
		}
	}
}

// SetDomainNICGroups makes the NIC of port portID on server id use exactly
// groups: its port filter is redefined (libvirt applies it to the running
// guest) and the domain's metadata records the groups.
func (h *Host) SetDomainNICGroups(ctx context.Context, id, portID string, groups []string) error {
	const op = "SetNICSecurityGroups"
	d, err := h.lookup(ctx, op, id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(d.p.meta.Ports, func(p portMeta) bool { return p.ID == portID })
	if i < 0 {
		return proxies.Errorf(proxies.ErrNotFound, op, "Instance %s does not have a port with id %s", id, portID)
	}
	f, err := portFilter(portID, groups)
	if err != nil {
		return err
	}
	m := d.p.meta
	m.Ports = slices.Clone(m.Ports)
	m.Ports[i].Groups = strings.Join(groups, ",")
	return h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
		if err := defineFilter(lv, f); err != nil {
			return fmt.Errorf("define nwfilter %s: %w", f.Name, err)
		}
		return h.setMeta(lv, d, m)
	})
}

var _ localcloud.SecurityGroupHost = (*Host)(nil)
