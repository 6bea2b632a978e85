package network

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

var ruleFilters = []string{"id", "security_group_id", "remote_group_id", "direction", "protocol", "port_range_min",
	"port_range_max", "ethertype", "remote_ip_prefix", "description", "project_id", "tenant_id", "revision_number",
	"created_at", "updated_at"}

var ruleCreateAttrs = []string{"security_group_id", "remote_group_id", "direction", "protocol", "port_range_min",
	"port_range_max", "ethertype", "remote_ip_prefix", "description", "project_id", "tenant_id"}

// protocolNumbers is neutron_lib's IP_PROTOCOL_MAP, in its order (the order
// Neutron's error message lists them in).
var protocolNumbers = []struct {
	name string
	num  int
}{
	{"ah", 51}, {"dccp", 33}, {"egp", 8}, {"esp", 50}, {"gre", 47}, {"hopopt", 0}, {"icmp", 1}, {"igmp", 2},
	{"ip", 0}, {"ipip", 4}, {"ipv6-encap", 41}, {"ipv6-frag", 44}, {"ipv6-icmp", 58}, {"icmpv6", 58},
	{"ipv6-nonxt", 59}, {"ipv6-opts", 60}, {"ipv6-route", 43}, {"ospf", 89}, {"pgm", 113}, {"rsvp", 46},
	{"sctp", 132}, {"tcp", 6}, {"udp", 17}, {"udplite", 136}, {"vrrp", 112},
}

// portProtocols are the protocols whose rules take port ranges.
var portProtocols = []int{33, 132, 6, 17, 136}

// ipv6OnlyProtocols may not be used with ethertype IPv4.
var ipv6OnlyProtocols = []string{"ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts",
	"ipv6-route", "41", "44", "58", "59", "60", "43"}

func protocolNumber(p string) (int, bool) {
	for _, e := range protocolNumbers {
		if e.name == p {
			return e.num, true
		}
	}
	n, err := strconv.Atoi(p)
	return n, err == nil
}

