package network_test

import (
	"strings"
	"testing"
)

// TestPortUpdate drives fixed_ips, mac_address and allowed_address_pairs
// updates as tempest's port tests do, and checks that a failed update
// leaves the port's addresses as they were.
func TestPortUpdate(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	s1 := e.mustCreate("demo", "/network/v2.0/subnets", `{"subnet": {"network_id": "`+nid+`", "ip_version": 4, "cidr": "10.40.0.0/28"}}`)["id"].(string)
	s2 := e.mustCreate("demo", "/network/v2.0/subnets", `{"subnet": {"network_id": "`+nid+`", "ip_version": 4, "cidr": "10.41.0.0/28"}}`)["id"].(string)
	pid := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "fixed_ips": [{"subnet_id": "`+s1+`"}]}}`)["id"].(string)
	other := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "fixed_ips": [{"ip_address": "10.41.0.9"}]}}`)
	path := "/network/v2.0/ports/" + pid
	steps := []struct {
		name, token, body string
		status            int
		fixed, pairs      string
	}{
		{"move to the other subnet", "demo", `{"port": {"fixed_ips": [{"subnet_id": "` + s2 + `"}], "admin_state_up": false}}`, 200,
			`[{"ip_address":"10.41.0.4","subnet_id":"` + s2 + `"}]`, `[]`},
		{"keep it and add a chosen address", "demo", `{"port": {"fixed_ips": [{"subnet_id": "` + s2 + `"}, {"ip_address": "10.40.0.7"}]}}`, 200,
			`[{"ip_address":"10.41.0.4","subnet_id":"` + s2 + `"},{"ip_address":"10.40.0.7","subnet_id":"` + s1 + `"}]`, `[]`},
		{"a taken address leaves the port as it was", "demo", `{"port": {"fixed_ips": [{"ip_address": "10.40.0.8"}, {"ip_address": "10.41.0.9"}]}}`, 409,
			`[{"ip_address":"10.41.0.4","subnet_id":"` + s2 + `"},{"ip_address":"10.40.0.7","subnet_id":"` + s1 + `"}]`, `[]`},
		{"pairs with and without a MAC", "demo", `{"port": {"allowed_address_pairs": [{"ip_address": "10.40.0.0/28"}, {"ip_address": "10.9.9.9", "mac_address": "FA:16:3E:00:00:09"}]}}`, 200,
			`[{"ip_address":"10.41.0.4","subnet_id":"` + s2 + `"},{"ip_address":"10.40.0.7","subnet_id":"` + s1 + `"}]`,
			`[{"ip_address":"10.40.0.0/28","mac_address":"MAC"},{"ip_address":"10.9.9.9","mac_address":"fa:16:3e:00:00:09"}]`},
		{"admin changes the MAC", "admin", `{"port": {"mac_address": "fa:16:3e:aa:bb:cc"}}`, 200,
			`[{"ip_address":"10.41.0.4","subnet_id":"` + s2 + `"},{"ip_address":"10.40.0.7","subnet_id":"` + s1 + `"}]`,
			`[{"ip_address":"10.40.0.0/28","mac_address":"fa:16:3e:aa:bb:cc"},{"ip_address":"10.9.9.9","mac_address":"fa:16:3e:00:00:09"}]`},
		{"a MAC in use", "admin", `{"port": {"mac_address": "` + other["mac_address"].(string) + `"}}`, 409,
			`[{"ip_address":"10.41.0.4","subnet_id":"` + s2 + `"},{"ip_address":"10.40.0.7","subnet_id":"` + s1 + `"}]`,
			`[{"ip_address":"10.40.0.0/28","mac_address":"fa:16:3e:aa:bb:cc"},{"ip_address":"10.9.9.9","mac_address":"fa:16:3e:00:00:09"}]`},
		{"clear pairs and addresses", "demo", `{"port": {"allowed_address_pairs": [], "fixed_ips": []}}`, 200, `[]`, `[]`},
	}
	mac := ""
	for _, s := range steps {
		code, body := e.do(s.token, "PUT", path, s.body)
		if code != s.status {
			t.Fatalf("%s: %d %v", s.name, code, body)
		}
		_, shown := e.do("demo", "GET", path, "")
		pt := shown["port"].(map[string]any)
		if mac == "" {
			mac = pt["mac_address"].(string)
		}
		pairs := s.pairs
		if len(pairs) > 2 {
			pairs = canonical(t, replaceAll(pairs, "MAC", mac))
		}
		if got := mustJSON(pt["fixed_ips"]); got != canonical(t, s.fixed) {
			t.Fatalf("%s: fixed_ips %s, want %s", s.name, got, s.fixed)
		}
		if got := mustJSON(pt["allowed_address_pairs"]); got != pairs {
			t.Fatalf("%s: pairs %s, want %s", s.name, got, pairs)
		}
	}
	// The addresses the port gave up are free again; the old MAC too.
	e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`", "fixed_ips": [{"ip_address": "10.40.0.7"}, {"ip_address": "10.41.0.2"}], "mac_address": "`+mac+`"}}`)
	if code, body := e.do("demo", "DELETE", "/network/v2.0/subnets/"+s1, ""); code != 409 {
		t.Fatalf("subnet still holds an address: %d %v", code, body)
	}
}

func replaceAll(s, old, new string) string { return strings.ReplaceAll(s, old, new) }
