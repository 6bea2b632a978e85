package localcloud

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/canopy-cloud/canopy/proxies"
)

// netResources holds the security groups, routers and floating IPs realised
// in the pool. Simulated hosts enforce nothing on the wire, so a resource is
// realised once its spec is checked and recorded (what a KVM host turns
// into nftables rules, a router namespace and NAT entries).
type netResources struct {
	mu      sync.Mutex
	groups  map[string]proxies.SecurityGroupSpec
	routers map[string]proxies.RouterSpec
	fips    map[string]proxies.FloatingIPSpec
}

func newNetResources() *netResources {
	return &netResources{
		groups:  make(map[string]proxies.SecurityGroupSpec),
		routers: make(map[string]proxies.RouterSpec),
		fips:    make(map[string]proxies.FloatingIPSpec),
	}
}

// domainNICGroups is the optional HostDriver pair behind the pool's
// security groups and floating IPs: reading a domain's NICs and setting the
// groups of one of them (nftables sets on a KVM host).
type domainNICGroups interface {
	DomainNICs(ctx context.Context, id string) ([]proxies.NIC, error)
	SetDomainNICGroups(ctx context.Context, id, portID string, groups []string) error
}

var (
	_ proxies.SecurityGroupDriver = (*Pool)(nil)
	_ domainNICGroups             = (*SimulatedHost)(nil)
)

// protocolNames are the protocol names Neutron accepts in a rule.
var protocolNames = []string{"ah", "dccp", "egp", "esp", "gre", "hopopt", "icmp", "icmpv6", "igmp", "ipip",
	"ipv6-encap", "ipv6-frag", "ipv6-icmp", "ipv6-nonxt", "ipv6-opts", "ipv6-route", "ospf", "pgm", "rsvp",
	"sctp", "tcp", "udp", "udplite", "vrrp", "any"}

// checkRule validates one rule as Neutron would.
func checkRule(op, groupID string, r proxies.SecurityGroupRule) error {
	bad := func(format string, args ...any) error {
		return proxies.Errorf(proxies.ErrInvalid, op, "security group %s: rule %s: "+format, append([]any{groupID, r.ID}, args...)...)
	}
	if r.Direction != "ingress" && r.Direction != "egress" {
		return bad("direction %q is not ingress or egress", r.Direction)
	}
	if r.EtherType != "IPv4" && r.EtherType != "IPv6" {
		return bad("ethertype %q is not IPv4 or IPv6", r.EtherType)
	}
	if r.Protocol != "" && !slices.Contains(protocolNames, r.Protocol) {
		n, err := strconv.Atoi(r.Protocol)
		if err != nil || n < 0 || n > 255 {
			return bad("protocol %q is not a protocol name or a number 0-255", r.Protocol)
		}
	}
	if r.RemoteIPPrefix != "" && r.RemoteGroupID != "" {
		return bad("remote_ip_prefix and remote_group_id are exclusive")
	}
	if r.RemoteIPPrefix != "" {
		pfx, err := netip.ParsePrefix(r.RemoteIPPrefix)
		if err != nil {
			return bad("remote_ip_prefix %q is not a CIDR", r.RemoteIPPrefix)
		}
		if pfx.Addr().Is4() != (r.EtherType == "IPv4") {
			return bad("remote_ip_prefix %s does not match ethertype %s", r.RemoteIPPrefix, r.EtherType)
		}
	}
	switch r.Protocol {
	case "tcp", "udp", "sctp", "dccp", "udplite", "6", "17", "132", "33", "136":
		if r.PortMin < 0 || r.PortMax < 0 || r.PortMin > 65535 || r.PortMax > 65535 || (r.PortMax != 0 && r.PortMin > r.PortMax) {
			return bad("port range %d-%d is not within 0-65535 in order", r.PortMin, r.PortMax)
		}
	case "icmp", "icmpv6", "ipv6-icmp", "1", "58":
		if r.PortMin < -1 || r.PortMin > 255 || r.PortMax < -1 || r.PortMax > 255 {
			return bad("icmp type %d / code %d is not within -1-255", r.PortMin, r.PortMax)
		}
	default:
		if r.PortMin != 0 || r.PortMax != 0 {
			return bad("a port range needs protocol tcp, udp, sctp or icmp")
		}
	}
	return nil
}

// EnsureSecurityGroup realises the group, or converges the realised one to
// spec (exactly spec's rules). The bottom id never changes.
func (p *Pool) EnsureSecurityGroup(ctx context.Context, spec proxies.SecurityGroupSpec) (proxies.SecurityGroupStatus, error) {
	const op = "EnsureSecurityGroup"
	if spec.ID == "" {
		return proxies.SecurityGroupStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the security group needs an id")
	}
	for _, r := range spec.Rules {
		if err := checkRule(op, spec.ID, r); err != nil {
			return proxies.SecurityGroupStatus{}, err
		}
	}
	spec.Rules = slices.Clone(spec.Rules)
	spec.NetworkIDs = slices.Clone(spec.NetworkIDs)
	p.netres.mu.Lock()
	p.netres.groups[spec.ID] = spec
	p.netres.mu.Unlock()
	return proxies.SecurityGroupStatus{ID: spec.ID, BottomID: groupBottomID(spec.ID)}, nil
}

