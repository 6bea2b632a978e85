package network_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/canopy-cloud/canopy/registry"
)

// floatingIPFixture is an associated floating IP as Neutron shows it;
// FIP, EXT, PORT, ROUTER and the addresses are filled in per run.
const floatingIPFixture = `{"floatingip": {
 "id": "FIP", "floating_ip_address": "172.24.4.5", "floating_network_id": "EXT",
 "router_id": "ROUTER", "port_id": "PORT", "fixed_ip_address": "FIXED", "status": "ACTIVE",
 "description": "web", "tags": [], "project_id": "demo-project", "tenant_id": "demo-project",
 "revision_number": 1, "created_at": "2026-11-29T06:31:42Z", "updated_at": "2026-11-29T06:31:42Z"}}`

// fipWorld is tempest's FloatingIPTestJSON setup: a private network and
// subnet behind a router whose gateway is on the external network, and
// two ports.
type fipWorld struct {
	ext, net, subnet, router string
	ports                    []map[string]any
}

func newFIPWorld(e *env, token, cidr string) fipWorld {
	e.t.Helper()
	ext, _, err := e.svc.EnsureExternalNetwork(context.Background(), "public-"+token, "172.24.4.0/24")
	if err != nil {
		e.t.Fatal(err)
	}
	w := fipWorld{ext: ext.ID}
	w.net = e.mustCreate(token, "/network/v2.0/networks", `{"network": {"name": "fipnet"}}`)["id"].(string)
	w.subnet = e.mustCreate(token, "/network/v2.0/subnets", `{"subnet": {"network_id": "`+w.net+`", "ip_version": 4, "cidr": "`+cidr+`", "enable_dhcp": false}}`)["id"].(string)
	w.router = e.mustCreate(token, "/network/v2.0/routers", `{"router": {"name": "r", "admin_state_up": false, "external_gateway_info": {"network_id": "`+ext.ID+`"}}}`)["id"].(string)
	if code, body := e.do(token, "PUT", "/network/v2.0/routers/"+w.router+"/add_router_interface", `{"subnet_id": "`+w.subnet+`"}`); code != 200 {
		e.t.Fatalf("add interface: %d %v", code, body)
	}
	for range 2 {
		w.ports = append(w.ports, e.mustCreate(token, "/network/v2.0/ports", `{"port": {"network_id": "`+w.net+`"}}`))
	}
	return w
}

func fixedIP(port map[string]any, i int) string {
	return port["fixed_ips"].([]any)[i].(map[string]any)["ip_address"].(string)
}

func fip(body map[string]any) map[string]any { return body["floatingip"].(map[string]any) }

