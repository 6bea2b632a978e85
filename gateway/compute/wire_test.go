package compute_test

import (
	"net/http"
	"strings"
	"testing"
)

// Request fixtures, as openstackclient and tempest send them.
const (
	createOSC = `{"server": {"name": "vm1", "imageRef": "` + imageID + `", "flavorRef": "1", "min_count": 1, "max_count": 1,
		"networks": [{"uuid": "` + netA + `"}]}}`
	createTempest = `{"server": {"name": "tempest-server-1", "imageRef": "` + imageID + `", "flavorRef": "1",
		"metadata": {"hello": "world"}, "accessIPv4": "1.1.1.1", "accessIPv6": "0000:0000:0000:0000:0000:babe:220.12.22.2",
		"adminPass": "s3cret", "networks": [{"uuid": "` + netA + `"}], "OS-DCF:diskConfig": "AUTO"}}`
	createOtherNet  = `{"server": {"name": "vm1", "imageRef": "` + imageID + `", "flavorRef": "1", "networks": [{"uuid": "` + netB + `"}]}}`
	createBadFlavor = `{"server": {"name": "vm1", "imageRef": "` + imageID + `", "flavorRef": "999", "networks": [{"uuid": "` + netA + `"}]}}`
	createBadImage  = `{"server": {"name": "vm1", "imageRef": "-1", "flavorRef": "1"}}`
	createLongName  = `{"server": {"name": "` + "a" + `LONGNAME", "imageRef": "` + imageID + `", "flavorRef": "1"}}`
	createUnknown   = `{"server": {"name": "vm1", "imageRef": "` + imageID + `", "flavorRef": "1", "bogus": 1}}`
	createBadNetID  = `{"server": {"name": "vm1", "imageRef": "` + imageID + `", "flavorRef": "1", "networks": [{"fixed_ip": "10.0.1.1", "uuid": "a-b-c-d-e-f-g-h-i-j"}]}}`
	createBadIPv6   = `{"server": {"name": "vm1", "imageRef": "` + imageID + `", "flavorRef": "1", "accessIPv6": "2.2.2.2"}}`
	createWrongType = `{"server": {"name": 42, "imageRef": "` + imageID + `", "flavorRef": "1"}}`
	createBadKey    = `{"server": {"name": "vm1", "imageRef": "` + imageID + `", "flavorRef": "1", "key_name": "nope", "networks": [{"uuid": "` + netA + `"}]}}`
	createBadAZ     = `{"server": {"name": "vm1", "imageRef": "` + imageID + `", "flavorRef": "1", "availability_zone": "mars", "networks": [{"uuid": "` + netA + `"}]}}`
	createNoNets237 = `{"server": {"name": "vm1", "imageRef": "` + imageID + `", "flavorRef": "1"}}`
	createMalformed = `{"server": {"name": "vm1",`
	flavorCreate    = `{"flavor": {"name": "m1.custom", "ram": 1024, "vcpus": 2, "disk": 10, "id": "42"}}`
	keypairCreate   = `{"keypair": {"name": "k1"}}`
	keypairImport   = `{"keypair": {"name": "k2", "type": "ssh", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGgn9wz3f4fSqKXOMbXmyFn6FeFhVmS3SxDgL20Sz3Xn test"}}`
)

