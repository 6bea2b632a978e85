package network_test

import (
	"net/http"
	"strings"
	"testing"
)

const (
	netID    = "0b0d4b5e-1f7c-4d59-8c3c-6c1b8a0c0001"
	subnetID = "0b0d4b5e-1f7c-4d59-8c3c-6c1b8a0c0002"
	portID   = "0b0d4b5e-1f7c-4d59-8c3c-6c1b8a0c0003"
	// demoDefaultSG is demo-project's default security group: its id is
	// derived from the project, so every replica makes the same one.
	demoDefaultSG = "11c118c1-0f71-5b9b-b6c2-95f4dcf437c6"
)

const versionsFixture = `{"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": "BASE/network/v2.0/"}]}]}`

const networkFixture = `{"network": {
 "admin_state_up": true, "availability_zone_hints": [], "availability_zones": ["nova"],
 "created_at": "2026-11-29T06:31:42Z", "description": "", "id": "` + netID + `",
 "ipv4_address_scope": null, "ipv6_address_scope": null, "is_default": false, "l2_adjacency": true,
 "mtu": 1500, "name": "net1", "port_security_enabled": true, "project_id": "demo-project",
 "revision_number": 1, "router:external": false, "shared": false, "status": "ACTIVE",
 "subnets": [], "tags": [], "tenant_id": "demo-project", "updated_at": "2026-11-29T06:31:42Z"}}`

const subnetFixture = `{"subnet": {
 "allocation_pools": [{"start": "10.9.0.2", "end": "10.9.0.254"}], "cidr": "10.9.0.0/24",
 "created_at": "2026-11-29T06:31:42Z", "description": "", "dns_nameservers": [], "enable_dhcp": true,
 "gateway_ip": "10.9.0.1", "host_routes": [], "id": "` + subnetID + `", "ip_version": 4,
 "ipv6_address_mode": null, "ipv6_ra_mode": null, "name": "sub1", "network_id": "` + netID + `",
 "project_id": "demo-project", "revision_number": 1, "subnetpool_id": null, "tags": [],
 "tenant_id": "demo-project", "updated_at": "2026-11-29T06:31:42Z"}}`

const portFixtureNoMAC = `{
 "admin_state_up": true, "allowed_address_pairs": [], "binding:host_id": "", "binding:profile": {},
 "binding:vif_details": {}, "binding:vif_type": "unbound", "binding:vnic_type": "normal",
 "created_at": "2026-11-29T06:31:42Z", "description": "", "device_id": "", "device_owner": "",
 "fixed_ips": [{"subnet_id": "` + subnetID + `", "ip_address": "10.9.0.4"}], "id": "` + portID + `",
 "name": "p1", "network_id": "` + netID + `", "port_security_enabled": true, "project_id": "demo-project",
 "revision_number": 1, "security_groups": ["` + demoDefaultSG + `"], "status": "DOWN", "tags": [], "tenant_id": "demo-project",
 "updated_at": "2026-11-29T06:31:42Z"}`

func TestWireBodies(t *testing.T) {
	e := newEnv(t, devRegistry(t), netID, subnetID, portID)
	code, body := e.do("", "GET", "/network/", "")
	if code != http.StatusOK {
		t.Fatalf("versions: %d", code)
	}
	want := canonical(t, strings.ReplaceAll(versionsFixture, "BASE", e.srv.URL))
	if got := mustJSON(body); got != want {
		t.Fatalf("versions:\n got %s\nwant %s", got, want)
	}
	steps := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"create network", "POST", "/network/v2.0/networks", `{"network": {"name": "net1", "admin_state_up": true}}`, 201, networkFixture},
		{"show network", "GET", "/network/v2.0/networks/" + netID, "", 200, networkFixture},
		{"create subnet", "POST", "/network/v2.0/subnets", `{"subnet": {"ip_version": 4, "network_id": "` + netID + `", "name": "sub1", "cidr": "10.9.0.0/24"}}`, 201, subnetFixture},
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
	port := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+netID+`", "name": "p1"}}`)
	mac, _ := port["mac_address"].(string)
	if len(mac) != 17 || mac[:9] != "fa:16:3e:" {
		t.Fatalf("mac_address %q is not fa:16:3e:xx:xx:xx", mac)
	}
	delete(port, "mac_address")
	if got, want := mustJSON(port), canonical(t, portFixtureNoMAC); got != want {
		t.Fatalf("port:\n got %s\nwant %s", got, want)
	}
	_, shown := e.do("demo", "GET", "/network/v2.0/networks/"+netID+"?fields=id&fields=subnets", "")
	if got, want := mustJSON(shown), canonical(t, `{"network": {"id": "`+netID+`", "subnets": ["`+subnetID+`"]}}`); got != want {
		t.Fatalf("fields=:\n got %s\nwant %s", got, want)
	}
}
