package network_test

import (
	"net/http"
	"testing"
)

// TestFaults drives bad input and forbidden operations and checks the
// NeutronError body: status, type and the message naming the field.
func TestFaults(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	net := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "private"}}`)
	nid := net["id"].(string)
	sub := e.mustCreate("demo", "/network/v2.0/subnets", `{"subnet": {"network_id": "`+nid+`", "ip_version": 4, "cidr": "10.0.0.0/29"}}`)
	sid := sub["id"].(string)
	port := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "fixed_ips": [{"ip_address": "10.0.0.5"}]}}`)
	altNet := e.mustCreate("alt", "/network/v2.0/networks", `{"network": {"name": "altnet"}}`)

	cases := []struct {
		name, token, method, path, body string
		status                          int
		typ, message                    string
	}{
		{"unknown network", "demo", "GET", "/network/v2.0/networks/3f0e1c52-7a68-4fd4-9b1e-000000000000", "", 404,
			"NetworkNotFound", "Network 3f0e1c52-7a68-4fd4-9b1e-000000000000 could not be found."},
		{"name instead of id", "demo", "GET", "/network/v2.0/networks/private", "", 404, "NetworkNotFound", "Network private could not be found."},
		{"another project's network", "demo", "GET", "/network/v2.0/networks/" + altNet["id"].(string), "", 404,
			"NetworkNotFound", "Network " + altNet["id"].(string) + " could not be found."},
		{"unknown subnet", "demo", "GET", "/network/v2.0/subnets/nope", "", 404, "SubnetNotFound", "Subnet nope could not be found."},
		{"unknown port", "demo", "GET", "/network/v2.0/ports/nope", "", 404, "PortNotFound", "Port nope could not be found."},
		{"no token", "", "GET", "/network/v2.0/networks", "", 401, "NotAuthorized", "The request you have made requires authentication."},
		{"missing resource key", "demo", "POST", "/network/v2.0/networks", `{"net": {}}`, 400, "HTTPBadRequest", "Unable to find 'network' in request body"},
		{"malformed JSON", "demo", "POST", "/network/v2.0/networks", `{"network": `, 400, "HTTPBadRequest", "Malformed request body: unexpected end of JSON."},
		{"unknown attribute", "demo", "POST", "/network/v2.0/networks", `{"network": {"name": "x", "foo": 1}}`, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'foo'"},
		{"bad boolean", "demo", "POST", "/network/v2.0/networks", `{"network": {"admin_state_up": "maybe"}}`, 400, "HTTPBadRequest",
			"Invalid input for admin_state_up. Reason: 'maybe' cannot be converted to boolean"},
		{"name too long", "demo", "POST", "/network/v2.0/networks", `{"network": {"name": "` + long(256) + `"}}`, 400, "HTTPBadRequest",
			"Invalid input for name. Reason: '" + long(256) + "' exceeds maximum length of 255"},
		{"member shares a network", "demo", "POST", "/network/v2.0/networks", `{"network": {"shared": true}}`, 403, "PolicyNotAuthorized",
			"(rule:create_network:shared) is disallowed by policy"},
		{"reader creates", "reader", "POST", "/network/v2.0/networks", `{"network": {}}`, 403, "PolicyNotAuthorized", "(rule:create_network) is disallowed by policy"},
		{"bad cidr", "demo", "POST", "/network/v2.0/subnets", `{"subnet": {"network_id": "` + nid + `", "ip_version": 4, "cidr": "10.0.0.300/24"}}`, 400, "HTTPBadRequest",
			"Invalid input for cidr. Reason: '10.0.0.300/24' is not a valid IP subnet"},
		{"host bits in cidr", "demo", "POST", "/network/v2.0/subnets", `{"subnet": {"network_id": "` + nid + `", "ip_version": 4, "cidr": "10.5.0.7/24"}}`, 400, "HTTPBadRequest",
			"Invalid input for cidr. Reason: '10.5.0.7/24' isn't a recognized IP subnet cidr, '10.5.0.0/24' is recommended"},
		{"version mismatch", "demo", "POST", "/network/v2.0/subnets", `{"subnet": {"network_id": "` + nid + `", "ip_version": 6, "cidr": "10.6.0.0/24"}}`, 400, "InvalidInput",
			"Invalid input for operation: Cidr 10.6.0.0/24 and IP version 6 mismatch."},
		{"missing ip_version", "demo", "POST", "/network/v2.0/subnets", `{"subnet": {"network_id": "` + nid + `", "cidr": "10.6.0.0/24"}}`, 400, "HTTPBadRequest",
			"Failed to parse request. Required attribute 'ip_version' not specified"},
		{"overlapping subnet", "demo", "POST", "/network/v2.0/subnets", `{"subnet": {"network_id": "` + nid + `", "ip_version": 4, "cidr": "10.0.0.0/16"}}`, 400, "InvalidInput",
			"Invalid input for operation: Requested subnet with cidr: 10.0.0.0/16 for network: " + nid + " overlaps with another subnet."},
		{"gateway in pool", "demo", "POST", "/network/v2.0/subnets", `{"subnet": {"network_id": "` + nid + `", "ip_version": 4, "cidr": "10.7.0.0/24", "allocation_pools": [{"start": "10.7.0.1", "end": "10.7.0.9"}]}}`, 409,
			"GatewayConflictWithAllocationPools", "Gateway ip 10.7.0.1 conflicts with allocation pool 10.7.0.1-10.7.0.9"},
		{"port network not a uuid", "demo", "POST", "/network/v2.0/ports", `{"port": {"network_id": "private"}}`, 400, "HTTPBadRequest",
			"Invalid input for network_id. Reason: 'private' is not a valid UUID"},
		{"ip already allocated", "demo", "POST", "/network/v2.0/ports", `{"port": {"network_id": "` + nid + `", "fixed_ips": [{"ip_address": "10.0.0.5"}]}}`, 409,
			"IpAddressAlreadyAllocated", "IP address 10.0.0.5 already allocated in subnet " + sid},
		{"ip outside the subnets", "demo", "POST", "/network/v2.0/ports", `{"port": {"network_id": "` + nid + `", "fixed_ips": [{"ip_address": "192.168.0.5"}]}}`, 400,
			"InvalidInput", "Invalid input for operation: IP address 192.168.0.5 is not a valid IP for any of the subnets on the specified network."},
		{"bad filter", "demo", "GET", "/network/v2.0/networks?colour=red", "", 400, "HTTPBadRequest", "[colour] is invalid attribute for filtering"},
		{"bad sort dir", "demo", "GET", "/network/v2.0/networks?sort_key=name&sort_dir=up", "", 400, "HTTPBadRequest",
			"up is an invalid value for sort_dir, valid value is 'asc' and 'desc'"},
		{"unknown marker", "demo", "GET", "/network/v2.0/networks?limit=1&marker=nope", "", 404, "NetworkNotFound", "Network nope could not be found."},
		{"network in use", "demo", "DELETE", "/network/v2.0/networks/" + nid, "", 409, "NetworkInUse",
			"Unable to complete operation on network " + nid + ". There are one or more ports still in use on the network."},
		{"subnet in use", "demo", "DELETE", "/network/v2.0/subnets/" + sid, "", 409, "SubnetInUse",
			"Unable to complete operation on subnet " + sid + ": One or more ports have an IP allocation from this subnet."},
		{"alt deletes demo's port", "alt", "DELETE", "/network/v2.0/ports/" + port["id"].(string), "", 404, "PortNotFound",
			"Port " + port["id"].(string) + " could not be found."},
		{"member changes a MAC", "demo", "PUT", "/network/v2.0/ports/" + port["id"].(string), `{"port": {"mac_address": "fa:16:3e:00:00:01"}}`, 403, "PolicyNotAuthorized",
			"(rule:update_port:mac_address) is disallowed by policy"},
		{"duplicate fixed IPs", "demo", "PUT", "/network/v2.0/ports/" + port["id"].(string), `{"port": {"fixed_ips": [{"ip_address": "10.0.0.5"}, {"ip_address": "10.0.0.5"}]}}`, 400, "InvalidInput",
			"Invalid input for operation: Duplicate IP address '10.0.0.5'"},
		{"pair without ip", "demo", "PUT", "/network/v2.0/ports/" + port["id"].(string), `{"port": {"allowed_address_pairs": [{"mac_address": "fa:16:3e:00:00:01"}]}}`, 400,
			"AllowedAddressPairsMissingIP", "AllowedAddressPair must contain ip_address"},
		{"pair with bad cidr", "demo", "PUT", "/network/v2.0/ports/" + port["id"].(string), `{"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.0/33"}]}}`, 400,
			"HTTPBadRequest", "'10.0.0.0/33' is not a valid IP subnet"},
		{"pair with bad mac", "demo", "PUT", "/network/v2.0/ports/" + port["id"].(string), `{"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.9", "mac_address": "zz"}]}}`, 400,
			"HTTPBadRequest", "'zz' is not a valid MAC address"},
		{"duplicate pair", "demo", "PUT", "/network/v2.0/ports/" + port["id"].(string), `{"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.9"}, {"ip_address": "10.0.0.9"}]}}`, 400,
			"DuplicateAddressPairInRequest", "Request contains duplicate address pair: mac_address None ip_address 10.0.0.9."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(tc.token, tc.method, tc.path, tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %v", code, tc.status, body)
			}
			want := canonical(t, `{"NeutronError": {"type": "`+tc.typ+`", "message": `+mustJSON(tc.message)+`, "detail": ""}}`)
			if got := mustJSON(body); got != want {
				t.Fatalf("body\n got %s\nwant %s", got, want)
			}
		})
	}
}

func long(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	return string(b)
}

// TestExhaustion fills a /29 (five addresses) and expects Neutron's
// IpAddressGenerationFailure, then frees one address and gets it back.
func TestExhaustion(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "tiny"}}`)["id"].(string)
	e.mustCreate("demo", "/network/v2.0/subnets", `{"subnet": {"network_id": "`+nid+`", "ip_version": 4, "cidr": "10.1.0.0/29"}}`)
	var ids []string
	for range 5 {
		ids = append(ids, e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`"}}`)["id"].(string))
	}
	code, body := e.do("demo", "POST", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`"}}`)
	if code != http.StatusConflict || body["NeutronError"].(map[string]any)["type"] != "IpAddressGenerationFailure" {
		t.Fatalf("full subnet: %d %v", code, body)
	}
	// ids[2] holds 10.1.0.6 (.4, .5, .6 first; .2 and .3, which AWS and Azure keep, last).
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/ports/"+ids[2], ""); code != http.StatusNoContent {
		t.Fatalf("delete port: %d", code)
	}
	p := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`"}}`)
	if ip := p["fixed_ips"].([]any)[0].(map[string]any)["ip_address"]; ip != "10.1.0.6" {
		t.Fatalf("freed address not reused: got %v", ip)
	}
}
