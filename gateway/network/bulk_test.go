package network_test

import (
	"testing"
)

// TestBulkCreate: {"<collection>": [...]} creates every item or none.
func TestBulkCreate(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	code, body := e.do("demo", "POST", "/network/v2.0/networks", `{"networks": [{"name": "b1"}, {"network": {"name": "b2", "admin_state_up": false}}]}`)
	if code != 201 || names(body, "networks") != "b1,b2" || body["networks"].([]any)[1].(map[string]any)["admin_state_up"] != false {
		t.Fatalf("bulk networks: %d %v", code, body)
	}
	n1 := body["networks"].([]any)[0].(map[string]any)["id"].(string)
	n2 := body["networks"].([]any)[1].(map[string]any)["id"].(string)
	code, body = e.do("demo", "POST", "/network/v2.0/subnets", `{"subnets": [
		{"network_id": "`+n1+`", "ip_version": 4, "cidr": "10.60.0.0/24", "name": "s1"},
		{"network_id": "`+n2+`", "ip_version": 4, "cidr": "10.61.0.0/24", "name": "s2"}]}`)
	if code != 201 || names(body, "subnets") != "s1,s2" {
		t.Fatalf("bulk subnets: %d %v", code, body)
	}
	code, body = e.do("demo", "POST", "/network/v2.0/ports", `{"ports": [{"network_id": "`+n1+`", "name": "p1"}, {"network_id": "`+n2+`", "name": "p2"}]}`)
	if code != 201 || names(body, "ports") != "p1,p2" {
		t.Fatalf("bulk ports: %d %v", code, body)
	}
	const missing = "6f1e3c52-7a68-4fd4-9b1e-000000000000"
	cases := []struct {
		name, path, body string
		status           int
		typ, message     string
	}{
		{"empty list", "/network/v2.0/networks", `{"networks": []}`, 400, "HTTPBadRequest", "Resources required"},
		{"unknown attribute in an item", "/network/v2.0/networks", `{"networks": [{"name": "x"}, {"colour": "red"}]}`, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'colour'"},
		{"second port fails", "/network/v2.0/ports", `{"ports": [{"network_id": "` + n1 + `", "name": "undone"}, {"network_id": "` + missing + `"}]}`, 404,
			"NetworkNotFound", "Network " + missing + " could not be found."},
		{"second subnet overlaps", "/network/v2.0/subnets", `{"subnets": [{"network_id": "` + n1 + `", "ip_version": 4, "cidr": "10.62.0.0/24", "name": "undone"},
			{"network_id": "` + n1 + `", "ip_version": 4, "cidr": "10.60.0.0/16"}]}`, 400,
			"InvalidInput", "Invalid input for operation: Requested subnet with cidr: 10.60.0.0/16 for network: " + n1 + " overlaps with another subnet."},
		{"second network refused", "/network/v2.0/networks", `{"networks": [{"name": "undone"}, {"name": "undone", "shared": true}]}`, 403,
			"PolicyNotAuthorized", "(rule:create_network:shared) is disallowed by policy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do("demo", "POST", tc.path, tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %v", code, tc.status, body)
			}
			want := canonical(t, `{"NeutronError": {"type": "`+tc.typ+`", "message": `+mustJSON(tc.message)+`, "detail": ""}}`)
			if got := mustJSON(body); got != want {
				t.Fatalf("body\n got %s\nwant %s", got, want)
			}
		})
	}
	for _, coll := range []string{"networks", "subnets", "ports"} {
		_, body := e.do("demo", "GET", "/network/v2.0/"+coll+"?name=undone", "")
		if n := len(body[coll].([]any)); n != 0 {
			t.Fatalf("%d %s left behind by failed bulk creates", n, coll)
		}
	}
	// The undone subnet gave its CIDR back to the network.
	e.mustCreate("demo", "/network/v2.0/subnets", `{"subnet": {"network_id": "`+n1+`", "ip_version": 4, "cidr": "10.62.0.0/24"}}`)
}