func TestFloatingIPLifecycle(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	w := newFIPWorld(e, "demo", "10.30.0.0/28")
	p0, p1 := w.ports[0], w.ports[1]

	code, created := e.do("demo", "POST", "/network/v2.0/floatingips", `{"floatingip": {"floating_network_id": "`+w.ext+`", "port_id": "`+p0["id"].(string)+`", "description": "web"}}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, created)
	}
	id := fip(created)["id"].(string)
	want := strings.NewReplacer("FIP", id, "EXT", w.ext, "ROUTER", w.router, "PORT", p0["id"].(string), "FIXED", fixedIP(p0, 0)).Replace(floatingIPFixture)
	// The router's gateway holds 172.24.4.4 (the allocator hands out .2 and .3, which AWS and Azure keep, last), so the floating IP gets .5.
	if got := mustJSON(created); got != canonical(t, want) {
		t.Fatalf("create body:\n got %s\nwant %s", got, canonical(t, want))
	}
	if _, shown := e.do("demo", "GET", "/network/v2.0/floatingips/"+id, ""); mustJSON(shown) != canonical(t, want) {
		t.Fatalf("show body: %s", mustJSON(shown))
	}

	steps := []struct {
		name, body                          string
		portID, fixed, router, status, desc any
	}{
		{"move to the other port", `{"floatingip": {"port_id": "` + p1["id"].(string) + `"}}`, p1["id"], fixedIP(p1, 0), w.router, "ACTIVE", "web"},
		{"description only keeps the association", `{"floatingip": {"description": "db"}}`, p1["id"], fixedIP(p1, 0), w.router, "ACTIVE", "db"},
		{"disassociate", `{"floatingip": {"port_id": null}}`, nil, nil, nil, "DOWN", "db"},
		{"associate with an explicit fixed address", `{"floatingip": {"port_id": "` + p0["id"].(string) + `", "fixed_ip_address": "` + fixedIP(p0, 0) + `"}}`, p0["id"], fixedIP(p0, 0), w.router, "ACTIVE", "db"},
	}
	for i, s := range steps {
		code, body := e.do("demo", "PUT", "/network/v2.0/floatingips/"+id, s.body)
		if code != 200 {
			t.Fatalf("%s: %d %v", s.name, code, body)
		}
		f := fip(body)
		if f["port_id"] != s.portID || f["fixed_ip_address"] != s.fixed || f["router_id"] != s.router || f["status"] != s.status ||
			f["description"] != s.desc || f["revision_number"] != float64(i+2) {
			t.Fatalf("%s: %v", s.name, f)
		}
	}

	filters := []struct{ query, want string }{
		{"?port_id=" + p0["id"].(string), id},
		{"?port_id=" + p1["id"].(string), ""},
		{"?floating_network_id=" + w.ext + "&status=ACTIVE", id},
		{"?router_id=" + w.router + "&fixed_ip_address=" + fixedIP(p0, 0), id},
		{"?floating_ip_address=172.24.4.5", id},
		{"?status=DOWN", ""},
	}
	for _, f := range filters {
		_, body := e.do("demo", "GET", "/network/v2.0/floatingips"+f.query, "")
		var ids []string
		for _, it := range body["floatingips"].([]any) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		if got := strings.Join(ids, ","); got != f.want {
			t.Fatalf("filter %s: got %q want %q", f.query, got, f.want)
		}
	}
	if _, alt := e.do("alt", "GET", "/network/v2.0/floatingips", ""); len(alt["floatingips"].([]any)) != 0 {
		t.Fatalf("alt sees demo's floating IP: %v", alt)
	}

	addrs, err := e.svc.FloatingIPsOfPorts(context.Background(), "demo-project", []string{p0["id"].(string), p1["id"].(string)})
	if err != nil || mustJSON(addrs) != `{"`+p0["id"].(string)+`":["172.24.4.5"]}` {
		t.Fatalf("FloatingIPsOfPorts: %v %v", addrs, err)
	}

	// While the floating IP goes through the router, neither its interface
	// nor its gateway may go.
	if code, body := e.do("demo", "PUT", "/network/v2.0/routers/"+w.router+"/remove_router_interface", `{"subnet_id": "`+w.subnet+`"}`); code != 409 ||
		fault(body) != "RouterInterfaceInUseByFloatingIP" {
		t.Fatalf("remove interface under a floating IP: %d %v", code, body)
	}
	if code, body := e.do("demo", "PUT", "/network/v2.0/routers/"+w.router, `{"router": {"external_gateway_info": {}}}`); code != 409 ||
		fault(body) != "RouterExternalGatewayInUseByFloatingIp" {
		t.Fatalf("clear gateway under a floating IP: %d %v", code, body)
	}

	// Deleting the port disassociates (tempest test_floating_ip_delete_port).
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/ports/"+p0["id"].(string), ""); code != 204 {
		t.Fatalf("delete port: %d", code)
	}
	_, shown := e.do("demo", "GET", "/network/v2.0/floatingips/"+id, "")
	if f := fip(shown); f["port_id"] != nil || f["fixed_ip_address"] != nil || f["router_id"] != nil || f["status"] != "DOWN" {
		t.Fatalf("after port delete: %v", f)
	}
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/floatingips/"+id, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, body := e.do("demo", "GET", "/network/v2.0/floatingips/"+id, ""); code != 404 || fault(body) != "FloatingIPNotFound" {
		t.Fatalf("show deleted: %d %v", code, body)
	}
	// The address went back to the external subnet.
	again := e.mustCreate("demo", "/network/v2.0/floatingips", `{"floatingip": {"floating_network_id": "`+w.ext+`"}}`)
	if again["floating_ip_address"] != "172.24.4.5" || again["port_id"] != nil || again["status"] != "DOWN" {
		t.Fatalf("address not reused: %v", again)
	}
}

func fault(body map[string]any) string {
	e, _ := body["NeutronError"].(map[string]any)
	s, _ := e["type"].(string)
	return s
}

// TestFloatingIPFaults follows tempest's negative tests and Neutron's
// association rules, checking the exact NeutronError bodies.
func TestFloatingIPFaults(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	w := newFIPWorld(e, "demo", "10.31.0.0/28")
	// A second network behind a router without a gateway (tempest's
	// FloatingIPNegativeTestJSON sends external_gateway_info {}).
	lone := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "lone"}}`)["id"].(string)
	loneSub := e.mustCreate("demo", "/network/v2.0/subnets", `{"subnet": {"network_id": "`+lone+`", "ip_version": 4, "cidr": "10.32.0.0/28"}}`)["id"].(string)
	noGW := e.mustCreate("demo", "/network/v2.0/routers", `{"router": {"name": "nogw", "external_gateway_info": {}}}`)
	if noGW["external_gateway_info"] != nil {
		t.Fatalf("empty external_gateway_info made a gateway: %v", noGW)
	}
	e.do("demo", "PUT", "/network/v2.0/routers/"+noGW["id"].(string)+"/add_router_interface", `{"subnet_id": "`+loneSub+`"}`)
	lonePort := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+lone+`"}}`)
	multi := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+w.net+`", "fixed_ips": [{"ip_address": "10.31.0.14"}, {"ip_address": "10.31.0.13"}]}}`)
	taken := e.mustCreate("demo", "/network/v2.0/floatingips", `{"floatingip": {"floating_network_id": "`+w.ext+`", "port_id": "`+w.ports[0]["id"].(string)+`"}}`)
	free := e.mustCreate("demo", "/network/v2.0/floatingips", `{"floatingip": {"floating_network_id": "`+w.ext+`"}}`)
	altPort := e.mustCreate("alt", "/network/v2.0/ports", `{"port": {"network_id": "`+w.ext+`"}}`)

	const missing = "6f1e3c52-7a68-4fd4-9b1e-000000000000"
	create := func(extra string) string {
		return `{"floatingip": {"floating_network_id": "` + w.ext + `"` + extra + `}}`
	}
	p0, lp, mp := w.ports[0]["id"].(string), lonePort["id"].(string), multi["id"].(string)
	cases := []struct {
		name, token, method, path, body string
		status                          int
		typ, message                    string
	}{
		{"private network", "demo", "POST", "/network/v2.0/floatingips", `{"floatingip": {"floating_network_id": "` + w.net + `"}}`, 400,
			"BadRequest", "Bad floatingip request: Network " + w.net + " is not a valid external network."},
		{"no network", "demo", "POST", "/network/v2.0/floatingips", `{"floatingip": {}}`, 400,
			"HTTPBadRequest", "Failed to parse request. Required attribute 'floating_network_id' not specified"},
		{"unknown network", "demo", "POST", "/network/v2.0/floatingips", `{"floatingip": {"floating_network_id": "` + missing + `"}}`, 404,
			"NetworkNotFound", "Network " + missing + " could not be found."},
		{"unreachable port on create", "demo", "POST", "/network/v2.0/floatingips", create(`, "port_id": "` + lp + `", "fixed_ip_address": "` + fixedIP(lonePort, 0) + `"`), 404,
			"ExternalGatewayForFloatingIPNotFound", "External network " + w.ext + " is not reachable from subnet " + loneSub + ".  Therefore, cannot associate Port " + lp + " with a Floating IP."},
		{"unreachable port on update", "demo", "PUT", "/network/v2.0/floatingips/" + free["id"].(string), `{"floatingip": {"port_id": "` + lp + `"}}`, 404,
			"ExternalGatewayForFloatingIPNotFound", "External network " + w.ext + " is not reachable from subnet " + loneSub + ".  Therefore, cannot associate Port " + lp + " with a Floating IP."},
		{"several fixed IPs, none chosen", "demo", "POST", "/network/v2.0/floatingips", create(`, "port_id": "` + mp + `"`), 400,
			"BadRequest", "Bad floatingip request: Port " + mp + " has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP."},
		{"fixed IP not on the port", "demo", "POST", "/network/v2.0/floatingips", create(`, "port_id": "` + p0 + `", "fixed_ip_address": "10.31.0.9"`), 400,
			"BadRequest", "Bad floatingip request: Port " + p0 + " does not have fixed ip 10.31.0.9."},
		{"fixed IP without port", "demo", "POST", "/network/v2.0/floatingips", create(`, "fixed_ip_address": "10.31.0.9"`), 400,
			"BadRequest", "Bad floatingip request: fixed_ip_address cannot be specified without a port_id."},
		{"bad fixed IP", "demo", "POST", "/network/v2.0/floatingips", create(`, "port_id": "` + p0 + `", "fixed_ip_address": "10.31.0.300"`), 400,
			"HTTPBadRequest", "Invalid input for fixed_ip_address. Reason: '10.31.0.300' is not a valid IP address"},
		{"fixed IP already has one", "demo", "PUT", "/network/v2.0/floatingips/" + free["id"].(string), `{"floatingip": {"port_id": "` + p0 + `"}}`, 409,
			"FloatingIPPortAlreadyAssociated", "Cannot associate floating IP " + free["floating_ip_address"].(string) + " (" + free["id"].(string) + ") with port " + p0 +
				" using fixed IP " + fixedIP(w.ports[0], 0) + ", as that fixed IP already has a floating IP on external network " + w.ext + "."},
		{"member picks the address", "demo", "POST", "/network/v2.0/floatingips", create(`, "floating_ip_address": "172.24.4.99"`), 403,
			"PolicyNotAuthorized", "(rule:create_floatingip:floating_ip_address) is disallowed by policy"},
		{"another project's port", "demo", "PUT", "/network/v2.0/floatingips/" + free["id"].(string), `{"floatingip": {"port_id": "` + altPort["id"].(string) + `"}}`, 404,
			"PortNotFound", "Port " + altPort["id"].(string) + " could not be found."},
		{"alt updates demo's", "alt", "PUT", "/network/v2.0/floatingips/" + taken["id"].(string), `{"floatingip": {"port_id": null}}`, 404,
			"FloatingIPNotFound", "Floating IP " + taken["id"].(string) + " could not be found"},
		{"read-only attribute", "demo", "PUT", "/network/v2.0/floatingips/" + taken["id"].(string), `{"floatingip": {"floating_ip_address": "172.24.4.50"}}`, 400,
			"HTTPBadRequest", "Unrecognized attribute(s) 'floating_ip_address'"},
		{"reader creates", "reader", "POST", "/network/v2.0/floatingips", create(""), 403, "PolicyNotAuthorized", "(rule:create_floatingip) is disallowed by policy"},
		{"external network in use", "admin", "DELETE", "/network/v2.0/networks/" + w.ext, "", 409, "NetworkInUse",
			"Unable to complete operation on network " + w.ext + ". There are one or more ports still in use on the network."},
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

	// tempest test_create_update_floatingip_with_port_multiple_ip_address:
	// one fixed address, then the other of the same port.
	code, body := e.do("demo", "POST", "/network/v2.0/floatingips", create(`, "port_id": "`+mp+`", "fixed_ip_address": "10.31.0.14"`))
	if code != 201 || fip(body)["fixed_ip_address"] != "10.31.0.14" {
		t.Fatalf("multi create: %d %v", code, body)
	}
	mid := fip(body)["id"].(string)
	code, body = e.do("demo", "PUT", "/network/v2.0/floatingips/"+mid, `{"floatingip": {"port_id": "`+mp+`", "fixed_ip_address": "10.31.0.13"}}`)
	if code != 200 || fip(body)["fixed_ip_address"] != "10.31.0.13" {
		t.Fatalf("multi update: %d %v", code, body)
	}
	// The first address is free for another floating IP again.
	code, body = e.do("demo", "PUT", "/network/v2.0/floatingips/"+free["id"].(string), `{"floatingip": {"port_id": "`+mp+`", "fixed_ip_address": "10.31.0.14"}}`)
	if code != 200 {
		t.Fatalf("freed fixed address: %d %v", code, body)
	}
}

