package blockstorage_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// Request bodies as clients send them.
const (
	// cinderclient (OSC 6.0 `volume create --size 1 vol1`) sends every key.
	createOSC = `{"volume": {"size": 1, "consistencygroup_id": null, "snapshot_id": null, "name": "vol1", "description": null,
		"volume_type": null, "availability_zone": null, "metadata": {}, "imageRef": null, "source_volid": null, "backup_id": null}}`
	// tempest's create_volume in VolumesGetTest.
	createTempest   = `{"volume": {"size": 1, "name": "tempest-vol", "metadata": {"Type": "Test"}}}`
	createFromImage = `{"volume": {"size": 1, "name": "boot", "imageRef": "` + imageID + `"}}`
)

var cinderTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$`)

func TestVersionDocuments(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name, path string
		want       int
	}{
		{"root is 300", "/volume/", 300},
		{"root without slash", "/volume", 300},
		{"v3 is 200", "/volume/v3/", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("GET", c.path, "", "", "")
			if r.status != c.want {
				t.Fatalf("GET %s = %d; want %d", c.path, r.status, c.want)
			}
			v := r.json(t)["versions"].([]any)[0].(map[string]any)
			if v["id"] != "v3.0" || v["min_version"] != "3.0" || v["version"] != "3.60" {
				t.Errorf("version entry = %v", v)
			}
		})
	}
}

func TestCreateFaults(t *testing.T) {
	h := newHarness(t)
	path := "/volume/v3/" + projectA + "/volumes"
	cases := []struct {
		name, token, body string
		status            int
		key, mentions     string
	}{
		{"size not a number", tokMember, `{"volume": {"size": "#$%"}}`, 400, "badRequest", "size"},
		{"size empty", tokMember, `{"volume": {"size": ""}}`, 400, "badRequest", "size"},
		{"size zero", tokMember, `{"volume": {"size": 0}}`, 400, "badRequest", "size"},
		{"size negative", tokMember, `{"volume": {"size": -1}}`, 400, "badRequest", "size"},
		{"size missing", tokMember, `{"volume": {"name": "x"}}`, 400, "badRequest", "size"},
		{"size a float", tokMember, `{"volume": {"size": 1.5}}`, 400, "badRequest", "size"},
		{"no volume", tokMember, `{"size": 1}`, 400, "badRequest", "volume"},
		{"not json", tokMember, `{"volume": `, 400, "badRequest", "Malformed"},
		{"name too long", tokMember, `{"volume": {"size": 1, "name": "` + strings.Repeat("n", 256) + `"}}`, 400, "badRequest", "name"},
		{"metadata not strings", tokMember, `{"volume": {"size": 1, "metadata": {"a": 1}}}`, 400, "badRequest", "metadata"},
		{"unknown type", tokMember, `{"volume": {"size": 1, "volume_type": "gold"}}`, 404, "itemNotFound", "gold"},
		{"unknown snapshot", tokMember, `{"volume": {"size": 1, "snapshot_id": "5c7b4a6e-0000-4000-8000-000000000001"}}`, 404, "itemNotFound", "Snapshot"},
		{"unknown source", tokMember, `{"volume": {"size": 1, "source_volid": "5c7b4a6e-0000-4000-8000-000000000002"}}`, 404, "itemNotFound", "Volume"},
		{"unknown image", tokMember, `{"volume": {"size": 1, "imageRef": "5c7b4a6e-0000-4000-8000-000000000003"}}`, 404, "itemNotFound", "Image"},
		{"image not active", tokMember, `{"volume": {"size": 1, "imageRef": "` + queuedID + `"}}`, 400, "badRequest", "not active"},
		{"unknown zone", tokMember, `{"volume": {"size": 1, "availability_zone": "mars"}}`, 400, "badRequest", "mars"},
		{"backup unknown", tokMember, `{"volume": {"size": 1, "backup_id": "5c7b4a6e-0000-4000-8000-000000000004"}}`, 404, "itemNotFound", "Backup"},
		{"multiattach", tokMember, `{"volume": {"size": 1, "multiattach": true}}`, 400, "badRequest", "multiattach"},
		{"two sources", tokMember, `{"volume": {"size": 1, "imageRef": "` + imageID + `", "source_volid": "x"}}`, 400, "badRequest", "only one"},
		{"reader may not create", tokReader, createOSC, 403, "forbidden", "Policy"},
		{"no token", "", createOSC, 401, "unauthorized", "authentication"},
		{"over gigabytes quota", tokMember, `{"volume": {"size": 1001}}`, 413, "overLimit", "gigabytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("POST", path, c.token, "", c.body)
			if r.status != c.status {
				t.Fatalf("status = %d %s; want %d", r.status, r.body, c.status)
			}
			f, ok := r.json(t)[c.key].(map[string]any)
			if !ok || f["code"] != float64(c.status) || !strings.Contains(f["message"].(string), c.mentions) {
				t.Errorf("fault = %s; want %s naming %q", r.body, c.key, c.mentions)
			}
		})
	}
	// Nothing was half-created by any refused request.
	list := h.do("GET", path+"/detail", tokMember, "", "").json(t)["volumes"].([]any)
	if len(list) != 0 {
		t.Errorf("refused creates left %d volumes behind", len(list))
	}
	lim := h.do("GET", "/volume/v3/"+projectA+"/limits", tokMember, "", "").json(t)["limits"].(map[string]any)["absolute"].(map[string]any)
	if lim["totalVolumesUsed"] != float64(0) || lim["totalGigabytesUsed"] != float64(0) {
		t.Errorf("refused creates left quota used: %v", lim)
	}
}

func TestVolumeLifecycle(t *testing.T) {
	h := newHarness(t)
	for _, prefix := range []string{"/volume/v3/" + projectA, "/volume/v3"} {
		t.Run(prefix, func(t *testing.T) {
			r := h.do("POST", prefix+"/volumes", tokMember, "3.60", createOSC)
			if r.status != 202 {
				t.Fatalf("create = %d %s", r.status, r.body)
			}
			if got := r.header.Get("OpenStack-API-Version"); got != "volume 3.60" {
				t.Errorf("microversion echo = %q", got)
			}
			v := r.json(t)["volume"].(map[string]any)
			if !cinderTime.MatchString(v["created_at"].(string)) {
				t.Errorf("created_at = %q; want Cinder's format without Z", v["created_at"])
			}
			if _, leaked := v["os-vol-tenant-attr:tenant_id"]; leaked {
				t.Error("the create answer carries os-vol-tenant-attr:tenant_id, which tempest's create schema forbids")
			}
			id := v["id"].(string)
			got := h.waitStatus(tokMember, id, "available")
			if got["volume_type"] != "__DEFAULT__" || got["bootable"] != "false" || got["os-vol-tenant-attr:tenant_id"] != projectA {
				t.Errorf("shown volume = %v", got)
			}
			r = h.do("PUT", prefix+"/volumes/"+id, tokMember, "", `{"volume": {"name": "renamed", "description": "d"}}`)
			if r.status != 200 || r.json(t)["volume"].(map[string]any)["name"] != "renamed" {
				t.Fatalf("update = %d %s", r.status, r.body)
			}
			r = h.do("POST", prefix+"/volumes/"+id+"/action", tokMember, "", `{"os-extend": {"new_size": 2}}`)
			if r.status != 202 {
				t.Fatalf("extend = %d %s", r.status, r.body)
			}
			if got := h.waitStatus(tokMember, id, "available"); got["size"] != float64(2) {
				t.Errorf("size after extend = %v", got["size"])
			}
			if r := h.do("DELETE", prefix+"/volumes/"+id, tokMember, "", ""); r.status != 202 {
				t.Fatalf("delete = %d %s", r.status, r.body)
			}
			if r := h.do("GET", prefix+"/volumes/"+id, tokMember, "", ""); r.status != 404 || !strings.Contains(string(r.body), "itemNotFound") {
				t.Errorf("GET after delete = %d %s; want 404 itemNotFound", r.status, r.body)
			}
		})
	}
	lim := h.do("GET", "/volume/v3/limits", tokMember, "", "").json(t)["limits"].(map[string]any)["absolute"].(map[string]any)
	if lim["totalVolumesUsed"] != float64(0) || lim["totalGigabytesUsed"] != float64(0) {
		t.Errorf("deleted volumes still count: %v", lim)
	}
}

func TestAccessFaults(t *testing.T) {
	h := newHarness(t)
	id := h.create(tokMember, createTempest)
	cases := []struct {
		name, method, path, token, version, body string
		status                                   int
	}{
		{"other project sees nothing", "GET", "/volume/v3/" + projectB + "/volumes/" + id, tokOther, "", "", 404},
		{"other project cannot delete", "DELETE", "/volume/v3/volumes/" + id, tokOther, "", "", 404},
		{"project in path is not the token's", "GET", "/volume/v3/" + projectB + "/volumes/" + id, tokMember, "", "", 403},
		{"admin sees it", "GET", "/volume/v3/volumes/" + id, tokAdmin, "", "", 200},
		{"reader cannot update", "PUT", "/volume/v3/volumes/" + id, tokReader, "", `{"volume": {"name": "x"}}`, 403},
		{"microversion too new", "GET", "/volume/v3/volumes", tokMember, "3.61", "", 406},
		{"microversion malformed", "GET", "/volume/v3/volumes", tokMember, "three", "", 400},
		{"unknown action", "POST", "/volume/v3/volumes/" + id + "/action", tokMember, "", `{"os-frobnicate": {}}`, 400},
		{"unsupported action", "POST", "/volume/v3/volumes/" + id + "/action", tokMember, "", `{"os-retype": {"new_type": "x"}}`, 501},
		{"extend smaller", "POST", "/volume/v3/volumes/" + id + "/action", tokMember, "", `{"os-extend": {"new_size": 1}}`, 400},
		{"extend not a number", "POST", "/volume/v3/volumes/" + id + "/action", tokMember, "", `{"os-extend": {"new_size": "abc"}}`, 400},
		{"extend null", "POST", "/volume/v3/volumes/" + id + "/action", tokMember, "", `{"os-extend": {"new_size": null}}`, 400},
		{"no such collection", "GET", "/volume/v3/nothing-here", tokMember, "", "", 403},
		{"show without id", "GET", "/volume/v3/" + projectA + "/volumes/", tokMember, "", "", 404},
		{"delete without id", "DELETE", "/volume/v3/volumes/", tokMember, "", "", 404},
		{"update without id", "PUT", "/volume/v3/volumes/", tokMember, "", `{"volume": {"name": "x"}}`, 404},
		{"snapshot without volume", "POST", "/volume/v3/snapshots", tokMember, "", `{"snapshot": {"volume_id": null}}`, 404},
		{"discovery on the catalog URL", "GET", "/volume/v3/" + projectA + "/", tokMember, "", "", 200},
		{"wrong method", "PATCH", "/volume/v3/volumes/" + id, tokMember, "", "{}", 405},
		{"bad sort key", "GET", "/volume/v3/volumes?sort=colour:asc", tokMember, "", "", 400},
		{"bad marker", "GET", "/volume/v3/volumes?marker=nope", tokMember, "", "", 400},
		{"member cannot see another project's quota", "GET", "/volume/v3/os-quota-sets/" + projectB, tokMember, "", "", 403},
		{"member cannot set quota", "PUT", "/volume/v3/os-quota-sets/" + projectA, tokMember, "", `{"quota_set": {"volumes": 1}}`, 403},
		{"member cannot list hosts", "GET", "/volume/v3/os-hosts", tokMember, "", "", 403},
		{"unknown host", "GET", "/volume/v3/os-hosts/canopy@mars", tokAdmin, "", "", 404},
		{"member cannot create a type", "POST", "/volume/v3/types", tokMember, "", `{"volume_type": {"name": "gold"}}`, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(c.method, c.path, c.token, c.version, c.body)
			if r.status != c.status {
				t.Fatalf("%s %s = %d %s; want %d", c.method, c.path, r.status, r.body, c.status)
			}
			if c.status >= 400 {
				var m map[string]map[string]any
				if err := json.Unmarshal(r.body, &m); err != nil || len(m) != 1 {
					t.Errorf("fault body %q is not Cinder's {name: {code, message}}", r.body)
				}
			}
		})
	}
}

func TestDeleteRefusals(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	attached := h.create(tokMember, createTempest)
	server := "6a0b1c2d-0000-4000-8000-0000000000aa"
	if _, err := h.svc.ReserveAttach(ctx, projectA, attached, server); err != nil {
		t.Fatal(err)
	}
	if v := h.waitStatus(tokMember, attached, "reserved"); v["status"] != "reserved" {
		t.Fatal(v)
	}
	v, err := h.svc.CompleteAttach(ctx, projectA, attached, server, "")
	if err != nil || v.Status != "in-use" || v.Attachments[0].Device != "/dev/vdb" {
		t.Fatalf("CompleteAttach = %+v, %v", v, err)
	}
	if again, err := h.svc.CompleteAttach(ctx, projectA, attached, server, ""); err != nil || len(again.Attachments) != 1 {
		t.Errorf("a repeated CompleteAttach = %+v, %v; want the same single attachment", again, err)
	}
	shown := h.waitStatus(tokMember, attached, "in-use")
	att := shown["attachments"].([]any)[0].(map[string]any)
	if att["server_id"] != server || att["device"] != "/dev/vdb" {
		t.Errorf("attachment = %v", att)
	}
	snapped := h.create(tokMember, createTempest)
	r := h.do("POST", "/volume/v3/snapshots", tokMember, "", `{"snapshot": {"volume_id": "`+snapped+`", "name": "s1"}}`)
	if r.status != 202 {
		t.Fatalf("snapshot create = %d %s", r.status, r.body)
	}
	cases := []struct{ name, id string }{{"in-use", attached}, {"has snapshots", snapped}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("DELETE", "/volume/v3/volumes/"+c.id, tokMember, "", "")
			if r.status != 400 || !strings.Contains(string(r.body), `"badRequest"`) {
				t.Errorf("delete = %d %s; want 400 badRequest", r.status, r.body)
			}
		})
	}
	if _, err := h.svc.Detach(ctx, projectA, attached, server); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(tokMember, attached, "available")
	if r := h.do("DELETE", "/volume/v3/volumes/"+attached, tokMember, "", ""); r.status != 202 {
		t.Errorf("delete after detach = %d %s", r.status, r.body)
	}
}

func TestListFiltersAndPaging(t *testing.T) {
	h := newHarness(t)
	var ids []string
	for i := range 5 {
		body := fmt.Sprintf(`{"volume": {"size": 1, "name": "v%d", "metadata": {"even": "%t"}}}`, i, i%2 == 0)
		ids = append(ids, h.create(tokMember, body))
	}
	h.create(tokOther, createTempest)
	base := "/volume/v3/" + projectA + "/volumes"
	cases := []struct {
		name, query string
		want        int
		next        bool
	}{
		{"all of the project", "", 5, false},
		{"by name", "?name=v3", 1, false},
		{"by status", "?status=available", 5, false},
		{"invalid status", "?status=nonsense", 0, false},
		{"metadata as tempest sends it", "?metadata=%7B%27even%27%3A+%27true%27%7D", 3, false},
		{"name and status", "?name=v1&status=available", 1, false},
		{"bootable", "?bootable=false", 5, false},
		{"by zone", "?availability_zone=nova", 5, false},
		{"first page", "?limit=2", 2, true},
		{"after marker", "?limit=2&marker=" + ids[2] + "&sort=created_at:asc", 2, true},
		{"last partial page", "?limit=3&marker=" + ids[1] + "&sort=created_at:asc", 3, true},
		{"past the end", "?limit=3&marker=" + ids[2] + "&sort=created_at:asc", 2, false},
		{"limit zero", "?limit=0", 0, false},
		{"admin all tenants", "?all_tenants=1", 5, false},
	}
	for _, c := range cases {
		for _, detail := range []string{"", "/detail"} {
			t.Run(c.name+detail, func(t *testing.T) {
				r := h.do("GET", base+detail+c.query, tokMember, "", "")
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.body)
				}
				m := r.json(t)
				if got := len(m["volumes"].([]any)); got != c.want {
					t.Errorf("got %d volumes; want %d", got, c.want)
				}
				if _, ok := m["volumes_links"]; ok != c.next {
					t.Errorf("volumes_links present = %v; want %v", ok, c.next)
				}
			})
		}
	}
	r := h.do("GET", "/volume/v3/volumes/detail?all_tenants=1", tokAdmin, "", "")
	if got := len(r.json(t)["volumes"].([]any)); got != 6 {
		t.Errorf("admin all_tenants lists %d; want 6", got)
	}
	asc := h.do("GET", base+"?sort=name:asc", tokMember, "", "").json(t)["volumes"].([]any)
	if asc[0].(map[string]any)["name"] != "v0" || asc[4].(map[string]any)["name"] != "v4" {
		t.Errorf("sort=name:asc gives %v", asc)
	}
}

func TestVolumeFromSources(t *testing.T) {
	h := newHarness(t)
	img := h.create(tokMember, createFromImage)
	v := h.waitStatus(tokMember, img, "available")
	md, _ := v["volume_image_metadata"].(map[string]any)
	if v["bootable"] != "true" || md["image_id"] != imageID || md["image_name"] != "cirros" {
		t.Errorf("volume from image = %v", v)
	}
	clone := h.create(tokMember, `{"volume": {"source_volid": "`+img+`"}}`)
	if v := h.waitStatus(tokMember, clone, "available"); v["source_volid"] != img || v["size"] != float64(1) {
		t.Errorf("clone = %v", v)
	}
	r := h.do("POST", "/volume/v3/snapshots", tokMember, "", `{"snapshot": {"volume_id": "`+img+`", "name": "s"}}`)
	snap := r.json(t)["snapshot"].(map[string]any)["id"].(string)
	from := h.create(tokMember, `{"volume": {"snapshot_id": "`+snap+`", "size": 2}}`)
	if v := h.waitStatus(tokMember, from, "available"); v["snapshot_id"] != snap || v["size"] != float64(2) {
		t.Errorf("volume from snapshot = %v", v)
	}
}

func TestMetadataAndActions(t *testing.T) {
	h := newHarness(t)
	id := h.create(tokMember, createTempest)
	p := "/volume/v3/volumes/" + id
	steps := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"merge", "POST", p + "/metadata", `{"metadata": {"k1": "v1"}}`, 200, `"k1":"v1"`},
		{"show", "GET", p + "/metadata", "", 200, `"Type":"Test"`},
		{"item", "GET", p + "/metadata/k1", "", 200, `{"meta":{"k1":"v1"}}`},
		{"item put", "PUT", p + "/metadata/k1", `{"meta": {"k1": "v2"}}`, 200, `{"meta":{"k1":"v2"}}`},
		{"item mismatch", "PUT", p + "/metadata/k1", `{"meta": {"k9": "v2"}}`, 400, "mismatch"},
		{"item delete", "DELETE", p + "/metadata/k1", "", 200, ""},
		{"item gone", "GET", p + "/metadata/k1", "", 404, "itemNotFound"},
		{"replace", "PUT", p + "/metadata", `{"metadata": {"only": "this"}}`, 200, `{"metadata":{"only":"this"}}`},
		{"bootable", "POST", p + "/action", `{"os-set_bootable": {"bootable": true}}`, 200, ""},
		{"shows bootable", "GET", p, "", 200, `"bootable":"true"`},
		{"readonly", "POST", p + "/action", `{"os-update_readonly_flag": {"readonly": true}}`, 202, ""},
		{"shows readonly", "GET", p, "", 200, `"readonly":"True"`},
		{"bootable not boolean", "POST", p + "/action", `{"os-set_bootable": {"bootable": "maybe"}}`, 400, "bootable"},
	}
	for _, s := range steps {
		r := h.do(s.method, s.path, tokMember, "", s.body)
		if r.status != s.status || !strings.Contains(string(r.body), s.want) {
			t.Errorf("%s: %d %s; want %d containing %s", s.name, r.status, r.body, s.status, s.want)
		}
	}
}

func TestQuotaSetsAndTypes(t *testing.T) {
	h := newHarness(t)
	r := h.do("PUT", "/volume/v3/os-quota-sets/"+projectA, tokAdmin, "", `{"quota_set": {"volumes": 1}}`)
	if r.status != 200 || r.json(t)["quota_set"].(map[string]any)["volumes"] != float64(1) {
		t.Fatalf("quota update = %d %s", r.status, r.body)
	}
	h.create(tokMember, createTempest)
	if r := h.do("POST", "/volume/v3/volumes", tokMember, "", createTempest); r.status != 413 || !strings.Contains(string(r.body), "overLimit") {
		t.Errorf("second volume over a quota of 1 = %d %s; want 413 overLimit", r.status, r.body)
	}
	u := h.do("GET", "/volume/v3/os-quota-sets/"+projectA+"?usage=True", tokMember, "", "").json(t)["quota_set"].(map[string]any)
	if vol := u["volumes"].(map[string]any); vol["in_use"] != float64(1) || vol["limit"] != float64(1) {
		t.Errorf("quota usage = %v", u)
	}
	if r := h.do("POST", "/volume/v3/types", tokAdmin, "", `{"volume_type": {"name": "gold", "extra_specs": {"tier": "1"}}}`); r.status != 200 {
		t.Fatalf("type create = %d %s", r.status, r.body)
	}
	if r := h.do("POST", "/volume/v3/types", tokAdmin, "", `{"volume_type": {"name": "gold"}}`); r.status != 409 {
		t.Errorf("duplicate type = %d %s; want 409", r.status, r.body)
	}
	types := h.do("GET", "/volume/v3/types", tokMember, "", "").json(t)["volume_types"].([]any)
	if len(types) != 3 {
		t.Errorf("types = %v; want __DEFAULT__, lvmdriver-1 and gold", types)
	}
	if r := h.do("GET", "/volume/v3/types/default", tokMember, "", ""); !strings.Contains(string(r.body), "__DEFAULT__") {
		t.Errorf("default type = %d %s", r.status, r.body)
	}
	zones := h.do("GET", "/volume/v3/os-availability-zone", tokMember, "", "")
	if !strings.Contains(string(zones.body), `{"zoneName":"nova","zoneState":{"available":true}}`) {
		t.Errorf("zones = %s", zones.body)
	}
	_ = http.StatusOK
}
