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
	mu sync.Mutex
	// pushMu orders pushes to filtering hosts: each reads the groups and
	// their members and gives them to the hosts as one step, so a push
	// that read older members never lands after one that read newer.
	pushMu  sync.Mutex
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
// groups of one of them (its port's nwfilter on a KVM host).
type domainNICGroups interface {
	DomainNICs(ctx context.Context, id string) ([]proxies.NIC, error)
	SetDomainNICGroups(ctx context.Context, id, portID string, groups []string) error
}

// SecurityGroupHost is the optional HostDriver that enforces security
// groups on the wire (a KVM host: libvirt nwfilters). The pool gives it
// every group it realises, and again whenever a group's rules or the
// members of a group its rules name as remote group change; remote-group
// rules arrive expanded into one rule per member address (the pool knows
// the members from its NICs). A NIC's groups then reach the host through
// domainNICGroups.SetDomainNICGroups, or with the NIC itself at create and
// attach. Hosts that do not implement it (bare metal) cannot filter: the
// pool refuses groups other than a project's default one on them.
type SecurityGroupHost interface {
	// SetGroups defines or redefines the filter of each group. Idempotent.
	SetGroups(ctx context.Context, groups []proxies.SecurityGroupSpec) error
	// DeleteGroup removes the filter of group id; nil when it is gone.
	DeleteGroup(ctx context.Context, id string) error
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
	if err := p.pushGroups(ctx, p.filterHosts(), []string{spec.ID}); err != nil {
		return proxies.SecurityGroupStatus{}, err
	}
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
	for _, h := range p.filterHosts() {
		if err := h.DeleteGroup(ctx, id); err != nil {
			return err
		}
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
		if err := p.checkUnfiltered(op, h, portID, groupIDs); err != nil {
			return err
		}
		return nil // only the default group, on a host that cannot filter
	}
	var before []string
	filtering := len(p.filterHosts()) > 0
	if filtering {
		nics, err := g.DomainNICs(ctx, serverID)
		if err != nil {
			return err
		}
		for _, n := range nics {
			if n.PortID == portID {
				before = n.SecurityGroupIDs
			}
		}
		if sh, ok := h.(SecurityGroupHost); ok {
			if err := p.pushGroups(ctx, []SecurityGroupHost{sh}, groupIDs); err != nil {
				return err
			}
		}
	}
	if err := g.SetDomainNICGroups(ctx, serverID, portID, slices.Clone(groupIDs)); err != nil {
		return err
	}
	if filtering {
		p.membersChanged(ctx, append(slices.Clone(before), groupIDs...))
	}
	return nil
}

// filterHosts are the pool's hosts that enforce groups on the wire.
func (p *Pool) filterHosts() []SecurityGroupHost {
	var out []SecurityGroupHost
	for _, h := range p.order {
		if sh, ok := h.(SecurityGroupHost); ok {
			out = append(out, sh)
		}
	}
	return out
}

// checkUnfiltered refuses, on host h that cannot filter traffic (bare
// metal), every group but a project's default one: its rules would not be
// enforced. The default group is let through as the broker lets it through
// to clouds without security groups.
func (p *Pool) checkUnfiltered(op string, h HostDriver, portID string, groupIDs []string) error {
	if _, ok := h.(domainNICGroups); ok {
		return nil
	}
	p.netres.mu.Lock()
	defer p.netres.mu.Unlock()
	for _, id := range groupIDs {
		if g, ok := p.netres.groups[id]; !ok || g.Name != "default" {
			return proxies.Errorf(proxies.ErrConflict, op, "Host %s cannot enforce security groups; port %s uses security group %s.", h.Name(), portID, id)
		}
	}
	return nil
}

