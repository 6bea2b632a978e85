package network_test

import (
	"net/http"
	"testing"
)

const poolID = "5d3a8b1e-2c4f-4e6a-9b7d-0a1b2c3d4e5f"

// poolFixture is Neutron's body for tempest's create (prefixes taken from
// its default_network "1.0.0.0/16,2.0.0.0/16"), merged prefixes included.
const poolFixture = `{"subnetpool": {"id": "` + poolID + `", "name": "p1", "description": "",
	"prefixes": ["1.0.0.0/16", "2.0.0.0/16"], "ip_version": 4, "default_prefixlen": 8, "min_prefixlen": 8,
	"max_prefixlen": 32, "shared": false, "is_default": false, "address_scope_id": null, "default_quota": null,
	"tags": [], "project_id": "demo-project", "tenant_id": "demo-project", "revision_number": 1,
	"created_at": "2026-11-29T06:31:42Z", "updated_at": "2026-11-29T06:31:42Z"}}`

// TestSubnetPoolLifecycle follows tempest's
// test_create_list_show_update_delete_subnetpools.
func TestSubnetPoolLifecycle(t *testing.T) {
	e := newEnv(t, devRegistry(t), poolID)
	code, body := e.do("demo", "POST", "/network/v2.0/subnetpools", `{"subnetpool": {"name": "p1", "prefixes": ["1.0.0.0/16", "2.0.0.0/16"]}}`)
	if code != http.StatusCreated || mustJSON(body) != canonical(t, poolFixture) {
		t.Fatalf("create: %d %v", code, mustJSON(body))
	}
	if code, body := e.do("demo", "GET", "/network/v2.0/subnetpools/"+poolID, ""); code != 200 || mustJSON(body) != canonical(t, poolFixture) {
		t.Fatalf("show: %d %v", code, body)
	}
	if code, body := e.do("demo", "GET", "/network/v2.0/subnetpools?name=p1&fields=id", ""); code != 200 ||
		mustJSON(body) != `{"subnetpools":[{"id":"`+poolID+`"}]}` {
		t.Fatalf("list: %d %v", code, body)
	}
	code, body = e.do("demo", "PUT", "/network/v2.0/subnetpools/"+poolID, `{"subnetpool": {"name": "p2", "prefixes": ["1.0.0.0/8", "2.0.0.0/16"], "default_prefixlen": 24}}`)
	sp, _ := body["subnetpool"].(map[string]any)
	if code != 200 || sp["name"] != "p2" || mustJSON(sp["prefixes"]) != `["1.0.0.0/8","2.0.0.0/16"]` || sp["default_prefixlen"] != 24.0 || sp["revision_number"] != 2.0 {
		t.Fatalf("update: %d %v", code, body)
	}
	if code, _ := e.do("alt", "GET", "/network/v2.0/subnetpools/"+poolID, ""); code != 404 {
		t.Fatalf("alt sees demo's pool: %d", code)
	}
	if code, body := e.do("alt", "GET", "/network/v2.0/subnetpools", ""); code != 200 || mustJSON(body) != `{"subnetpools":[]}` {
		t.Fatalf("alt list: %d %v", code, body)
	}
	if code, body := e.do("admin", "GET", "/network/v2.0/subnetpools?fields=name", ""); code != 200 || mustJSON(body) != `{"subnetpools":[{"name":"p2"}]}` {
		t.Fatalf("admin list: %d %v", code, body)
	}
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/subnetpools/"+poolID, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, body := e.do("demo", "GET", "/network/v2.0/subnetpools/"+poolID, ""); code != 404 || fault(body) != "SubnetPoolNotFound" {
		t.Fatalf("show after delete: %d %v", code, body)
	}
}