func supportedProtocols() string {
	parts := []string{"None", "'any'"}
	for _, e := range protocolNumbers {
		parts = append(parts, "'"+e.name+"'")
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func renderRule(g *secGroup, r *sgRule) map[string]any {
	var proto, prefix, remote any
	if r.Protocol != "" {
		proto = r.Protocol
	}
	if r.RemoteIPPrefix != "" {
		prefix = r.RemoteIPPrefix
	}
	if r.RemoteGroupID != "" {
		remote = r.RemoteGroupID
	}
	return map[string]any{
		"id": r.ID, "security_group_id": g.ID, "direction": r.Direction, "ethertype": r.Ethertype,
		"protocol": proto, "port_range_min": r.PortRangeMin, "port_range_max": r.PortRangeMax,
		"remote_ip_prefix": prefix, "remote_group_id": remote, "description": r.Description,
		"tags": []string{}, "project_id": r.ProjectID, "tenant_id": r.ProjectID,
		"revision_number": r.Revision, "created_at": stamp(r.Created), "updated_at": stamp(r.Updated),
	}
}

func ruleNotFound(id string) *wire.Error {
	return wire.NotFound("Security group rule %s does not exist", id).WithType("SecurityGroupRuleNotFound")
}

// rule finds a rule by id through its reference record.
func (s *Service) rule(ctx context.Context, p *wire.Principal, id string) (*secGroup, *sgRule, error) {
	ref, err := s.ruleRefs.Lookup(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil, ruleNotFound(id)
	}
	if err != nil {
		return nil, nil, err
	}
	g, err := s.secGroups.Get(ctx, ref.Project, ref.Value.GroupID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil, ruleNotFound(id)
	}
	if err != nil {
		return nil, nil, err
	}
	for i := range g.Rules {
		if g.Rules[i].ID == id && (canSeeGroup(p, g) || g.Rules[i].ProjectID == p.ProjectID) {
			return g, &g.Rules[i], nil
		}
	}
	return nil, nil, ruleNotFound(id)
}

func (s *Service) listRules(w http.ResponseWriter, r *http.Request) error {
	lq, err := parseList(r, ruleFilters)
	if err != nil {
		return err
	}
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	scope := p.ProjectID
	if p.IsAdmin() {
		scope = "*"
	} else if _, err := s.ensureDefaultGroup(ctx, p.ProjectID); err != nil {
		return err
	}
	groups, err := s.secGroups.List(ctx, scope, registry.Page{})
	if err != nil {
		return err
	}
	var items []map[string]any
	for _, g := range groups {
		for i := range g.Rules {
			items = append(items, renderRule(g, &g.Rules[i]))
		}
	}
	return respond(w, r, lq, "security_group_rules", "SecurityGroupRule", items)
}

func (s *Service) showRule(w http.ResponseWriter, r *http.Request) error {
	g, rule, err := s.rule(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"security_group_rule": project(renderRule(g, rule), showFields(r))})
	return nil
}

// parseRule converts and validates a rule body in Neutron's order: the
// attribute converters (protocol, ports, ethertype, prefix), then the
// attribute validators, then the rule-level checks.
func parseRule(a attrs) (rule sgRule, groupID string, err error) {
	rule.Ethertype = "IPv4"
	if a.has("protocol") && !a.isNull("protocol") {
		var v any
		_ = json.Unmarshal(a["protocol"], &v)
		ok := false
		switch x := v.(type) {
		case string:
			low := strings.ToLower(x)
			if n, err := strconv.Atoi(x); err == nil {
				rule.Protocol, ok = x, n >= 0 && n <= 255
			} else if _, known := protocolNumber(low); known || low == "any" {
				rule.Protocol, ok = low, true
			}
		case float64:
			if x == float64(int(x)) && x >= 0 && x <= 255 {
				rule.Protocol, ok = strconv.Itoa(int(x)), true
			}
		}
		if !ok {
			return rule, "", wire.BadRequest("Security group rule protocol %s not supported. Only protocol values %s and integer representations [0 to 255] are supported.",
				strings.Trim(string(a["protocol"]), `"`), supportedProtocols()).WithType("SecurityGroupRuleInvalidProtocol")
		}
		if rule.Protocol == "any" {
			rule.Protocol = ""
		}
	}
	for _, f := range []struct {
		name string
		dst  **int
	}{{"port_range_min", &rule.PortRangeMin}, {"port_range_max", &rule.PortRangeMax}} {
		if !a.has(f.name) || a.isNull(f.name) {
			continue
		}
		var v any
		_ = json.Unmarshal(a[f.name], &v)
		n, ok := 0, false
		switch x := v.(type) {
		case float64:
			n, ok = int(x), x == float64(int(x))
		case string:
			var err error
			n, err = strconv.Atoi(x)
			ok = err == nil
		}
		if !ok || n < 0 || n > 65535 {
			return rule, "", invalidRuleValue("SecurityGroupInvalidPortValue", "Invalid value for port %s", strings.Trim(string(a[f.name]), `"`))
		}
		*f.dst = &n
	}
	if a.has("ethertype") && !a.isNull("ethertype") {
		var v string
		_ = json.Unmarshal(a["ethertype"], &v)
		switch strings.ToLower(v) {
		case "ipv4":
			rule.Ethertype = "IPv4"
		case "ipv6":
			rule.Ethertype = "IPv6"
		default:
			return rule, "", invalidRuleValue("SecurityGroupRuleInvalidEtherType",
				"Security group rule for ethertype '%s' not supported. Allowed values are ['IPv4', 'IPv6'].", strings.Trim(string(a["ethertype"]), `"`))
		}
	}
	var prefix netip.Prefix
	if v, err := a.str("remote_ip_prefix", 0); err != nil {
		return rule, "", err
	} else if v != nil && *v != "" {
		prefix, err = parseRemotePrefix(*v)
		if err != nil {
			return rule, "", err
		}
		rule.RemoteIPPrefix = prefix.String()
	}
	sg, err := a.str("security_group_id", 36)
	if err != nil {
		return rule, "", err
	}
	if sg == nil {
		return rule, "", required("security_group_id")
	}
	dir, err := a.str("direction", 0)
	if err != nil {
		return rule, "", err
	}
	if dir == nil {
		return rule, "", required("direction")
	}
	if *dir != "ingress" && *dir != "egress" {
		return rule, "", invalidAttr("direction", "'%s' is not in ['ingress', 'egress']", *dir)
	}
	rule.Direction = *dir
	if v, err := a.str("remote_group_id", 0); err != nil {
		return rule, "", err
	} else if v != nil {
		rule.RemoteGroupID = *v
	}
	if v, err := a.str("description", 255); err != nil {
		return rule, "", err
	} else if v != nil {
		rule.Description = *v
	}
	return rule, *sg, validateRule(&rule, prefix)
}

func invalidRuleValue(typ, format string, args ...any) *wire.Error {
	return wire.BadRequest(format, args...).WithType(typ)
}

// parseRemotePrefix reads a remote_ip_prefix as netaddr.IPNetwork does: a
// CIDR (host bits kept) or a bare address (a /32 or /128).
func parseRemotePrefix(v string) (netip.Prefix, error) {
	bad := invalidRuleValue("InvalidCIDR", "Invalid CIDR %s given as IP prefix.", v)
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, bad
		}
		return p, nil
	}
	ip, err := netip.ParseAddr(v)
	if err != nil || ip.Zone() != "" {
		return netip.Prefix{}, bad
	}
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// validateRule is Neutron's _validate_base_security_group_rule_attributes.
func validateRule(r *sgRule, prefix netip.Prefix) error {
	if r.Ethertype == "IPv6" && (r.Protocol == "icmp" || r.Protocol == "icmpv6") {
		r.Protocol = "ipv6-icmp"
	} else if r.Ethertype == "IPv6" && r.Protocol == "1" {
		r.Protocol = "58"
	}
	if r.PortRangeMin != nil && r.PortRangeMax != nil && *r.PortRangeMin == 1 && *r.PortRangeMax == 65535 {
		r.PortRangeMin, r.PortRangeMax = nil, nil
	}
	if err := validatePortRange(r); err != nil {
		return err
	}
	if prefix.IsValid() && (prefix.Addr().Is4() != (r.Ethertype == "IPv4")) {
		return invalidRuleValue("SecurityGroupRuleParameterConflict", "Conflicting value ethertype %s for CIDR %s", r.Ethertype, r.RemoteIPPrefix)
	}
	if r.Ethertype == "IPv4" && slices.Contains(ipv6OnlyProtocols, r.Protocol) {
		return invalidRuleValue("SecurityGroupEthertypeConflictWithProtocol", "Invalid ethertype %s for protocol %s.", r.Ethertype, r.Protocol)
	}
	if r.RemoteIPPrefix != "" && r.RemoteGroupID != "" {
		return invalidRuleValue("SecurityGroupMultipleRemoteEntites", "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.")
	}
	return nil
}

