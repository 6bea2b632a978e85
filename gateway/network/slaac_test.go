package network_test

import (
	"testing"
)

// fixedIPs renders a port's fixed_ips as subnet→address.
func fixedIPs(t *testing.T, port map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range port["fixed_ips"].([]any) {
		m := f.(map[string]any)
		out[m["subnet_id"].(string)] = m["ip_address"].(string)
	}
	return out
}

// TestSLAACAddresses follows tempest's NetworksTestDHCPv6: ports on
// automatic IPv6 subnets get their modified EUI-64 address, next to one
// address from the other families' subnets.
func TestSLAACAddresses(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	const mac = "fa:16:3e:01:02:03"
	modes := []struct{ name, attrs string }{
		{"slaac", `"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"`},
		{"dhcpv6-stateless", `"ipv6_ra_mode": "dhcpv6-stateless", "ipv6_address_mode": "dhcpv6-stateless"`},
		{"address mode only", `"ipv6_address_mode": "slaac"`},
		{"ra mode only", `"ipv6_ra_mode": "dhcpv6-stateless"`},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "dual"}}`)["id"].(string)
			v4 := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 4, "cidr": "10.7.0.0/24"`))["id"].(string)
			v6 := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 6, "cidr": "2001:db8:7::/64", `+m.attrs))["id"].(string)
			stateful := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 6, "cidr": "2001:db8:8::/64", "ipv6_address_mode": "dhcpv6-stateful"`))["id"].(string)
			port := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "mac_address": "`+mac+`"}}`)
			got := fixedIPs(t, port)
			want := map[string]string{v4: "10.7.0.4", v6: "2001:db8:7:0:f816:3eff:fe01:203", stateful: "2001:db8:8::2"}
			if mustJSON(got) != mustJSON(want) {
				t.Fatalf("fixed_ips %v, want %v", got, want)
			}
			// fixed_ips naming only the IPv4 subnet still brings the
			// automatic address; naming the automatic subnet alone too.
			p2 := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "mac_address": "fa:16:3e:00:00:01", "fixed_ips": [{"subnet_id": "`+v4+`"}]}}`)
			if got := fixedIPs(t, p2); len(got) != 2 || got[v6] != "2001:db8:7:0:f816:3eff:fe00:1" || got[v4] != "10.7.0.5" {
				t.Fatalf("v4-only fixed_ips: %v", got)
			}
			p3 := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "mac_address": "fa:16:3e:00:00:02", "fixed_ips": [{"subnet_id": "`+v6+`"}]}}`)
			if got := fixedIPs(t, p3); len(got) != 1 || got[v6] != "2001:db8:7:0:f816:3eff:fe00:2" {
				t.Fatalf("auto-subnet-only fixed_ips: %v", got)
			}
			code, body := e.do("demo", "POST", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "fixed_ips": [{"subnet_id": "`+v6+`", "ip_address": "2001:db8:7::99"}]}}`)
			want400 := `{"NeutronError":{"detail":"","message":"IPv6 address 2001:db8:7::99 cannot be directly assigned to a port on subnet ` + v6 + ` as the subnet is configured for automatic addresses","type":"AllocationOnAutoAddressSubnet"}}`
			if code != 400 || mustJSON(body) != want400 {
				t.Fatalf("explicit address on auto subnet: %d %s", code, mustJSON(body))
			}
			for _, p := range []map[string]any{port, p2, p3} {
				if code, _ := e.do("demo", "DELETE", "/network/v2.0/ports/"+p["id"].(string), ""); code != 204 {
					t.Fatalf("delete port: %d", code)
				}
			}
			// Every address went back: the subnets delete.
			for _, id := range []string{v6, v4, stateful} {
				if code, body := e.do("demo", "DELETE", "/network/v2.0/subnets/"+id, ""); code != 204 {
					t.Fatalf("delete subnet: %d %v", code, body)
				}
			}
		})
	}
}

// TestSLAACRouterInterface: a router interface on an automatic subnet
// holds the gateway address and no EUI-64 one.
func TestSLAACRouterInterface(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	sid := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 6, "cidr": "2001:db8:9::/64", "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"`))["id"].(string)
	rid := e.mustCreate("demo", "/network/v2.0/routers", `{"router": {"name": "r"}}`)["id"].(string)
	code, body := e.do("demo", "PUT", "/network/v2.0/routers/"+rid+"/add_router_interface", `{"subnet_id": "`+sid+`"}`)
	if code != 200 {
		t.Fatalf("add interface: %d %v", code, body)
	}
	code, port := e.do("demo", "GET", "/network/v2.0/ports/"+body["port_id"].(string), "")
	if got := fixedIPs(t, port["port"].(map[string]any)); code != 200 || mustJSON(got) != `{"`+sid+`":"2001:db8:9::1"}` {
		t.Fatalf("router port: %d %v", code, got)
	}
}

// TestSLAACPortUpdate: an update of fixed_ips that leaves the automatic
// address out keeps it, and a new MAC moves it.
func TestSLAACPortUpdate(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	v4 := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 4, "cidr": "10.8.0.0/24"`))["id"].(string)
	v6 := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 6, "cidr": "2001:db8:a::/64", "ipv6_address_mode": "slaac"`))["id"].(string)
	pid := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "mac_address": "fa:16:3e:aa:bb:cc"}}`)["id"].(string)
	code, body := e.do("demo", "PUT", "/network/v2.0/ports/"+pid, `{"port": {"fixed_ips": [{"subnet_id": "`+v4+`", "ip_address": "10.8.0.50"}]}}`)
	if got := fixedIPs(t, body["port"].(map[string]any)); code != 200 || got[v4] != "10.8.0.50" || got[v6] != "2001:db8:a:0:f816:3eff:feaa:bbcc" {
		t.Fatalf("update fixed_ips: %d %v", code, body)
	}
	code, body = e.do("admin", "PUT", "/network/v2.0/ports/"+pid, `{"port": {"mac_address": "fa:16:3e:00:11:22"}}`)
	if got := fixedIPs(t, body["port"].(map[string]any)); code != 200 || got[v4] != "10.8.0.50" || got[v6] != "2001:db8:a:0:f816:3eff:fe00:1122" {
		t.Fatalf("update mac: %d %v", code, body)
	}
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/ports/"+pid, ""); code != 204 {
		t.Fatalf("delete port: %d", code)
	}
	// The old EUI-64 address was released on the MAC change, the new one on
	// the delete: the subnet is free.
	if code, body := e.do("demo", "DELETE", "/network/v2.0/subnets/"+v6, ""); code != 204 {
		t.Fatalf("delete subnet: %d %v", code, body)
	}
}

