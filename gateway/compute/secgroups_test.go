package compute_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/broker/brokertest"
)

const (
	sgDefault = "5ec00000-0000-4000-8000-000000000001"
	sgWeb     = "5ec00000-0000-4000-8000-000000000002"
	sgTwinA   = "5ec00000-0000-4000-8000-000000000003"
	sgTwinB   = "5ec00000-0000-4000-8000-000000000004"
	sgTheirs  = "5ec00000-0000-4000-8000-000000000005"
)

func newSecGroups() *brokertest.SecurityGroups {
	port22 := 22
	return brokertest.NewSecurityGroups(
		broker.SecurityGroup{ID: sgDefault, Name: "default", Description: "Default security group", ProjectID: projectA,
			Rules: []broker.SecurityGroupRule{
				{ID: "r1", Direction: "ingress", RemoteGroup: "default", RemoteTenant: projectA},
				{ID: "r2", Direction: "egress"},
			}},
		broker.SecurityGroup{ID: sgWeb, Name: "web", ProjectID: projectA, Rules: []broker.SecurityGroupRule{
			{ID: "r3", Direction: "ingress", Protocol: "tcp", FromPort: &port22, ToPort: &port22, CIDR: "10.0.0.0/8"},
			{ID: "r4", Direction: "ingress", Protocol: "icmp"},
			{ID: "r5", Direction: "ingress", Protocol: "udp"},
		}},
		broker.SecurityGroup{ID: sgTwinA, Name: "twin", ProjectID: projectA},
		broker.SecurityGroup{ID: sgTwinB, Name: "twin", ProjectID: projectA},
		broker.SecurityGroup{ID: sgTheirs, Name: "theirs", ProjectID: projectB},
	)
}

// TestServerSecurityGroups drives addSecurityGroup, removeSecurityGroup and
// GET /servers/{id}/os-security-groups as tempest's
// SecurityGroupsTestJSON.test_server_security_groups does.
func TestServerSecurityGroups(t *testing.T) {
	h := newHarness(t)
	sg := newSecGroups()
	h.b.SetSecurityGroups(sg)
	id := h.boot(tokMember, createOSC)
	act := "/compute/v2.1/servers/" + id + "/action"
	list := "/compute/v2.1/servers/" + id + "/os-security-groups"
	names := func() []string {
		r := h.do("GET", list, tokMember, "", "")
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		var out []string
		for _, g := range r.json(t)["security_groups"].([]any) {
			out = append(out, g.(map[string]any)["name"].(string))
		}
		return out
	}
	cases := []struct {
		name, token, body string
		status            int
		text              string
		want              []string // group names listed after
	}{
		{"add by name", tokMember, `{"addSecurityGroup": {"name": "web"}}`, 202, "", []string{"default", "web"}},
		{"add again is a no-op", tokMember, `{"addSecurityGroup": {"name": "web"}}`, 202, "", []string{"default", "web"}},
		{"add unknown", tokMember, `{"addSecurityGroup": {"name": "nope"}}`, 404, "Security group nope not found", []string{"default", "web"}},
		{"add other project's", tokMember, `{"addSecurityGroup": {"name": "` + sgTheirs + `"}}`, 404, "not found", []string{"default", "web"}},
		{"add ambiguous name", tokMember, `{"addSecurityGroup": {"name": "twin"}}`, 409, "Multiple security groups", []string{"default", "web"}},
		{"add without name", tokMember, `{"addSecurityGroup": {}}`, 400, "'name' is a required property", []string{"default", "web"}},
		{"add empty name", tokMember, `{"addSecurityGroup": {"name": ""}}`, 400, "too short", []string{"default", "web"}},
		{"add by reader", tokReader, `{"addSecurityGroup": {"name": "web"}}`, 403, "", []string{"default", "web"}},
		{"remove by id", tokMember, `{"removeSecurityGroup": {"name": "` + sgWeb + `"}}`, 202, "", []string{"default"}},
		{"remove not associated", tokMember, `{"removeSecurityGroup": {"name": "web"}}`, 400, "not associated with the instance", []string{"default"}},
		{"remove default", tokMember, `{"removeSecurityGroup": {"name": "default"}}`, 202, "", nil},
	}
	for _, tc := range cases {
		r := h.do("POST", act, tc.token, "", tc.body)
		if r.status != tc.status || !strings.Contains(string(r.body), tc.text) {
			t.Fatalf("%s: %d %s, want %d with %q", tc.name, r.status, r.body, tc.status, tc.text)
		}
		if got := names(); !slices.Equal(got, tc.want) {
			t.Fatalf("%s: server groups %v, want %v", tc.name, got, tc.want)
		}
	}
	srv := h.do("GET", "/compute/v2.1/servers/"+id, tokMember, "", "").json(t)["server"].(map[string]any)
	if _, ok := srv["security_groups"]; ok {
		t.Errorf("server still shows security groups after removing all: %v", srv["security_groups"])
	}
	if r := h.do("GET", "/compute/v2.1/servers/"+id+"/os-security-groups", tokOther, "", ""); r.status != http.StatusNotFound {
		t.Errorf("other project lists the groups: %d", r.status)
	}
}