func TestVersionDocuments(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name, path string
		want       string
	}{
		{"root", "/compute/", `"id":"v2.1"`},
		{"v2.1", "/compute/v2.1", `"version":"2.79"`},
		{"v2.1 slash", "/compute/v2.1/", `"min_version":"2.1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("GET", tc.path, "", "", "")
			if r.status != http.StatusOK || !strings.Contains(string(r.body), tc.want) {
				t.Errorf("%d %s", r.status, r.body)
			}
		})
	}
}

func TestMicroversionNegotiation(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name, version string
		status        int
		echo          string
	}{
		{"none is 2.1", "", 200, "2.1"},
		{"2.79", "2.79", 200, "2.79"},
		{"latest", "latest", 200, "2.79"},
		{"novaclient latest 2.92", "2.92", 406, "2.92"},
		{"below minimum", "2.0", 406, "2.0"},
		{"garbage", "two", 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("GET", "/compute/v2.1/flavors", tokMember, tc.version, "")
			if r.status != tc.status || r.header.Get("X-OpenStack-Nova-API-Version") != tc.echo {
				t.Errorf("status %d echo %q: %s", r.status, r.header.Get("X-OpenStack-Nova-API-Version"), r.body)
			}
			if tc.status == 406 && !strings.Contains(string(r.body), `"notAcceptable"`) {
				t.Errorf("406 body %s", r.body)
			}
		})
	}
}

func TestCreateFaults(t *testing.T) {
	h := newHarness(t)
	long := strings.Replace(createLongName, "LONGNAME", strings.Repeat("a", 256), 1)
	cases := []struct {
		name, token, version, body string
		status                     int
		fault                      string
	}{
		{"no token", "", "", createOSC, 401, `"unauthorized"`},
		{"reader", tokReader, "", createOSC, 403, `"forbidden"`},
		{"malformed JSON", tokMember, "", createMalformed, 400, "Malformed request body"},
		{"unknown field", tokMember, "", createUnknown, 400, "Additional properties are not allowed"},
		{"wrong type", tokMember, "", createWrongType, 400, "Invalid input for field/attribute"},
		{"name too long", tokMember, "", long, 400, "Invalid input for field/attribute name"},
		{"missing flavor", tokMember, "", createBadFlavor, 400, "Flavor 999 could not be found."},
		{"bad image ref", tokMember, "", createBadImage, 400, "Invalid imageRef provided."},
		{"bad network uuid", tokMember, "", createBadNetID, 400, "network uuid is not in proper format"},
		{"network of another project", tokMember, "", createOtherNet, 400, "Network " + netB + " could not be found."},
		{"bad IPv6", tokMember, "", createBadIPv6, 400, "accessIPv6"},
		{"missing key pair", tokMember, "", createBadKey, 400, "Invalid key_name provided."},
		{"unknown zone", tokMember, "", createBadAZ, 400, "The requested availability zone is not available"},
		{"networks required at 2.37", tokMember, "2.37", createNoNets237, 400, "'networks' is a required property"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("POST", "/compute/v2.1/servers", tc.token, tc.version, tc.body)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.fault) {
				t.Errorf("got %d %s, want %d containing %q", r.status, r.body, tc.status, tc.fault)
			}
		})
	}
	if l := h.do("GET", "/compute/v2.1/servers", tokMember, "", ""); !strings.Contains(string(l.body), `"servers":[]`) {
		t.Errorf("rejected creates left servers: %s", l.body)
	}
	if h.placer.Claims() != 0 || h.ports.Held() != 0 {
		t.Errorf("rejected creates left claims %d ports %d", h.placer.Claims(), h.ports.Held())
	}
}

func TestServerLifecycle(t *testing.T) {
	h := newHarness(t)
	r := h.do("POST", "/compute/v2.1/servers", tokMember, "", createOSC)
	if r.status != http.StatusAccepted || r.header.Get("Location") == "" || !strings.Contains(string(r.body), `"adminPass"`) {
		t.Fatalf("create: %d %s %v", r.status, r.body, r.header)
	}
	id := r.json(t)["server"].(map[string]any)["id"].(string)
	h.waitStatus(tokMember, id, "ACTIVE")
	srv := h.do("GET", "/compute/v2.1/servers/"+id, tokMember, "", "").json(t)["server"].(map[string]any)
	addrs := srv["addresses"].(map[string]any)["private"].([]any)[0].(map[string]any)
	if addrs["version"] != 4.0 || addrs["OS-EXT-IPS:type"] != "fixed" || addrs["OS-EXT-IPS-MAC:mac_addr"] == "" {
		t.Errorf("addresses %v", addrs)
	}
	if la, _ := srv["OS-SRV-USG:launched_at"].(string); la == "" || strings.HasSuffix(la, "Z") {
		t.Errorf("launched_at %q must be set and carry no Z", la)
	}
	if c, _ := srv["created"].(string); !strings.HasSuffix(c, "Z") {
		t.Errorf("created %q must end in Z", c)
	}
	steps := []struct {
		name, method, path, token, body string
		status                          int
		thenStatus                      string
	}{
		{"name is not an id", "GET", "/compute/v2.1/servers/vm1", tokMember, "", 404, ""},
		{"other project cannot see", "GET", "/compute/v2.1/servers/" + id, tokOther, "", 404, ""},
		{"start while active", "POST", "/compute/v2.1/servers/" + id + "/action", tokMember, `{"os-start": null}`, 409, ""},
		{"stop", "POST", "/compute/v2.1/servers/" + id + "/action", tokMember, `{"os-stop": null}`, 202, "SHUTOFF"},
		{"start", "POST", "/compute/v2.1/servers/" + id + "/action", tokMember, `{"os-start": null}`, 202, "ACTIVE"},
		{"reboot soft", "POST", "/compute/v2.1/servers/" + id + "/action", tokMember, `{"reboot": {"type": "SOFT"}}`, 202, "ACTIVE"},
		{"reboot hard", "POST", "/compute/v2.1/servers/" + id + "/action", tokMember, `{"reboot": {"type": "HARD"}}`, 202, "ACTIVE"},
		{"reboot bad type", "POST", "/compute/v2.1/servers/" + id + "/action", tokMember, `{"reboot": {"type": "WARM"}}`, 400, ""},
		{"console", "POST", "/compute/v2.1/servers/" + id + "/action", tokMember, `{"os-getConsoleOutput": {"length": 5}}`, 200, ""},
		{"pause unsupported", "POST", "/compute/v2.1/servers/" + id + "/action", tokMember, `{"pause": null}`, 501, ""},
		{"rename", "PUT", "/compute/v2.1/servers/" + id, tokMember, `{"server": {"name": "vm1-renamed"}}`, 200, ""},
		{"rename too long", "PUT", "/compute/v2.1/servers/" + id, tokMember, `{"server": {"name": "` + strings.Repeat("x", 256) + `"}}`, 400, ""},
		{"rename empty", "PUT", "/compute/v2.1/servers/" + id, tokMember, `{"server": {"name": ""}}`, 400, ""},
		{"ips", "GET", "/compute/v2.1/servers/" + id + "/ips", tokMember, "", 200, ""},
		{"metadata set", "POST", "/compute/v2.1/servers/" + id + "/metadata", tokMember, `{"metadata": {"k": "v"}}`, 200, ""},
		{"metadata item", "GET", "/compute/v2.1/servers/" + id + "/metadata/k", tokMember, "", 200, ""},
		{"metadata missing item", "GET", "/compute/v2.1/servers/" + id + "/metadata/x", tokMember, "", 404, ""},
		{"lock", "POST", "/compute/v2.1/servers/" + id + "/action", tokMember, `{"lock": null}`, 202, ""},
		{"delete locked", "DELETE", "/compute/v2.1/servers/" + id, tokMember, "", 409, ""},
		{"unlock", "POST", "/compute/v2.1/servers/" + id + "/action", tokMember, `{"unlock": null}`, 202, ""},
		{"actions", "GET", "/compute/v2.1/servers/" + id + "/os-instance-actions", tokMember, "", 200, ""},
		{"reader cannot delete", "DELETE", "/compute/v2.1/servers/" + id, tokReader, "", 403, ""},
		{"delete", "DELETE", "/compute/v2.1/servers/" + id, tokMember, "", 204, ""},
	}
	for _, st := range steps {
		r := h.do(st.method, st.path, st.token, "", st.body)
		if r.status != st.status {
			t.Fatalf("%s: %d %s, want %d", st.name, r.status, r.body, st.status)
		}
		if st.thenStatus != "" {
			h.waitStatus(tokMember, id, st.thenStatus)
		}
	}
	h.waitStatus(tokMember, id, "")
	if h.placer.Claims() != 0 || h.ports.Held() != 0 || h.cloud.Has(id) {
		t.Errorf("deleted server left claims %d ports %d backend %v", h.placer.Claims(), h.ports.Held(), h.cloud.Has(id))
	}
}

func TestListFiltersAndPaging(t *testing.T) {
	h := newHarness(t)
	var ids []string
	for _, name := range []string{"alpha", "beta", "gamma"} {
		ids = append(ids, h.boot(tokMember, strings.Replace(createOSC, `"vm1"`, `"`+name+`"`, 1)))
	}
	h.boot(tokOther, strings.Replace(strings.Replace(createOSC, netA, netB, 1), `"vm1"`, `"theirs"`, 1))
	cases := []struct {
		name, query, token string
		status             int
		want               []string // names, in order
		next               bool
	}{
		{"default newest first", "", tokMember, 200, []string{"gamma", "beta", "alpha"}, false},
		{"limit makes next link", "?limit=2", tokMember, 200, []string{"gamma", "beta"}, true},
		{"marker", "?marker=" + ids[1], tokMember, 200, []string{"alpha"}, false},
		{"marker not found", "?marker=nope", tokMember, 400, nil, false},
		{"name regex", "?name=^al", tokMember, 200, []string{"alpha"}, false},
		{"name no match", "?name=zzz", tokMember, 200, []string{}, false},
		{"status", "?status=ACTIVE", tokMember, 200, []string{"gamma", "beta", "alpha"}, false},
		{"unknown status at 2.1", "?status=non_existing", tokMember, 200, []string{}, false},
		{"flavor", "?flavor=2", tokMember, 200, []string{}, false},
		{"image", "?image=" + imageID, tokMember, 200, []string{"gamma", "beta", "alpha"}, false},
		{"ip regex", "?ip=10.0.0", tokMember, 200, []string{"gamma", "beta", "alpha"}, false},
		{"changes-since future", "?changes-since=2099-01-01T00:00:00Z", tokMember, 200, []string{}, false},
		{"changes-since invalid", "?changes-since=2011/01/01", tokMember, 400, nil, false},
		{"limit negative", "?limit=-1", tokMember, 400, nil, false},
		{"limit string", "?limit=abc", tokMember, 400, nil, false},
		{"sort by name asc", "?sort_key=display_name&sort_dir=asc", tokMember, 200, []string{"alpha", "beta", "gamma"}, false},
		{"all_tenants member", "?all_tenants=1", tokMember, 403, nil, false},
		{"all_tenants admin", "?all_tenants=1&name=theirs", tokAdmin, 200, []string{"theirs"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("GET", "/compute/v2.1/servers"+tc.query, tc.token, "", "")
			if r.status != tc.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if tc.want == nil {
				return
			}
			body := r.json(t)
			var names []string
			for _, s := range body["servers"].([]any) {
				names = append(names, s.(map[string]any)["name"].(string))
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Errorf("names %v, want %v", names, tc.want)
			}
			if _, ok := body["servers_links"]; ok != tc.next {
				t.Errorf("servers_links present = %v", ok)
			}
		})
	}
}

func TestFlavorsKeypairsAndFriends(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name, method, path, token, version, body string
		status                                   int
		contains                                 string
	}{
		{"flavor by name is 404", "GET", "/compute/v2.1/flavors/m1.tiny", tokMember, "", "", 404, `"itemNotFound"`},
		{"flavor show", "GET", "/compute/v2.1/flavors/1", tokMember, "", "", 200, `"swap":""`},
		{"flavor show 2.75 swap int", "GET", "/compute/v2.1/flavors/1", tokMember, "2.75", "", 200, `"swap":0`},
		{"flavor extra specs at 2.61", "GET", "/compute/v2.1/flavors/2", tokMember, "2.61", "", 200, `"hw:cpu_policy":"shared"`},
		{"extra specs", "GET", "/compute/v2.1/flavors/2/os-extra_specs", tokMember, "", "", 200, `"extra_specs"`},
		{"member cannot create flavor", "POST", "/compute/v2.1/flavors", tokMember, "", flavorCreate, 403, `"forbidden"`},
		{"admin creates flavor", "POST", "/compute/v2.1/flavors", tokAdmin, "", flavorCreate, 200, `"id":"42"`},
		{"duplicate flavor", "POST", "/compute/v2.1/flavors", tokAdmin, "", flavorCreate, 409, "already exists"},
		{"member cannot delete flavor", "DELETE", "/compute/v2.1/flavors/42", tokMember, "", "", 403, ""},
		{"admin deletes flavor", "DELETE", "/compute/v2.1/flavors/42", tokAdmin, "", "", 202, ""},
		{"keypair generate 2.2", "POST", "/compute/v2.1/os-keypairs", tokMember, "2.2", keypairCreate, 201, `"private_key":"-----BEGIN OPENSSH PRIVATE KEY-----`},
		{"keypair duplicate", "POST", "/compute/v2.1/os-keypairs", tokMember, "2.2", keypairCreate, 409, "already exists"},
		{"keypair import 2.1", "POST", "/compute/v2.1/os-keypairs", tokMember, "", keypairImport, 400, "Additional properties"},
		{"keypair import", "POST", "/compute/v2.1/os-keypairs", tokMember, "2.2", keypairImport, 201, `"fingerprint":"`},
		{"keypair list", "GET", "/compute/v2.1/os-keypairs", tokMember, "2.2", "", 200, `"type":"ssh"`},
		{"keypair show", "GET", "/compute/v2.1/os-keypairs/k1", tokMember, "", "", 200, `"deleted":false`},
		{"keypair of another user", "GET", "/compute/v2.1/os-keypairs/k1", tokOther, "", "", 404, "not found for user"},
		{"keypair delete 2.1", "DELETE", "/compute/v2.1/os-keypairs/k2", tokMember, "", "", 202, ""},
		{"zones", "GET", "/compute/v2.1/os-availability-zone", tokMember, "", "", 200, `"zoneName":"nova"`},
		{"zones detail member", "GET", "/compute/v2.1/os-availability-zone/detail", tokMember, "", "", 403, ""},
		{"limits", "GET", "/compute/v2.1/limits", tokMember, "", "", 200, `"maxTotalInstances":2000`},
		{"quota", "GET", "/compute/v2.1/os-quota-sets/" + projectA, tokMember, "", "", 200, `"instances":2000`},
		{"quota of another project", "GET", "/compute/v2.1/os-quota-sets/" + projectB, tokMember, "", "", 403, ""},
		{"server group", "POST", "/compute/v2.1/os-server-groups", tokMember, "", `{"server_group": {"name": "g", "policies": ["affinity"]}}`, 200, `"policies":["affinity"]`},
		{"server group 2.64", "POST", "/compute/v2.1/os-server-groups", tokMember, "2.64", `{"server_group": {"name": "g2", "policy": "anti-affinity"}}`, 200, `"policy":"anti-affinity"`},
		{"server group bad policy", "POST", "/compute/v2.1/os-server-groups", tokMember, "", `{"server_group": {"name": "g", "policies": ["sideways"]}}`, 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(tc.method, tc.path, tc.token, tc.version, tc.body)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.contains) {
				t.Errorf("got %d %s, want %d containing %q", r.status, r.body, tc.status, tc.contains)
			}
		})
	}
}