func validatePortRange(r *sgRule) error {
	lo, hi := r.PortRangeMin, r.PortRangeMax
	if lo == nil && hi == nil {
		return nil
	}
	if r.Protocol == "" {
		return invalidRuleValue("SecurityGroupProtocolRequiredWithPorts", "Must also specify protocol if port range is given.")
	}
	num, _ := protocolNumber(r.Protocol)
	switch {
	case slices.Contains(portProtocols, num):
		if lo != nil && *lo == 0 || hi != nil && *hi == 0 {
			return invalidRuleValue("SecurityGroupInvalidPortValue", "Invalid value for port 0")
		}
		if lo == nil || hi == nil || *lo > *hi {
			return invalidRuleValue("SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max")
		}
	case num == 1 || num == 58:
		for _, f := range []struct {
			v           *int
			field, attr string
		}{{lo, "type", "port_range_min"}, {hi, "code", "port_range_max"}} {
			if f.v != nil && *f.v > 255 {
				return invalidRuleValue("SecurityGroupInvalidIcmpValue", "Invalid value for ICMP %s (%s) %d. It must be 0 to 255.", f.field, f.attr, *f.v)
			}
		}
		if lo == nil && hi != nil {
			return invalidRuleValue("SecurityGroupMissingIcmpType", "ICMP code (port-range-max) %d is provided but ICMP type (port-range-min) is missing.", *hi)
		}
	default:
		return invalidRuleValue("SecurityGroupInvalidProtocolForPort", "Ports cannot be specified for protocol %d. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE.", num)
	}
	return nil
}