// TestSecurityGroupActionsWithoutNetwork: no network service wired in
// answers 501, never a silent success.
func TestSecurityGroupActionsWithoutNetwork(t *testing.T) {
	h := newHarness(t)
	id := h.boot(tokMember, createOSC)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/compute/v2.1/servers/" + id + "/action", `{"addSecurityGroup": {"name": "web"}}`},
		{"POST", "/compute/v2.1/servers/" + id + "/action", `{"removeSecurityGroup": {"name": "web"}}`},
		{"GET", "/compute/v2.1/servers/" + id + "/os-security-groups", ""},
	} {
		if r := h.do(c.method, c.path, tokMember, "", c.body); r.status != http.StatusNotImplemented {
			t.Errorf("%s %s: %d %s, want 501", c.method, c.path, r.status, r.body)
		}
	}
}

// TestSecurityGroupProxy drives the os-security-groups proxy as tempest's
// SecurityGroupsTestJSON and SecurityGroupsNegativeTestJSON do.
func TestSecurityGroupProxy(t *testing.T) {
	h := newHarness(t)
	h.b.SetSecurityGroups(newSecGroups())
	id := h.boot(tokMember, createOSC)
	h.do("POST", "/compute/v2.1/servers/"+id+"/action", tokMember, "", `{"addSecurityGroup": {"name": "web"}}`)
	const base = "/compute/v2.1/os-security-groups"
	r := h.do("POST", base, tokMember, "2.35", `{"security_group": {"name": "sg1", "description": "first"}}`)
	if r.status != http.StatusOK {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	made := r.json(t)["security_group"].(map[string]any)["id"].(string)
	missing := "5ec00000-0000-4000-8000-0000000000ff"
	cases := []struct {
		name, method, path, version, token, body string
		status                                   int
		text                                     string
	}{
		{"list", "GET", base, "", tokMember, "", 200, `"name":"sg1"`},
		{"list hides other projects", "GET", base, "", tokMember, "", 200, `"name":"web"`},
		{"show", "GET", base + "/" + made, "", tokMember, "", 200, `"description":"first"`},
		{"show missing", "GET", base + "/" + missing, "", tokMember, "", 404, "not found"},
		{"show other project's", "GET", base + "/" + sgTheirs, "", tokMember, "", 404, "not found"},
		{"gone at 2.36", "GET", base, "2.36", tokMember, "", 404, ""},
		{"create without name", "POST", base, "", tokMember, `{"security_group": {"description": "d"}}`, 400, "name is not a string"},
		{"create blank name", "POST", base, "", tokMember, `{"security_group": {"name": "  ", "description": "d"}}`, 400, "minimum character"},
		{"create long description", "POST", base, "", tokMember, `{"security_group": {"name": "x", "description": "` + strings.Repeat("d", 256) + `"}}`, 400, "more than 255"},
		{"create without body", "POST", base, "", tokMember, `{}`, 400, ""},
		{"create by reader", "POST", base, "", tokReader, `{"security_group": {"name": "x", "description": "d"}}`, 403, ""},
		{"update", "PUT", base + "/" + made, "", tokMember, `{"security_group": {"name": "sg1b", "description": "second"}}`, 200, `"name":"sg1b"`},
		{"update missing", "PUT", base + "/" + missing, "", tokMember, `{"security_group": {"name": "n", "description": "d"}}`, 404, "not found"},
		{"delete default", "DELETE", base + "/" + sgDefault, "", tokMember, "", 400, "default"},
		{"delete in use", "DELETE", base + "/" + sgWeb, "", tokMember, "", 400, "in use"},
		{"delete missing", "DELETE", base + "/" + missing, "", tokMember, "", 404, "not found"},
		{"delete", "DELETE", base + "/" + made, "", tokMember, "", 202, ""},
		{"delete again", "DELETE", base + "/" + made, "", tokMember, "", 404, "not found"},
	}
	for _, tc := range cases {
		r := h.do(tc.method, tc.path, tc.token, tc.version, tc.body)
		if r.status != tc.status || !strings.Contains(string(r.body), tc.text) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, r.status, r.body, tc.status, tc.text)
		}
	}
	if r := h.do("GET", base, tokMember, "", ""); strings.Contains(string(r.body), "theirs") {
		t.Errorf("list shows another project's group: %s", r.body)
	}
}