// TestFloatingIPQuota: the floatingip quota counts floating IPs and holds
// under concurrent creates, on the dev server and on a real redis-server.
func TestFloatingIPQuota(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *registry.Registry{"dev": devRegistry, "redis": realRedis} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, open(t))
			ctx := context.Background()
			project := uniqueProject("fipq")
			ext, _, err := e.svc.EnsureExternalNetwork(ctx, "public-"+project, "172.25.0.0/24")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.do("admin", "PUT", "/network/v2.0/quotas/"+project, `{"quota": {"floatingip": 50}}`) })
			if code, _ := e.do("admin", "PUT", "/network/v2.0/quotas/"+project, `{"quota": {"floatingip": 3}}`); code != 200 {
				t.Fatalf("set quota: %d", code)
			}
			var ok, over atomic.Int32
			var wg sync.WaitGroup
			for range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, body := e.do("admin", "POST", "/network/v2.0/floatingips", `{"floatingip": {"floating_network_id": "`+ext.ID+`", "project_id": "`+project+`"}}`)
					switch {
					case code == 201:
						ok.Add(1)
					case code == 409 && fault(body) == "OverQuota":
						over.Add(1)
					default:
						t.Errorf("create: %d %v", code, body)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 3 || over.Load() != 9 {
				t.Fatalf("created %d, refused %d; want 3 and 9", ok.Load(), over.Load())
			}
			_, det := e.do("admin", "GET", "/network/v2.0/quotas/"+project+"/details", "")
			if got := mustJSON(det["quota"].(map[string]any)["floatingip"]); got != `{"limit":3,"reserved":0,"used":3}` {
				t.Fatalf("details: %s", got)
			}
			_, list := e.do("admin", "GET", "/network/v2.0/floatingips?project_id="+project, "")
			for _, it := range list["floatingips"].([]any) {
				e.do("admin", "DELETE", "/network/v2.0/floatingips/"+it.(map[string]any)["id"].(string), "")
			}
		})
	}
}

