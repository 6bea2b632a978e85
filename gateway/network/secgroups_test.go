package network_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/canopy-cloud/canopy/registry"
)

const (
	sgID     = "0b0d4b5e-1f7c-4d59-8c3c-6c1b8a0c0011"
	sgEgress = "0b0d4b5e-1f7c-4d59-8c3c-6c1b8a0c0012"
	sgEgr6   = "0b0d4b5e-1f7c-4d59-8c3c-6c1b8a0c0013"
	ruleID   = "0b0d4b5e-1f7c-4d59-8c3c-6c1b8a0c0014"
)

// secGroupFixture is a new group as Neutron returns it: Neutron's two
// egress rules come with every non-default group.
const secGroupFixture = `{"security_group": {
 "id": "` + sgID + `", "name": "web", "description": "web servers", "tags": [],
 "project_id": "demo-project", "tenant_id": "demo-project", "revision_number": 1,
 "created_at": "2026-11-29T06:31:42Z", "updated_at": "2026-11-29T06:31:42Z",
 "security_group_rules": [
  {"id": "` + sgEgress + `", "security_group_id": "` + sgID + `", "direction": "egress", "ethertype": "IPv4",
   "protocol": null, "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": null,
   "description": "", "tags": [], "project_id": "demo-project", "tenant_id": "demo-project", "revision_number": 0,
   "created_at": "2026-11-29T06:31:42Z", "updated_at": "2026-11-29T06:31:42Z"},
  {"id": "` + sgEgr6 + `", "security_group_id": "` + sgID + `", "direction": "egress", "ethertype": "IPv6",
   "protocol": null, "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": null,
   "description": "", "tags": [], "project_id": "demo-project", "tenant_id": "demo-project", "revision_number": 0,
   "created_at": "2026-11-29T06:31:42Z", "updated_at": "2026-11-29T06:31:42Z"}]}}`

const ruleFixture = `{"security_group_rule": {
 "id": "` + ruleID + `", "security_group_id": "` + sgID + `", "direction": "ingress", "ethertype": "IPv6",
 "protocol": "tcp", "port_range_min": 76, "port_range_max": 77, "remote_ip_prefix": "2001:db8::/64",
 "remote_group_id": null, "description": "", "tags": [], "project_id": "demo-project", "tenant_id": "demo-project",
 "revision_number": 0, "created_at": "2026-11-29T06:31:42Z", "updated_at": "2026-11-29T06:31:42Z"}}`

func TestSecurityGroupWire(t *testing.T) {
	e := newEnv(t, devRegistry(t), sgID, sgEgress, sgEgr6, ruleID)
	steps := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"create group", "POST", "/network/v2.0/security-groups", `{"security_group": {"name": "web", "description": "web servers"}}`, 201, secGroupFixture},
		{"show group", "GET", "/network/v2.0/security-groups/" + sgID, "", 200, secGroupFixture},
		{"create rule", "POST", "/network/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "` + sgID +
			`", "direction": "ingress", "ethertype": "ipv6", "protocol": "TCP", "port_range_min": 76, "port_range_max": "77", "remote_ip_prefix": "2001:db8::/64"}}`, 201, ruleFixture},
		{"show rule", "GET", "/network/v2.0/security-group-rules/" + ruleID, "", 200, ruleFixture},
	}
	for _, s := range steps {
		code, body := e.do("demo", s.method, s.path, s.body)
		if code != s.status {
			t.Fatalf("%s: status %d, want %d: %v", s.name, code, s.status, body)
		}
		if got, want := mustJSON(body), canonical(t, s.want); got != want {
			t.Fatalf("%s:\n got %s\nwant %s", s.name, got, want)
		}
	}
}