// SecurityGroup returns the realised spec of group id (for tests and the
// host agent).
func (p *Pool) SecurityGroup(id string) (proxies.SecurityGroupSpec, bool) {
	p.netres.mu.Lock()
	defer p.netres.mu.Unlock()
	g, ok := p.netres.groups[id]
	return g, ok
}

// DeleteSecurityGroup removes the group unless a NIC of the pool uses it.
func (p *Pool) DeleteSecurityGroup(ctx context.Context, id string) error {
	const op = "DeleteSecurityGroup"
	p.netres.mu.Lock()
	_, ok := p.netres.groups[id]
	p.netres.mu.Unlock()
	if !ok {
		return nil
	}
	users, err := p.groupUsers(ctx, id)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return proxies.Errorf(proxies.ErrConflict, op, "Security Group %s in use by server %s.", id, users[0])
	}
	p.netres.mu.Lock()
	delete(p.netres.groups, id)
	p.netres.mu.Unlock()
	return nil
}

// groupUsers lists the servers with a NIC that uses group id.
func (p *Pool) groupUsers(ctx context.Context, id string) ([]string, error) {
	var users []string
	for _, sid := range p.serverIDs() {
		nics, err := p.serverNICs(ctx, "DeleteSecurityGroup", sid)
		if err != nil {
			continue // gone meanwhile
		}
		if slices.ContainsFunc(nics, func(n proxies.NIC) bool { return slices.Contains(n.SecurityGroupIDs, id) }) {
			users = append(users, sid)
		}
	}
	return users, nil
}

// SetNICSecurityGroups makes server serverID's NIC for portID use exactly
// groupIDs, which must be realised in the pool.
func (p *Pool) SetNICSecurityGroups(ctx context.Context, serverID, portID string, groupIDs []string) error {
	const op = "SetNICSecurityGroups"
	if err := p.checkGroups(op, groupIDs); err != nil {
		return err
	}
	h, err := p.host(op, serverID)
	if err != nil {
		return err
	}
	g, ok := h.(domainNICGroups)
	if !ok {
		return proxies.Errorf(proxies.ErrNotSupported, op, "host %s cannot filter traffic", h.Name())
	}
	return g.SetDomainNICGroups(ctx, serverID, portID, slices.Clone(groupIDs))
}

// checkGroups refuses group ids the pool has not realised.
func (p *Pool) checkGroups(op string, ids []string) error {
	p.netres.mu.Lock()
	defer p.netres.mu.Unlock()
	for _, id := range ids {
		if _, ok := p.netres.groups[id]; !ok {
			return proxies.Errorf(proxies.ErrInvalid, op, "security group %s is not realised in this cloud", id)
		}
	}
	return nil
}

// checkNICGroups refuses NICs that name groups the pool has not realised.
func (p *Pool) checkNICGroups(op string, nics []proxies.NIC) error {
	for _, n := range nics {
		if err := p.checkGroups(op, n.SecurityGroupIDs); err != nil {
			return err
		}
	}
	return nil
}

// serverIDs is the top id of every server the pool routes.
func (p *Pool) serverIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.routes))
	for id := range p.routes {
		out = append(out, id)
	}
	return out
}

// serverNICs is the NICs of server id.
func (p *Pool) serverNICs(ctx context.Context, op, id string) ([]proxies.NIC, error) {
	h, err := p.host(op, id)
	if err != nil {
		return nil, err
	}
	g, ok := h.(domainNICGroups)
	if !ok {
		return nil, proxies.Errorf(proxies.ErrNotSupported, op, "host %s does not report interfaces", h.Name())
	}
	return g.DomainNICs(ctx, id)
}

func groupBottomID(id string) string { return "sg-" + id }

// DomainNICs reports the NICs of a simulated server.
func (h *SimulatedHost) DomainNICs(ctx context.Context, id string) ([]proxies.NIC, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.lookup("DomainNICs", id)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(d.spec.NICs)
	for i := range out {
		out[i].SecurityGroupIDs = slices.Clone(out[i].SecurityGroupIDs)
		out[i].FixedIPs = slices.Clone(out[i].FixedIPs)
	}
	return out, nil
}

// SetDomainNICGroups sets the groups of one NIC of a simulated server.
func (h *SimulatedHost) SetDomainNICGroups(ctx context.Context, id, portID string, groups []string) error {
	const op = "SetNICSecurityGroups"
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.lookup(op, id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(d.spec.NICs, func(n proxies.NIC) bool { return n.PortID == portID })
	if i < 0 {
		return proxies.Errorf(proxies.ErrNotFound, op, "Instance %s does not have a port with id %s", id, portID)
	}
	nics := slices.Clone(d.spec.NICs)
	nics[i].SecurityGroupIDs = groups
	d.spec.NICs = nics
	return nil
}