// TestSLAACSubnetFaults checks what Neutron refuses on create.
func TestSLAACSubnetFaults(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	cases := []struct{ name, extra, msg string }{
		{"not a /64", `"ip_version": 6, "cidr": "2001:db8::/80", "ipv6_address_mode": "slaac"`,
			"Invalid input for operation: Invalid CIDR 2001:db8::/80 for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"},
		{"dhcp off", `"ip_version": 6, "cidr": "2001:db8::/64", "ipv6_address_mode": "slaac", "enable_dhcp": false`,
			"Invalid input for operation: ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := e.do("demo", "POST", "/network/v2.0/subnets", subnetBody(nid, c.extra))
			want := `{"NeutronError":{"detail":"","message":` + mustJSON(c.msg) + `,"type":"InvalidInput"}}`
			if code != 400 || mustJSON(body) != want {
				t.Fatalf("got %d %s\nwant %s", code, mustJSON(body), want)
			}
		})
	}
	// A stateful /80 is fine: only automatic addresses need /64.
	sid := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 6, "cidr": "2001:db8::/80", "ipv6_address_mode": "dhcpv6-stateful"`))["id"].(string)
	code, body := e.do("demo", "PUT", "/network/v2.0/subnets/"+sid, `{"subnet": {"enable_dhcp": false}}`)
	if want := `{"NeutronError":{"detail":"","message":"Invalid input for operation: Cannot disable enable_dhcp with ipv6 attributes set","type":"InvalidInput"}}`; code != 400 || mustJSON(body) != want {
		t.Fatalf("disable dhcp: %d %s", code, mustJSON(body))
	}
}

// TestSLAACSubnetOnExistingPorts: a new automatic subnet addresses the
// ports already on the network, and deleting it takes those addresses
// back off them; a router interface on it keeps it in use.
func TestSLAACSubnetOnExistingPorts(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	v4 := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 4, "cidr": "10.9.0.0/24"`))["id"].(string)
	pid := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "mac_address": "fa:16:3e:12:34:56"}}`)["id"].(string)
	v6 := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 6, "cidr": "2001:db8:b::/64", "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"`))["id"].(string)
	code, body := e.do("demo", "GET", "/network/v2.0/ports/"+pid, "")
	if got := fixedIPs(t, body["port"].(map[string]any)); code != 200 || got[v4] != "10.9.0.4" || got[v6] != "2001:db8:b:0:f816:3eff:fe12:3456" {
		t.Fatalf("existing port after slaac subnet: %d %v", code, got)
	}
	if code, body := e.do("demo", "DELETE", "/network/v2.0/subnets/"+v6, ""); code != 204 {
		t.Fatalf("delete slaac subnet with a port on it: %d %v", code, body)
	}
	code, body = e.do("demo", "GET", "/network/v2.0/ports/"+pid, "")
	if got := fixedIPs(t, body["port"].(map[string]any)); code != 200 || mustJSON(got) != `{"`+v4+`":"10.9.0.4"}` {
		t.Fatalf("port after slaac subnet delete: %d %v", code, got)
	}
	v6b := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 6, "cidr": "2001:db8:c::/64", "ipv6_address_mode": "slaac"`))["id"].(string)
	rid := e.mustCreate("demo", "/network/v2.0/routers", `{"router": {"name": "r"}}`)["id"].(string)
	if code, body := e.do("demo", "PUT", "/network/v2.0/routers/"+rid+"/add_router_interface", `{"subnet_id": "`+v6b+`"}`); code != 200 {
		t.Fatalf("add interface: %d %v", code, body)
	}
	if code, body := e.do("demo", "DELETE", "/network/v2.0/subnets/"+v6b, ""); code != 409 || fault(body) != "SubnetInUse" {
		t.Fatalf("delete slaac subnet with a router on it: %d %v", code, body)
	}
	code, body = e.do("demo", "GET", "/network/v2.0/ports/"+pid, "")
	if got := fixedIPs(t, body["port"].(map[string]any)); code != 200 || got[v6b] != "2001:db8:c:0:f816:3eff:fe12:3456" {
		t.Fatalf("a refused delete took the port's address: %d %v", code, got)
	}
}