// TestDefaultSecurityGroup: listing makes the project's default group once,
// with exactly Neutron's four default rules, and ports get it.
func TestDefaultSecurityGroup(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	var wg sync.WaitGroup
	for range 8 { // concurrent first lists converge on one group
		wg.Add(1)
		go func() { defer wg.Done(); e.do("demo", "GET", "/network/v2.0/security-groups", "") }()
	}
	wg.Wait()
	_, body := e.do("demo", "GET", "/network/v2.0/security-groups?name=default", "")
	groups := body["security_groups"].([]any)
	if len(groups) != 1 {
		t.Fatalf("want one default group, got %d", len(groups))
	}
	g := groups[0].(map[string]any)
	if g["id"] != demoDefaultSG || g["description"] != "Default security group" {
		t.Fatalf("default group: %v", g)
	}
	var rules []string
	for _, r := range g["security_group_rules"].([]any) {
		r := r.(map[string]any)
		remote, _ := r["remote_group_id"].(string)
		rules = append(rules, r["direction"].(string)+"/"+r["ethertype"].(string)+"/"+remote)
	}
	want := "ingress/IPv4/" + demoDefaultSG + ",ingress/IPv6/" + demoDefaultSG + ",egress/IPv4/,egress/IPv6/"
	if got := strings.Join(rules, ","); got != want {
		t.Fatalf("default rules:\n got %s\nwant %s", got, want)
	}
	_, alt := e.do("alt", "GET", "/network/v2.0/security-groups", "")
	if n := len(alt["security_groups"].([]any)); n != 1 {
		t.Fatalf("alt sees %d groups, want only its own default", n)
	}
}

