package network_test

import (
	"testing"
)

// TestSubnetUpdate follows tempest's test_update_subnet_gw_dns_host_routes_dhcp
// and checks Neutron's faults for gateway and pool changes.
func TestSubnetUpdate(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	sid := e.mustCreate("demo", "/network/v2.0/subnets", `{"subnet": {"network_id": "`+nid+`", "ip_version": 4, "cidr": "10.100.0.0/28",
		"gateway_ip": "10.100.0.1", "allocation_pools": [{"start": "10.100.0.3", "end": "10.100.0.7"}],
		"host_routes": [{"destination": "10.100.1.0/24", "nexthop": "10.100.0.10"}], "dns_nameservers": ["8.8.4.4"]}}`)["id"].(string)
	path := "/network/v2.0/subnets/" + sid
	code, body := e.do("demo", "PUT", path, `{"subnet": {"name": "New_subnet", "gateway_ip": "10.100.0.2", "enable_dhcp": true,
		"host_routes": [{"destination": "10.100.2.0/24", "nexthop": "10.100.0.11"}], "dns_nameservers": ["8.8.8.8"]}}`)
	sub, _ := body["subnet"].(map[string]any)
	if code != 200 || sub["name"] != "New_subnet" || sub["gateway_ip"] != "10.100.0.2" || mustJSON(sub["dns_nameservers"]) != `["8.8.8.8"]` ||
		mustJSON(sub["host_routes"]) != `[{"destination":"10.100.2.0/24","nexthop":"10.100.0.11"}]` || sub["revision_number"] != float64(2) {
		t.Fatalf("update: %d %v", code, body)
	}
	// A port holds 10.100.0.3, the first pool address.
	e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "fixed_ips": [{"ip_address": "10.100.0.3"}]}}`)
	rid := e.mustCreate("demo", "/network/v2.0/routers", `{"router": {"name": "r"}}`)["id"].(string)
	cases := []struct {
		name, body   string
		status       int
		typ, message string
	}{
		{"gateway into the pool", `{"subnet": {"gateway_ip": "10.100.0.5"}}`, 409, "GatewayConflictWithAllocationPools",
			"Gateway ip 10.100.0.5 conflicts with allocation pool 10.100.0.3-10.100.0.7"},
		{"gateway outside the cidr", `{"subnet": {"gateway_ip": "10.200.0.1"}}`, 400, "InvalidInput",
			"Invalid input for operation: Gateway ip 10.200.0.1 is not valid on subnet 10.100.0.0/28."},
		{"pool beyond the cidr", `{"subnet": {"allocation_pools": [{"start": "10.100.0.3", "end": "10.100.0.20"}]}}`, 400, "OutOfBoundsAllocationPool",
			"The allocation pool 10.100.0.3-10.100.0.20 spans beyond the subnet cidr 10.100.0.0/28."},
		{"pool over the gateway", `{"subnet": {"allocation_pools": [{"start": "10.100.0.2", "end": "10.100.0.9"}]}}`, 409, "GatewayConflictWithAllocationPools",
			"Gateway ip 10.100.0.2 conflicts with allocation pool 10.100.0.2-10.100.0.9"},
		{"pool shrinks under a port", `{"subnet": {"allocation_pools": [{"start": "10.100.0.4", "end": "10.100.0.9"}]}}`, 409, "SubnetInUse",
			"Unable to complete operation on subnet " + sid + ": allocated address 10.100.0.3 would be outside the allocation pools."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do("demo", "PUT", path, tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %v", code, tc.status, body)
			}
			want := canonical(t, `{"NeutronError": {"type": "`+tc.typ+`", "message": `+mustJSON(tc.message)+`, "detail": ""}}`)
			if got := mustJSON(body); got != want {
				t.Fatalf("body\n got %s\nwant %s", got, want)
			}
		})
	}
	// Pools may grow and move around the held address; new ports come
	// from the new pools only.
	code, body = e.do("demo", "PUT", path, `{"subnet": {"allocation_pools": [{"start": "10.100.0.3", "end": "10.100.0.3"}, {"start": "10.100.0.12", "end": "10.100.0.13"}]}}`)
	if code != 200 {
		t.Fatalf("grow pools: %d %v", code, body)
	}
	for _, want := range []string{"10.100.0.12", "10.100.0.13"} {
		pt := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`"}}`)
		if got := fixedIP(pt, 0); got != want {
			t.Fatalf("port after repool got %s, want %s", got, want)
		}
	}
	if code, body := e.do("demo", "POST", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`"}}`); code != 409 || fault(body) != "IpAddressGenerationFailure" {
		t.Fatalf("pools exhausted: %d %v", code, body)
	}
	// The gateway a router interface holds cannot move.
	e.do("demo", "PUT", "/network/v2.0/routers/"+rid+"/add_router_interface", `{"subnet_id": "`+sid+`"}`)
	if code, body := e.do("demo", "PUT", path, `{"subnet": {"gateway_ip": "10.100.0.1"}}`); code != 409 || fault(body) != "GatewayIpInUse" {
		t.Fatalf("move a router's gateway: %d %v", code, body)
	}
}
