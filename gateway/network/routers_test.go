package network_test

import (
	"context"
	"testing"
)

func TestRouters(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	ext, extSub, err := e.svc.EnsureExternalNetwork(context.Background(), "public", "172.24.4.0/24")
	if err != nil || !ext.External || ext.Shared {
		t.Fatalf("EnsureExternalNetwork: %+v %v", ext, err)
	}
	if again, _, err := e.svc.EnsureExternalNetwork(context.Background(), "public", "172.24.4.0/24"); err != nil || again.ID != ext.ID {
		t.Fatalf("EnsureExternalNetwork not idempotent: %v", err)
	}
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "private"}}`)["id"].(string)
	sid := e.mustCreate("demo", "/network/v2.0/subnets", `{"subnet": {"network_id": "`+nid+`", "ip_version": 4, "cidr": "10.20.0.0/24"}}`)["id"].(string)
	rt := e.mustCreate("demo", "/network/v2.0/routers", `{"router": {"name": "r1", "external_gateway_info": {"network_id": "`+ext.ID+`"}}}`)
	rid := rt["id"].(string)
	wantGW := `{"enable_snat":true,"external_fixed_ips":[{"ip_address":"172.24.4.4","subnet_id":"` + extSub.ID + `"}],"network_id":"` + ext.ID + `"}`
	if got := mustJSON(rt["external_gateway_info"]); got != wantGW || mustJSON(rt["routes"]) != "[]" || rt["status"] != "ACTIVE" {
		t.Fatalf("router: %v", rt)
	}
	code, info := e.do("demo", "PUT", "/network/v2.0/routers/"+rid+"/add_router_interface", `{"subnet_id": "`+sid+`"}`)
	if code != 200 || info["subnet_id"] != sid || info["id"] != rid || info["network_id"] != nid {
		t.Fatalf("add interface: %d %v", code, info)
	}
	_, port := e.do("demo", "GET", "/network/v2.0/ports/"+info["port_id"].(string), "")
	pt := port["port"].(map[string]any)
	if pt["device_owner"] != "network:router_interface" || pt["device_id"] != rid || mustJSON(pt["security_groups"]) != "[]" ||
		pt["fixed_ips"].([]any)[0].(map[string]any)["ip_address"] != "10.20.0.1" {
		t.Fatalf("interface port: %v", pt)
	}
	const missing = "6f1e3c52-7a68-4fd4-9b1e-000000000000"
	cases := []struct {
		name, token, method, path, body string
		status                          int
		typ, message                    string
	}{
		{"gateway on a private network", "demo", "POST", "/network/v2.0/routers", `{"router": {"external_gateway_info": {"network_id": "` + nid + `"}}}`, 400,
			"BadRequest", "Bad router request: Network " + nid + " is not an external network."},
		{"member disables snat", "demo", "POST", "/network/v2.0/routers", `{"router": {"external_gateway_info": {"network_id": "` + ext.ID + `", "enable_snat": false}}}`, 403,
			"PolicyNotAuthorized", "(rule:create_router:external_gateway_info:enable_snat) is disallowed by policy"},
		{"unknown router", "demo", "GET", "/network/v2.0/routers/" + missing, "", 404, "RouterNotFound", "Router " + missing + " could not be found"},
		{"alt's view", "alt", "GET", "/network/v2.0/routers/" + rid, "", 404, "RouterNotFound", "Router " + rid + " could not be found"},
		{"neither id", "demo", "PUT", "/network/v2.0/routers/" + rid + "/add_router_interface", `{}`, 400, "BadRequest", "Bad router request: Either subnet_id or port_id must be specified."},
		{"both ids", "demo", "PUT", "/network/v2.0/routers/" + rid + "/add_router_interface", `{"subnet_id": "` + sid + `", "port_id": "` + missing + `"}`, 400,
			"BadRequest", "Bad router request: Cannot specify both subnet-id and port-id."},
		{"same subnet twice", "demo", "PUT", "/network/v2.0/routers/" + rid + "/add_router_interface", `{"subnet_id": "` + sid + `"}`, 400,
			"BadRequest", "Bad router request: Router already has a port on subnet " + sid + "."},
		{"remove unknown subnet", "demo", "PUT", "/network/v2.0/routers/" + rid + "/remove_router_interface", `{"subnet_id": "` + missing + `"}`, 404,
			"RouterInterfaceNotFoundForSubnet", "Router " + rid + " has no interface on subnet " + missing},
		{"route to nowhere", "demo", "PUT", "/network/v2.0/routers/" + rid, `{"router": {"routes": [{"destination": "10.99.0.0/16", "nexthop": "192.168.9.9"}]}}`, 400,
			"InvalidRoutes", "Invalid format for routes: [{'destination': '10.99.0.0/16', 'nexthop': '192.168.9.9'}], the nexthop is not connected with router."},
		{"router in use", "demo", "DELETE", "/network/v2.0/routers/" + rid, "", 409, "RouterInUse", "Router " + rid + " still has ports"},
		{"subnet with interface", "demo", "DELETE", "/network/v2.0/subnets/" + sid, "", 409, "SubnetInUse",
			"Unable to complete operation on subnet " + sid + ": One or more ports have an IP allocation from this subnet."},
		{"network with interface", "demo", "DELETE", "/network/v2.0/networks/" + nid, "", 409, "NetworkInUse",
			"Unable to complete operation on network " + nid + ". There are one or more ports still in use on the network."},
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
	code, body := e.do("demo", "PUT", "/network/v2.0/routers/"+rid, `{"router": {"routes": [{"destination": "10.99.0.0/16", "nexthop": "10.20.0.9"}], "name": "r2"}}`)
	if r := body["router"].(map[string]any); code != 200 || r["name"] != "r2" || mustJSON(r["routes"]) != `[{"destination":"10.99.0.0/16","nexthop":"10.20.0.9"}]` {
		t.Fatalf("extra route: %d %v", code, body)
	}
	if code, _ := e.do("demo", "PUT", "/network/v2.0/routers/"+rid+"/remove_router_interface", `{"subnet_id": "`+sid+`"}`); code != 200 {
		t.Fatalf("remove interface: %d", code)
	}
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/routers/"+rid, ""); code != 204 {
		t.Fatalf("delete router: %d", code)
	}
	// The gateway address went back to the external subnet.
	r2 := e.mustCreate("demo", "/network/v2.0/routers", `{"router": {"external_gateway_info": {"network_id": "`+ext.ID+`"}}}`)
	if got := mustJSON(r2["external_gateway_info"]); got != wantGW {
		t.Fatalf("gateway address not reused: %s", got)
	}
	code, body = e.do("demo", "PUT", "/network/v2.0/routers/"+r2["id"].(string), `{"router": {"external_gateway_info": null}}`)
	if code != 200 || body["router"].(map[string]any)["external_gateway_info"] != nil {
		t.Fatalf("clear gateway: %d %v", code, body)
	}
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/subnets/"+sid, ""); code != 204 {
		t.Fatalf("subnet without interface: %d", code)
	}
}