func TestSecurityGroupFaults(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	sg := e.mustCreate("demo", "/network/v2.0/security-groups", `{"security_group": {"name": "sg1"}}`)["id"].(string)
	sg2 := e.mustCreate("demo", "/network/v2.0/security-groups", `{"security_group": {"name": "sg2"}}`)["id"].(string)
	dup := e.mustCreate("demo", "/network/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+sg+`", "direction": "ingress", "protocol": "tcp", "port_range_min": 66, "port_range_max": 67}}`)["id"].(string)
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "security_groups": ["`+sg2+`"]}}`)
	const missing = "6f1e3c52-7a68-4fd4-9b1e-000000000000"
	rule := func(extra string) string {
		return `{"security_group_rule": {"security_group_id": "` + sg + `", "direction": "ingress"` + extra + `}}`
	}
	cases := []struct {
		name, token, method, path, body string
		status                          int
		typ, message                    string
	}{
		{"show missing group", "demo", "GET", "/network/v2.0/security-groups/" + missing, "", 404, "SecurityGroupNotFound", "Security group " + missing + " does not exist"},
		{"alt shows demo's group", "alt", "GET", "/network/v2.0/security-groups/" + sg, "", 404, "SecurityGroupNotFound", "Security group " + sg + " does not exist"},
		{"show missing rule", "demo", "GET", "/network/v2.0/security-group-rules/" + missing, "", 404, "SecurityGroupRuleNotFound", "Security group rule " + missing + " does not exist"},
		{"delete missing group", "demo", "DELETE", "/network/v2.0/security-groups/" + missing, "", 404, "SecurityGroupNotFound", "Security group " + missing + " does not exist"},
		{"create named default", "demo", "POST", "/network/v2.0/security-groups", `{"security_group": {"name": "Default"}}`, 409, "SecurityGroupDefaultAlreadyExists", "Default security group already exists."},
		{"rename to default", "demo", "PUT", "/network/v2.0/security-groups/" + sg, `{"security_group": {"name": "default"}}`, 409, "SecurityGroupDefaultAlreadyExists", "Default security group already exists."},
		{"rename the default group", "demo", "PUT", "/network/v2.0/security-groups/" + demoDefaultSG, `{"security_group": {"name": "x"}}`, 409, "SecurityGroupCannotUpdateDefault", "Updating default security group not allowed."},
		{"member deletes default", "demo", "DELETE", "/network/v2.0/security-groups/" + demoDefaultSG, "", 409, "SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group."},
		{"group in use", "demo", "DELETE", "/network/v2.0/security-groups/" + sg2, "", 409, "SecurityGroupInUse", "Security Group " + sg2 + " in use."},
		{"bad protocol", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "protocol": "bad_protocol_name"`), 400, "SecurityGroupRuleInvalidProtocol",
			"Security group rule protocol bad_protocol_name not supported. Only protocol values (None, 'any', 'ah', 'dccp', 'egp', 'esp', 'gre', 'hopopt', 'icmp', 'igmp', 'ip', 'ipip', 'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6', 'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', 'ospf', 'pgm', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp') and integer representations [0 to 255] are supported."},
		{"protocol 256", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "protocol": 256`), 400, "SecurityGroupRuleInvalidProtocol",
			"Security group rule protocol 256 not supported. Only protocol values (None, 'any', 'ah', 'dccp', 'egp', 'esp', 'gre', 'hopopt', 'icmp', 'igmp', 'ip', 'ipip', 'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6', 'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', 'ospf', 'pgm', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp') and integer representations [0 to 255] are supported."},
		{"bad ethertype", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "ethertype": "bad_ethertype"`), 400, "SecurityGroupRuleInvalidEtherType",
			"Security group rule for ethertype 'bad_ethertype' not supported. Allowed values are ['IPv4', 'IPv6']."},
		{"bad prefix", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "remote_ip_prefix": "192.168.1./24"`), 400, "InvalidCIDR", "Invalid CIDR 192.168.1./24 given as IP prefix."},
		{"prefix /33", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "remote_ip_prefix": "192.168.1.1/33"`), 400, "InvalidCIDR", "Invalid CIDR 192.168.1.1/33 given as IP prefix."},
		{"prefix 256", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "remote_ip_prefix": "256"`), 400, "InvalidCIDR", "Invalid CIDR 256 given as IP prefix."},
		{"prefix family", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "ethertype": "IPv6", "remote_ip_prefix": "10.100.0.0/16"`), 400,
			"SecurityGroupRuleParameterConflict", "Conflicting value ethertype IPv6 for CIDR 10.100.0.0/16"},
		{"prefix and group", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "` + sg2 + `"`), 400,
			"SecurityGroupMultipleRemoteEntites", "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided."},
		{"missing remote group", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "remote_group_id": "bad_group_id"`), 404, "SecurityGroupNotFound", "Security group bad_group_id does not exist"},
		{"missing group", "demo", "POST", "/network/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "` + missing + `", "direction": "ingress"}}`, 404,
			"SecurityGroupNotFound", "Security group " + missing + " does not exist"},
		{"negative port", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "protocol": "tcp", "port_range_min": -16, "port_range_max": 80`), 400, "SecurityGroupInvalidPortValue", "Invalid value for port -16"},
		{"port 65536", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "protocol": "tcp", "port_range_min": 80, "port_range_max": 65536`), 400, "SecurityGroupInvalidPortValue", "Invalid value for port 65536"},
		{"reversed range", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "protocol": "tcp", "port_range_min": 80, "port_range_max": 79`), 400,
			"SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max"},
		{"max without min", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "protocol": "tcp", "port_range_max": 6`), 400,
			"SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max"},
		{"icmp code 256", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "protocol": "icmp", "port_range_min": 1, "port_range_max": 256`), 400,
			"SecurityGroupInvalidIcmpValue", "Invalid value for ICMP code (port_range_max) 256. It must be 0 to 255."},
		{"icmp type 300", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "protocol": "icmp", "port_range_min": 300, "port_range_max": 1`), 400,
			"SecurityGroupInvalidIcmpValue", "Invalid value for ICMP type (port_range_min) 300. It must be 0 to 255."},
		{"icmp code without type", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "protocol": "icmp", "port_range_max": 6`), 400,
			"SecurityGroupMissingIcmpType", "ICMP code (port-range-max) 6 is provided but ICMP type (port-range-min) is missing."},
		{"ports without protocol", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "port_range_min": 22, "port_range_max": 22`), 400,
			"SecurityGroupProtocolRequiredWithPorts", "Must also specify protocol if port range is given."},
		{"ports on gre", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "protocol": "gre", "port_range_min": 22, "port_range_max": 22`), 400,
			"SecurityGroupInvalidProtocolForPort", "Ports cannot be specified for protocol 47. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE."},
		{"ipv6 protocol on IPv4", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "protocol": "ipv6-icmp"`), 400,
			"SecurityGroupEthertypeConflictWithProtocol", "Invalid ethertype IPv4 for protocol ipv6-icmp."},
		{"bad direction", "demo", "POST", "/network/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "` + sg + `", "direction": "up"}}`, 400,
			"HTTPBadRequest", "Invalid input for direction. Reason: 'up' is not in ['ingress', 'egress']"},
		{"missing direction", "demo", "POST", "/network/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "` + sg + `"}}`, 400,
			"HTTPBadRequest", "Failed to parse request. Required attribute 'direction' not specified"},
		{"duplicate rule", "demo", "POST", "/network/v2.0/security-group-rules", rule(`, "protocol": "6", "port_range_min": 66, "port_range_max": 67`), 409,
			"SecurityGroupRuleExists", "Security group rule already exists. Rule id is " + dup + "."},
		{"duplicate of the default egress", "demo", "POST", "/network/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "` + sg + `", "direction": "egress", "remote_ip_prefix": "0.0.0.0/0"}}`, 409,
			"SecurityGroupRuleExists", ""},
		{"port with unknown group", "demo", "POST", "/network/v2.0/ports", `{"port": {"network_id": "` + nid + `", "security_groups": ["` + missing + `"]}}`, 404,
			"SecurityGroupNotFound", "Security group " + missing + " does not exist"},
		{"port with alt's view of a group", "alt", "POST", "/network/v2.0/ports", `{"port": {"network_id": "` + nid + `", "security_groups": ["` + sg + `"]}}`, 404,
			"NetworkNotFound", "Network " + nid + " could not be found."},
		{"port group not a uuid", "demo", "POST", "/network/v2.0/ports", `{"port": {"network_id": "` + nid + `", "security_groups": ["web"]}}`, 400,
			"HTTPBadRequest", "Invalid input for security_groups. Reason: 'web' is not a valid UUID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(tc.token, tc.method, tc.path, tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %v", code, tc.status, body)
			}
			fault, _ := body["NeutronError"].(map[string]any)
			if fault["type"] != tc.typ || (tc.message != "" && fault["message"] != tc.message) || fault["detail"] != "" {
				t.Fatalf("fault %v, want type %s message %q", fault, tc.typ, tc.message)
			}
		})
	}
}