// TestFloatingIPRaces: concurrent associations of many floating IPs to one
// fixed address leave exactly one holder; a port deleted while floating
// IPs associate to it leaves none pointing at it.
func TestFloatingIPRaces(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *registry.Registry{"dev": devRegistry, "redis": realRedis} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, open(t))
			tok := "member:" + uniqueProject("fiprace")
			w := newFIPWorld(e, tok, "10.33.0.0/28")
			const n = 8
			var ids []string
			for range n {
				ids = append(ids, e.mustCreate(tok, "/network/v2.0/floatingips", `{"floatingip": {"floating_network_id": "`+w.ext+`"}}`)["id"].(string))
			}
			target := w.ports[0]["id"].(string)
			var won atomic.Int32
			var wg sync.WaitGroup
			for _, id := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, body := e.do(tok, "PUT", "/network/v2.0/floatingips/"+id, `{"floatingip": {"port_id": "`+target+`"}}`)
					switch {
					case code == 200:
						won.Add(1)
					case code != 409 || fault(body) != "FloatingIPPortAlreadyAssociated":
						t.Errorf("associate: %d %v", code, body)
					}
				}()
			}
			wg.Wait()
			_, list := e.do(tok, "GET", "/network/v2.0/floatingips?port_id="+target, "")
			if won.Load() != 1 || len(list["floatingips"].([]any)) != 1 {
				t.Fatalf("%d associations succeeded, %d listed; want 1", won.Load(), len(list["floatingips"].([]any)))
			}
			// Delete the other port while every floating IP races to it.
			victim := w.ports[1]["id"].(string)
			e.do(tok, "PUT", "/network/v2.0/floatingips/"+list["floatingips"].([]any)[0].(map[string]any)["id"].(string), `{"floatingip": {"port_id": null}}`)
			for i, id := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i == n/2 {
						e.do(tok, "DELETE", "/network/v2.0/ports/"+victim, "")
					}
					e.do(tok, "PUT", "/network/v2.0/floatingips/"+id, `{"floatingip": {"port_id": "`+victim+`"}}`)
				}()
			}
			wg.Wait()
			_, list = e.do(tok, "GET", "/network/v2.0/floatingips?port_id="+victim, "")
			if got := len(list["floatingips"].([]any)); got != 0 {
				t.Fatalf("%d floating IPs point at a deleted port", got)
			}
			for _, id := range ids {
				if code, _ := e.do(tok, "DELETE", "/network/v2.0/floatingips/"+id, ""); code != 204 {
					t.Fatalf("delete %s: %d", id, code)
				}
			}
		})
	}
}