// nicGroups is every group the NICs use.
func nicGroups(nics []proxies.NIC) []string {
	var out []string
	for _, n := range nics {
		out = append(out, n.SecurityGroupIDs...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// pushGroups gives hosts the filters of groups ids, with their remote-group
// rules expanded to the members' addresses.
func (p *Pool) pushGroups(ctx context.Context, hosts []SecurityGroupHost, ids []string) error {
	if len(hosts) == 0 || len(ids) == 0 {
		return nil
	}
	p.netres.pushMu.Lock()
	defer p.netres.pushMu.Unlock()
	p.netres.mu.Lock()
	specs := make([]proxies.SecurityGroupSpec, 0, len(ids))
	remote := map[string]bool{}
	for _, id := range ids {
		g, ok := p.netres.groups[id]
		if !ok {
			continue
		}
		specs = append(specs, g)
		for _, r := range g.Rules {
			if r.RemoteGroupID != "" {
				remote[r.RemoteGroupID] = true
			}
		}
	}
	p.netres.mu.Unlock()
	members := map[string][]string{}
	if len(remote) > 0 {
		members = p.groupMembers(ctx, remote)
	}
	for i := range specs {
		specs[i] = expandRemoteGroups(specs[i], members)
	}
	for _, h := range hosts {
		if err := h.SetGroups(ctx, specs); err != nil {
			return err
		}
	}
	return nil
}

// membersChanged re-pushes, after the members of groups changed (a NIC
// joined or left them), every group whose rules name one of them as
// remote group. A failure is logged: the NIC change itself is done, and
// the next change or ensure of the group converges it.
func (p *Pool) membersChanged(ctx context.Context, changed []string) {
	hosts := p.filterHosts()
	if len(hosts) == 0 || len(changed) == 0 {
		return
	}
	p.netres.mu.Lock()
	var affected []string
	for id, g := range p.netres.groups {
		if slices.ContainsFunc(g.Rules, func(r proxies.SecurityGroupRule) bool {
			return r.RemoteGroupID != "" && slices.Contains(changed, r.RemoteGroupID)
		}) {
			affected = append(affected, id)
		}
	}
	p.netres.mu.Unlock()
	slices.Sort(affected)
	if err := p.pushGroups(ctx, hosts, affected); err != nil {
		p.log.Warn("could not update the remote-group rules of security groups", "cloud", p.name, "groups", affected, "err", err)
	}
}

// groupMembers maps each group of want to the fixed addresses of the NICs
// in the pool that use it.
func (p *Pool) groupMembers(ctx context.Context, want map[string]bool) map[string][]string {
	out := map[string][]string{}
	for _, sid := range p.createdServerIDs() {
		nics, err := p.serverNICs(ctx, "SecurityGroupMembers", sid)
		if err != nil {
			continue // gone meanwhile, or a host that reports no NICs
		}
		for _, n := range nics {
			for _, g := range n.SecurityGroupIDs {
				if want[g] {
					out[g] = append(out[g], n.FixedIPs...)
				}
			}
		}
	}
	for g, ips := range out {
		slices.Sort(ips)
		out[g] = slices.Compact(ips)
	}
	return out
}

// expandRemoteGroups replaces each rule naming a remote group by one rule
// per member address of the rule's ethertype (a host route: /32, /128). A
// remote group with no members matches nothing, so its rules vanish.
func expandRemoteGroups(g proxies.SecurityGroupSpec, members map[string][]string) proxies.SecurityGroupSpec {
	rules := make([]proxies.SecurityGroupRule, 0, len(g.Rules))
	for _, r := range g.Rules {
		if r.RemoteGroupID == "" {
			rules = append(rules, r)
			continue
		}
		for _, ip := range members[r.RemoteGroupID] {
			a, err := netip.ParseAddr(ip)
			if err != nil || a.Is4() != (r.EtherType == "IPv4") {
				continue
			}
			x := r
			x.RemoteGroupID, x.RemoteIPPrefix = "", netip.PrefixFrom(a, a.BitLen()).String()
			rules = append(rules, x)
		}
	}
	g.Rules = rules
	return g
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

// createdServerIDs is the top id of every server whose create has ended.
// Membership is read over these only: a server still being created joins
// its groups' members when its create ends (membersChanged), and waiting
// for it would deadlock its own create (which pushes its groups before
// the domain exists) and two creates that push at once.
func (p *Pool) createdServerIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.routes))
	for id, r := range p.routes {
		select {
		case <-r.ready:
			out = append(out, id)
		default:
		}
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