// TestRuleNormalisation checks the values Neutron stores for what tempest sends.
func TestRuleNormalisation(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	sg := e.mustCreate("demo", "/network/v2.0/security-groups", `{"security_group": {"name": "n"}}`)["id"].(string)
	cases := []struct {
		name, body, field string
		want              any
	}{
		{"protocol number as integer", `"protocol": 17`, "protocol", "17"},
		{"icmp on IPv6 becomes ipv6-icmp", `"protocol": "icmp", "ethertype": "IPv6"`, "protocol", "ipv6-icmp"},
		{"icmp code may be absent", `"protocol": "icmp", "port_range_min": 11`, "port_range_max", nil},
		{"full tcp range is no range", `"protocol": "tcp", "port_range_min": 1, "port_range_max": 65535`, "port_range_min", nil},
		{"bare address becomes /32", `"protocol": "tcp", "remote_ip_prefix": "10.1.2.3"`, "remote_ip_prefix", "10.1.2.3/32"},
		{"any protocol is null", `"protocol": "any", "remote_ip_prefix": "10.9.0.0/16"`, "protocol", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.mustCreate("demo", "/network/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+sg+`", "direction": "ingress", `+tc.body+`}}`)
			if got := r[tc.field]; mustJSON(got) != mustJSON(tc.want) {
				t.Fatalf("%s = %v, want %v", tc.field, got, tc.want)
			}
		})
	}
}

// TestSecurityGroupLifecycle: update, port group changes, rule and group
// deletes (rules naming a deleted group as remote go with it).
func TestSecurityGroupLifecycle(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	a := e.mustCreate("demo", "/network/v2.0/security-groups", `{"security_group": {"name": "a"}}`)["id"].(string)
	b := e.mustCreate("demo", "/network/v2.0/security-groups", `{"security_group": {"name": "b"}}`)["id"].(string)
	remote := e.mustCreate("demo", "/network/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+a+`", "direction": "ingress", "remote_group_id": "`+b+`"}}`)["id"].(string)
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	port := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`"}}`)
	if got := mustJSON(port["security_groups"]); got != `["`+demoDefaultSG+`"]` {
		t.Fatalf("new port groups %s, want the default group", got)
	}
	pid := port["id"].(string)
	code, body := e.do("demo", "PUT", "/network/v2.0/ports/"+pid, `{"port": {"security_groups": ["`+a+`", "`+b+`"], "name": "p"}}`)
	if code != 200 || mustJSON(body["port"].(map[string]any)["security_groups"]) != `["`+a+`","`+b+`"]` {
		t.Fatalf("update port groups: %d %v", code, body)
	}
	if code, _ := e.do("admin", "DELETE", "/network/v2.0/security-groups/"+demoDefaultSG, ""); code != http.StatusNoContent {
		t.Fatalf("admin deletes the default group no longer in use: %d", code)
	}
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/security-groups/"+b, ""); code != http.StatusConflict {
		t.Fatalf("delete group in use: %d", code)
	}
	if code, _ := e.do("demo", "PUT", "/network/v2.0/ports/"+pid, `{"port": {"security_groups": null}}`); code != 200 {
		t.Fatalf("clear port groups: %d", code)
	}
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/security-groups/"+b, ""); code != http.StatusNoContent {
		t.Fatalf("delete unused group: %d", code)
	}
	if code, _ := e.do("demo", "GET", "/network/v2.0/security-group-rules/"+remote, ""); code != http.StatusNotFound {
		t.Fatalf("rule naming the deleted group as remote survived: %d", code)
	}
	code, body = e.do("demo", "PUT", "/network/v2.0/security-groups/"+a, `{"security_group": {"name": "a2", "description": "d"}}`)
	if g := body["security_group"].(map[string]any); code != 200 || g["name"] != "a2" || g["description"] != "d" || len(g["security_group_rules"].([]any)) != 2 {
		t.Fatalf("update group: %d %v", code, body)
	}
	_, rules := e.do("demo", "GET", "/network/v2.0/security-group-rules?security_group_id="+a+"&direction=egress", "")
	for _, r := range rules["security_group_rules"].([]any) {
		rid := r.(map[string]any)["id"].(string)
		if code, _ := e.do("demo", "DELETE", "/network/v2.0/security-group-rules/"+rid, ""); code != http.StatusNoContent {
			t.Fatalf("delete rule: %d", code)
		}
		if code, _ := e.do("demo", "DELETE", "/network/v2.0/security-group-rules/"+rid, ""); code != http.StatusNotFound {
			t.Fatalf("delete rule twice: %d", code)
		}
	}
}