// ruleKey is Neutron's _rule_to_key: two rules with the same key are
// duplicates (protocol compared by number, 0.0.0.0/0 and ::/0 as no prefix).
func ruleKey(r *sgRule) string {
	proto := r.Protocol
	if n, ok := protocolNumber(proto); ok && proto != "" {
		if r.Ethertype == "IPv6" && n == 1 {
			n = 58
		}
		proto = strconv.Itoa(n)
	}
	prefix := r.RemoteIPPrefix
	if prefix == "0.0.0.0/0" || prefix == "::/0" {
		prefix = ""
	}
	port := func(p *int) string {
		if p == nil {
			return "+"
		}
		return strconv.Itoa(*p)
	}
	return strings.Join([]string{r.Direction, r.Ethertype, port(r.PortRangeMax), port(r.PortRangeMin), proto, r.RemoteGroupID, prefix}, "_")
}

func (s *Service) createRule(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	if !p.CanWrite() {
		return policyDenied("create_security_group_rule")
	}
	a, err := readBody(r, "security_group_rule", ruleCreateAttrs)
	if err != nil {
		return err
	}
	projectID, err := a.project(p, "create_security_group_rule")
	if err != nil {
		return err
	}
	rule, groupID, err := parseRule(a)
	if err != nil {
		return err
	}
	owner := &wire.Principal{ProjectID: projectID, Roles: p.Roles}
	if rule.RemoteGroupID != "" {
		if _, err := s.group(ctx, owner, rule.RemoteGroupID); err != nil {
			return err
		}
	}
	g, err := s.group(ctx, owner, groupID)
	if err != nil {
		return err
	}
	now := s.now()
	rule.ID, rule.ProjectID, rule.Created, rule.Updated = s.opts.NewID(), projectID, now, now
	release, err := s.reserveQuota(ctx, g.ProjectID, quotaSecGroupRule, rule.ID)
	if err != nil {
		return err
	}
	defer release()
	groupProject := g.ProjectID
	if err := s.ruleRefs.Create(ctx, groupProject, rule.ID, now, &sgRuleRef{ID: rule.ID, GroupID: g.ID}); err != nil {
		return err
	}
	key := ruleKey(&rule)
	g, err = s.secGroups.Update(ctx, g.ProjectID, g.ID, func(cur *secGroup) error {
		for _, o := range cur.Rules {
			if ruleKey(&o) == key {
				return conflict("SecurityGroupRuleExists", "Security group rule already exists. Rule id is %s.", o.ID)
			}
		}
		cur.Rules = append(cur.Rules, rule)
		cur.Revision++
		cur.Updated = now
		return nil
	})
	if err != nil {
		_ = s.ruleRefs.Delete(context.WithoutCancel(ctx), groupProject, rule.ID)
		if errors.Is(err, registry.ErrNotFound) {
			return secGroupNotFound(groupID)
		}
		return err
	}
	s.groupChanged(ctx, g.ProjectID, g.ID)
	wire.WriteJSON(w, http.StatusCreated, map[string]any{"security_group_rule": renderRule(g, &rule)})
	return nil
}

func (s *Service) deleteRule(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	id := r.PathValue("id")
	g, _, err := s.rule(ctx, p, id)
	if err != nil {
		return err
	}
	if !p.CanWrite() {
		return policyDenied("delete_security_group_rule")
	}
	_, err = s.secGroups.Update(ctx, g.ProjectID, g.ID, func(cur *secGroup) error {
		i := slices.IndexFunc(cur.Rules, func(x sgRule) bool { return x.ID == id })
		if i < 0 {
			return ruleNotFound(id)
		}
		cur.Rules = slices.Delete(cur.Rules, i, i+1)
		cur.Revision++
		cur.Updated = s.now()
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return ruleNotFound(id)
	}
	if err != nil {
		return err
	}
	if err := s.ruleRefs.Delete(ctx, g.ProjectID, id); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	s.groupChanged(ctx, g.ProjectID, g.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
