package network_test

import "testing"

// TestExternalSubnetsHidden follows tempest's
// test_external_network_visibility: everyone sees an external network, but
// its subnets only its owner (and admins) see, unless it is shared.
func TestExternalSubnetsHidden(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	nid := e.mustCreate("admin", "/network/v2.0/networks", `{"network": {"name": "ext", "router:external": true}}`)["id"].(string)
	sid := e.mustCreate("admin", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 4, "cidr": "172.30.0.0/24"`))["id"].(string)
	if code, _ := e.do("demo", "GET", "/network/v2.0/networks/"+nid, ""); code != 200 {
		t.Fatalf("demo cannot see the external network: %d", code)
	}
	if code, body := e.do("demo", "GET", "/network/v2.0/subnets?network_id="+nid, ""); code != 200 || mustJSON(body) != `{"subnets":[]}` {
		t.Fatalf("demo lists the external subnets: %d %v", code, body)
	}
	if code, body := e.do("demo", "GET", "/network/v2.0/subnets/"+sid, ""); code != 404 || fault(body) != "SubnetNotFound" {
		t.Fatalf("demo shows the external subnet: %d %v", code, body)
	}
	if code, body := e.do("admin", "GET", "/network/v2.0/subnets?network_id="+nid+"&fields=id", ""); code != 200 || mustJSON(body) != `{"subnets":[{"id":"`+sid+`"}]}` {
		t.Fatalf("admin list: %d %v", code, body)
	}
	shared := e.mustCreate("admin", "/network/v2.0/networks", `{"network": {"name": "sh", "router:external": true, "shared": true}}`)["id"].(string)
	e.mustCreate("admin", "/network/v2.0/subnets", subnetBody(shared, `"ip_version": 4, "cidr": "172.31.0.0/24"`))
	if code, body := e.do("demo", "GET", "/network/v2.0/subnets?network_id="+shared, ""); code != 200 || len(body["subnets"].([]any)) != 1 {
		t.Fatalf("demo cannot list a shared network's subnets: %d %v", code, body)
	}
}