// TestGroupDeleteRacesPortCreate: a port created while its group is being
// deleted either blocks the delete or fails; it never keeps a dead group.
func TestGroupDeleteRacesPortCreate(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *registry.Registry{"dev": devRegistry, "redis": realRedis} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, open(t))
			nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "race"}}`)["id"].(string)
			e.mustCreate("demo", "/network/v2.0/subnets", `{"subnet": {"network_id": "`+nid+`", "ip_version": 4, "cidr": "10.77.0.0/24"}}`)
			for round := range 10 {
				sg := e.mustCreate("demo", "/network/v2.0/security-groups", `{"security_group": {"name": "r"}}`)["id"].(string)
				var wg sync.WaitGroup
				var portCode, delCode int
				var port map[string]any
				wg.Add(2)
				go func() {
					defer wg.Done()
					portCode, port = e.do("demo", "POST", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "security_groups": ["`+sg+`"]}}`)
				}()
				go func() { defer wg.Done(); delCode, _ = e.do("demo", "DELETE", "/network/v2.0/security-groups/"+sg, "") }()
				wg.Wait()
				switch {
				case portCode == 201 && delCode == 409:
					e.do("demo", "DELETE", "/network/v2.0/ports/"+port["port"].(map[string]any)["id"].(string), "")
					e.do("demo", "DELETE", "/network/v2.0/security-groups/"+sg, "")
				case portCode == 404 && delCode == 204:
				default:
					t.Fatalf("round %d: port %d, delete %d: the port may hold a deleted group", round, portCode, delCode)
				}
			}
			if code, _ := e.do("demo", "DELETE", "/network/v2.0/networks/"+nid, ""); code != 204 {
				t.Fatalf("cleanup: %d", code)
			}
		})
	}
}