// TestSubnetPoolPrefixes checks Neutron's normalisation (cidr_merge) and
// default prefix lengths per family.
func TestSubnetPoolPrefixes(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	cases := []struct {
		name, prefixes, want string
		version, min, max    float64
	}{
		{"siblings join", `["10.0.0.0/25", "10.0.0.128/25"]`, `["10.0.0.0/24"]`, 4, 8, 32},
		{"contained dropped and sorted", `["192.168.0.0/16", "10.0.0.0/8", "10.1.0.0/16"]`, `["10.0.0.0/8","192.168.0.0/16"]`, 4, 8, 32},
		{"ipv6 bounds", `["2001:db8::/48"]`, `["2001:db8::/48"]`, 6, 64, 128},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp := e.mustCreate("demo", "/network/v2.0/subnetpools", `{"subnetpool": {"prefixes": `+c.prefixes+`}}`)
			if mustJSON(sp["prefixes"]) != c.want || sp["ip_version"] != c.version || sp["min_prefixlen"] != c.min ||
				sp["max_prefixlen"] != c.max || sp["default_prefixlen"] != c.min {
				t.Fatalf("got %v", sp)
			}
		})
	}
}

// TestSubnetPoolFaults checks the exact NeutronError bodies of bad input.
func TestSubnetPoolFaults(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	id := e.mustCreate("demo", "/network/v2.0/subnetpools", `{"subnetpool": {"name": "p", "prefixes": ["10.0.0.0/16"]}}`)["id"].(string)
	// Attributes at their defaults pass the attribute policies on create.
	if sp := e.mustCreate("demo", "/network/v2.0/subnetpools", `{"subnetpool": {"prefixes": ["10.1.0.0/16"], "is_default": false, "shared": false}}`); sp["is_default"] != false || sp["shared"] != false {
		t.Fatalf("defaults: %v", sp)
	}
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	altNet := e.mustCreate("alt", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	const missing = "6f1e3c52-7a68-4fd4-9b1e-000000000000"
	pools := "/network/v2.0/subnetpools"
	cases := []struct {
		name, token, method, path, body string
		status                          int
		typ, message                    string
	}{
		{"no prefixes", "demo", "POST", pools, `{"subnetpool": {"name": "x"}}`, 400,
			"HTTPBadRequest", "Failed to parse request. Required attribute 'prefixes' not specified"},
		{"empty prefixes", "demo", "POST", pools, `{"subnetpool": {"prefixes": []}}`, 400, "EmptySubnetPoolPrefixList", "Empty subnet pool prefix list."},
		{"not a cidr", "demo", "POST", pools, `{"subnetpool": {"prefixes": ["10.0.0.0/33"]}}`, 400,
			"HTTPBadRequest", "Invalid input for prefixes. Reason: '10.0.0.0/33' is not a valid IP subnet"},
		{"host bits", "demo", "POST", pools, `{"subnetpool": {"prefixes": ["10.0.0.1/16"]}}`, 400,
			"HTTPBadRequest", "Invalid input for prefixes. Reason: '10.0.0.1/16' isn't a recognized IP subnet cidr, '10.0.0.0/16' is recommended"},
		{"mixed families", "demo", "POST", pools, `{"subnetpool": {"prefixes": ["10.0.0.0/16", "2001:db8::/48"]}}`, 400,
			"PrefixVersionMismatch", "Cannot mix IPv4 and IPv6 prefixes in a subnet pool."},
		{"min above max", "demo", "POST", pools, `{"subnetpool": {"prefixes": ["10.0.0.0/16"], "min_prefixlen": 28, "max_prefixlen": 24}}`, 400,
			"IllegalSubnetPoolPrefixBounds", "Illegal prefix bounds: min_prefixlen=28, max_prefixlen=24."},
		{"default below min", "demo", "POST", pools, `{"subnetpool": {"prefixes": ["10.0.0.0/16"], "min_prefixlen": 20, "default_prefixlen": 16}}`, 400,
			"IllegalSubnetPoolPrefixBounds", "Illegal prefix bounds: default_prefixlen=16, min_prefixlen=20."},
		{"max beyond family", "demo", "POST", pools, `{"subnetpool": {"prefixes": ["10.0.0.0/16"], "max_prefixlen": 33}}`, 400,
			"IllegalSubnetPoolPrefixBounds", "Illegal prefix bounds: max_prefixlen=33, ip_version_max=32."},
		{"negative min", "demo", "POST", pools, `{"subnetpool": {"prefixes": ["10.0.0.0/16"], "min_prefixlen": -1}}`, 400,
			"UnsupportedMinSubnetPoolPrefix", "Prefix '-1' not supported in IPv4 pool."},
		{"prefixlen not an integer", "demo", "POST", pools, `{"subnetpool": {"prefixes": ["10.0.0.0/16"], "default_prefixlen": "x"}}`, 400,
			"HTTPBadRequest", "Invalid input for default_prefixlen. Reason: 'x' is not an integer"},
		{"member shares", "demo", "POST", pools, `{"subnetpool": {"prefixes": ["10.0.0.0/16"], "shared": true}}`, 403,
			"PolicyNotAuthorized", "(rule:create_subnetpool:shared) is disallowed by policy"},
		{"member sets is_default", "demo", "POST", pools, `{"subnetpool": {"prefixes": ["10.0.0.0/16"], "is_default": true}}`, 403,
			"PolicyNotAuthorized", "(rule:create_subnetpool:is_default) is disallowed by policy"},
		{"member updates is_default", "demo", "PUT", pools + "/" + id, `{"subnetpool": {"is_default": false}}`, 403,
			"PolicyNotAuthorized", "(rule:update_subnetpool:is_default) is disallowed by policy"},
		{"address scope", "demo", "POST", pools, `{"subnetpool": {"prefixes": ["10.0.0.0/16"], "address_scope_id": "` + missing + `"}}`, 501,
			"NotImplementedError", "address_scope_id is not supported by this service."},
		{"prefixes shrink", "demo", "PUT", pools + "/" + id, `{"subnetpool": {"prefixes": ["10.0.0.0/24"]}}`, 400,
			"IllegalSubnetPoolPrefixUpdate", "Illegal update to prefixes: Existing prefixes must be a subset of the new prefixes."},
		{"family change", "demo", "PUT", pools + "/" + id, `{"subnetpool": {"prefixes": ["2001:db8::/48"]}}`, 400,
			"PrefixVersionMismatch", "Cannot mix IPv4 and IPv6 prefixes in a subnet pool."},
		{"shared not updatable", "admin", "PUT", pools + "/" + id, `{"subnetpool": {"shared": true}}`, 400,
			"HTTPBadRequest", "Unrecognized attribute(s) 'shared'"},
		{"reader writes", "reader", "POST", pools, `{"subnetpool": {"prefixes": ["10.0.0.0/16"]}}`, 403,
			"PolicyNotAuthorized", "(rule:create_subnetpool) is disallowed by policy"},
		{"unknown pool", "demo", "GET", pools + "/" + missing, "", 404, "SubnetPoolNotFound", "Subnet pool " + missing + " could not be found."},
		{"alt deletes", "alt", "DELETE", pools + "/" + id, "", 404, "SubnetPoolNotFound", "Subnet pool " + id + " could not be found."},
		{"bad filter", "demo", "GET", pools + "?prefixes=x", "", 400, "HTTPBadRequest", "[prefixes] is invalid attribute for filtering"},
		{"subnet from unknown pool", "demo", "POST", "/network/v2.0/subnets", `{"subnet": {"network_id": "` + nid + `", "subnetpool_id": "` + missing + `"}}`, 404,
			"SubnetPoolNotFound", "Subnet pool " + missing + " could not be found."},
		{"subnet from alt's view of demo's pool", "alt", "POST", "/network/v2.0/subnets", `{"subnet": {"network_id": "` + altNet + `", "subnetpool_id": "` + id + `"}}`, 404,
			"SubnetPoolNotFound", "Subnet pool " + id + " could not be found."},
		{"subnet from a pool without ip_version", "demo", "POST", "/network/v2.0/subnets", `{"subnet": {"network_id": "` + nid + `", "subnetpool_id": "` + id + `"}}`, 400,
			"HTTPBadRequest", "Failed to parse request. Required attribute 'ip_version' not specified"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := e.do(c.token, c.method, c.path, c.body)
			want := `{"NeutronError":{"detail":"","message":` + mustJSON(c.message) + `,"type":"` + c.typ + `"}}`
			if code != c.status || mustJSON(body) != want {
				t.Fatalf("got %d %s\nwant %d %s", code, mustJSON(body), c.status, want)
			}
		})
	}
}