func TestCreateImageAndTags(t *testing.T) {
	h := newHarness(t)
	id := h.boot(tokMember, createOSC)
	r := h.do("POST", "/compute/v2.1/servers/"+id+"/action", tokMember, "", `{"createImage": {"name": "snap"}}`)
	if r.status != 202 || !strings.Contains(r.header.Get("Location"), "/image/v2/images/") {
		t.Fatalf("createImage 2.1: %d %v", r.status, r.header)
	}
	h.waitStatus(tokMember, id, "ACTIVE")
	r = h.do("POST", "/compute/v2.1/servers/"+id+"/action", tokMember, "2.45", `{"createImage": {"name": "snap2"}}`)
	if r.status != 202 || !strings.Contains(string(r.body), `"image_id"`) {
		t.Fatalf("createImage 2.45: %d %s", r.status, r.body)
	}
	h.waitStatus(tokMember, id, "ACTIVE")
	steps := []struct {
		method, path, version, body string
		status                      int
	}{
		{"GET", "/tags", "2.1", "", 404},
		{"PUT", "/tags/t1", "2.26", "", 201},
		{"PUT", "/tags/t1", "2.26", "", 204},
		{"GET", "/tags/t1", "2.26", "", 204},
		{"GET", "/tags/t2", "2.26", "", 404},
		{"PUT", "/tags", "2.26", `{"tags": ["a", "b"]}`, 200},
		{"PUT", "/tags", "2.26", `{"tags": ["a/b"]}`, 400},
		{"DELETE", "/tags/a", "2.26", "", 204},
		{"DELETE", "/tags", "2.26", "", 204},
	}
	for _, st := range steps {
		if r := h.do(st.method, "/compute/v2.1/servers/"+id+st.path, tokMember, st.version, st.body); r.status != st.status {
			t.Errorf("%s %s: %d %s, want %d", st.method, st.path, r.status, r.body, st.status)
		}
	}
}