func TestQuotas(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	const defaults = `{"quota": {"floatingip": 50, "network": 100, "port": 500, "router": 10, "security_group": 10, "security_group_rule": 100, "subnet": 100, "subnetpool": -1}}`
	if code, body := e.do("demo", "GET", "/network/v2.0/quotas/demo-project", ""); code != 200 || mustJSON(body) != canonical(t, defaults) {
		t.Fatalf("defaults: %d %v", code, body)
	}
	cases := []struct {
		name, token, method, path, body string
		status                          int
		typ                             string
	}{
		{"member reads another project", "demo", "GET", "/network/v2.0/quotas/alt-project", "", 403, "PolicyNotAuthorized"},
		{"member sets a quota", "demo", "PUT", "/network/v2.0/quotas/demo-project", `{"quota": {"network": 1}}`, 403, "PolicyNotAuthorized"},
		{"below -1", "admin", "PUT", "/network/v2.0/quotas/demo-project", `{"quota": {"network": -2}}`, 400, "HTTPBadRequest"},
		{"unknown resource", "admin", "PUT", "/network/v2.0/quotas/demo-project", `{"quota": {"volumes": 1}}`, 400, "HTTPBadRequest"},
		{"admin sets", "admin", "PUT", "/network/v2.0/quotas/demo-project", `{"quota": {"network": 1, "security_group": "1"}}`, 200, ""},
	}
	for _, tc := range cases {
		code, body := e.do(tc.token, tc.method, tc.path, tc.body)
		if code != tc.status {
			t.Fatalf("%s: %d %v", tc.name, code, body)
		}
		if fault, ok := body["NeutronError"].(map[string]any); ok && fault["type"] != tc.typ {
			t.Fatalf("%s: %v", tc.name, fault)
		}
	}
	e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "one"}}`)
	code, body := e.do("demo", "POST", "/network/v2.0/networks", `{"network": {"name": "two"}}`)
	if code != 409 || mustJSON(body) != canonical(t, `{"NeutronError": {"type": "OverQuota", "message": "Quota exceeded for resources: ['network'].", "detail": ""}}`) {
		t.Fatalf("over quota: %d %v", code, body)
	}
	// The default group counts: with a limit of one, no second group.
	if code, _ := e.do("demo", "POST", "/network/v2.0/security-groups", `{"security_group": {"name": "x"}}`); code != 409 {
		t.Fatalf("security group over quota: %d", code)
	}
	_, body = e.do("demo", "GET", "/network/v2.0/quotas/demo-project/details", "")
	if got := mustJSON(body["quota"].(map[string]any)["network"]); got != `{"limit":1,"reserved":0,"used":1}` {
		t.Fatalf("details: %s", got)
	}
	if code, _ := e.do("admin", "DELETE", "/network/v2.0/quotas/demo-project", ""); code != 204 {
		t.Fatalf("reset: %d", code)
	}
	e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "two"}}`)
}
