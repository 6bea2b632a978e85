package image_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

const imageID = "1bea47ed-f6a9-463b-b423-14b9cca9ad27"

const createdFixture = `{
 "checksum": null, "container_format": "bare", "created_at": "2026-11-29T06:31:42Z", "disk_format": "qcow2",
 "file": "/v2/images/` + imageID + `/file", "hw_disk_bus": "scsi", "id": "` + imageID + `", "min_disk": 0, "min_ram": 0,
 "name": "cirros", "os_hash_algo": null, "os_hash_value": null, "os_hidden": false, "owner": "demo-project",
 "protected": false, "schema": "/v2/schemas/image", "self": "/v2/images/` + imageID + `", "size": null,
 "status": "queued", "tags": ["t1"], "updated_at": "2026-11-29T06:31:42Z", "virtual_size": null, "visibility": "private"}`

// hello's checksums, as Glance reports them.
const (
	helloMD5    = "5d41402abc4b2a76b9719d911017c592"
	helloSHA512 = "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043"
)

func TestVersionsWithoutToken(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/image", "/image/", "/image/v2", "/image/v2/"} {
		code, body := e.json("", "GET", path, "", "")
		if code != http.StatusMultipleChoices {
			t.Fatalf("%s: %d", path, code)
		}
		vs := body["versions"].([]any)
		first, last := vs[0].(map[string]any), vs[len(vs)-1].(map[string]any)
		if len(vs) != 17 || first["id"] != "v2.16" || first["status"] != "CURRENT" || last["id"] != "v2.0" || last["status"] != "SUPPORTED" {
			t.Fatalf("%s: %v", path, vs)
		}
		if href := first["links"].([]any)[0].(map[string]any)["href"]; href != e.srv.URL+"/image/v2/" {
			t.Fatalf("%s: self link %v", path, href)
		}
	}
}

func TestCreateShowUploadDownload(t *testing.T) {
	e := newEnv(t)
	created := e.create("demo", `{"id": "`+imageID+`", "name": "cirros", "disk_format": "qcow2", "container_format": "bare",
		"visibility": "private", "tags": ["t1"], "hw_disk_bus": "scsi"}`)
	// Timestamps tick per clock read; the fixture pins the first second.
	if got, want := mustJSON(created), canonical(t, createdFixture); got != want {
		t.Fatalf("create:\n got %s\nwant %s", got, want)
	}
	resp, _ := e.raw("demo", "GET", "/image/v2/images/"+imageID+"/file", "", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("download before upload: %d", resp.StatusCode)
	}
	resp, _ = e.raw("demo", "PUT", "/image/v2/images/"+imageID+"/file", "application/octet-stream", []byte("hello"))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	_, shown := e.json("demo", "GET", "/image/v2/images/"+imageID, "", "")
	if shown["status"] != "active" || shown["checksum"] != helloMD5 || shown["os_hash_algo"] != "sha512" ||
		shown["os_hash_value"] != helloSHA512 || shown["size"] != float64(5) {
		t.Fatalf("after upload: %v", shown)
	}
	resp, data := e.raw("demo", "GET", "/image/v2/images/"+imageID+"/file", "", nil)
	if resp.StatusCode != 200 || string(data) != "hello" || resp.Header.Get("Content-MD5") != helloMD5 {
		t.Fatalf("download: %d %q md5=%s", resp.StatusCode, data, resp.Header.Get("Content-MD5"))
	}
	resp, _ = e.raw("demo", "PUT", "/image/v2/images/"+imageID+"/file", "application/octet-stream", []byte("again"))
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("re-upload of an active image: %d", resp.StatusCode)
	}
}

func TestUploadTooLargeGoesBackToQueued(t *testing.T) {
	e := newEnv(t)
	img := e.create("demo", `{"name": "big", "disk_format": "raw", "container_format": "bare"}`)
	id := img["id"].(string)
	resp, _ := e.raw("demo", "PUT", "/image/v2/images/"+id+"/file", "application/octet-stream", bytes.Repeat([]byte("x"), 1<<20+1))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized upload: %d", resp.StatusCode)
	}
	if _, shown := e.json("demo", "GET", "/image/v2/images/"+id, "", ""); shown["status"] != "queued" {
		t.Fatalf("after failed upload: status %v", shown["status"])
	}
}

// TestFaults checks Glance's statuses and its plain-text fault bodies.
func TestFaults(t *testing.T) {
	e := newEnv(t)
	priv := e.create("demo", `{"name": "mine", "visibility": "private"}`)["id"].(string)
	prot := e.create("demo", `{"name": "keep", "protected": true}`)["id"].(string)
	cases := []struct {
		name, token, method, path, ctype, body string
		status                                 int
		text                                   string
	}{
		{"name instead of id", "demo", "GET", "/image/v2/images/cirros", "", "", 404, "No image found with ID cirros"},
		{"alt cannot see demo's private image", "alt", "GET", "/image/v2/images/" + priv, "", "", 404, "No image found with ID " + priv},
		{"no token", "", "GET", "/image/v2/images", "", "", 401, "requires authentication"},
		{"member publicizes", "demo", "POST", "/image/v2/images", "application/json", `{"visibility": "public"}`, 403, "publicize_image"},
		{"read-only attribute", "demo", "POST", "/image/v2/images", "application/json", `{"status": "active"}`, 403, "Attribute 'status' is read-only."},
		{"reserved attribute", "demo", "POST", "/image/v2/images", "application/json", `{"deleted": "x"}`, 403, "Attribute 'deleted' is reserved."},
		{"bad disk format", "demo", "POST", "/image/v2/images", "application/json", `{"disk_format": "floppy"}`, 400, "'floppy' is not one of"},
		{"property not a string", "demo", "POST", "/image/v2/images", "application/json", `{"foo": 1}`, 400, "1 is not of type 'string' (foo)"},
		{"bad id", "demo", "POST", "/image/v2/images", "application/json", `{"id": "abc"}`, 400, "is not a valid UUID"},
		{"duplicate id", "demo", "POST", "/image/v2/images", "application/json", `{"id": "` + priv + `"}`, 409, "already exists"},
		{"patch wrong media type", "demo", "PATCH", "/image/v2/images/" + priv, "application/json", `[]`, 415, "Unsupported Content-Type"},
		{"patch alt's view", "alt", "PATCH", "/image/v2/images/" + priv, "application/openstack-images-v2.1-json-patch", `[]`, 404, "No image found"},
		{"patch read-only", "demo", "PATCH", "/image/v2/images/" + priv, "application/openstack-images-v2.1-json-patch",
			`[{"op": "replace", "path": "/size", "value": 3}]`, 403, "Attribute 'size' is read-only."},
		{"patch missing property", "demo", "PATCH", "/image/v2/images/" + priv, "application/openstack-images-v2.1-json-patch",
			`[{"op": "replace", "path": "/nope", "value": "x"}]`, 409, "Property nope does not exist."},
		{"upload without formats", "demo", "PUT", "/image/v2/images/" + priv + "/file", "application/octet-stream", "x", 400, "disk_format, container_format"},
		{"upload wrong media type", "demo", "PUT", "/image/v2/images/" + priv + "/file", "text/plain", "x", 415, "Unsupported Content-Type"},
		{"delete protected", "demo", "DELETE", "/image/v2/images/" + prot, "", "", 403, "is protected and cannot be deleted"},
		{"bad sort key", "demo", "GET", "/image/v2/images?sort_key=colour", "", "", 400, "Invalid sort key: colour."},
		{"unknown marker", "demo", "GET", "/image/v2/images?marker=" + imageID, "", "", 400, "marker " + imageID + " could not be found."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(tc.token, tc.method, tc.path, tc.ctype, []byte(tc.body))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || !strings.Contains(string(body), tc.text) {
				t.Fatalf("body %q (%s), want text containing %q", body, resp.Header.Get("Content-Type"), tc.text)
			}
		})
	}
}

func TestPatchAndDelete(t *testing.T) {
	e := newEnv(t)
	id := e.create("demo", `{"name": "a", "foo": "bar"}`)["id"].(string)
	steps := []struct {
		ctype, body string
		check       func(map[string]any) bool
	}{
		{"application/openstack-images-v2.1-json-patch", `[{"op": "replace", "path": "/name", "value": "b"}, {"op": "add", "path": "/hw_qemu_guest_agent", "value": "yes"}, {"op": "remove", "path": "/foo"}]`,
			func(m map[string]any) bool {
				_, has := m["foo"]
				return m["name"] == "b" && m["hw_qemu_guest_agent"] == "yes" && !has
			}},
		{"application/openstack-images-v2.0-json-patch", `[{"replace": "/tags", "value": ["x", "x", "y"]}, {"replace": "/min_disk", "value": 2}]`,
			func(m map[string]any) bool { return mustJSON(m["tags"]) == `["x","y"]` && m["min_disk"] == float64(2) }},
		{"application/openstack-images-v2.1-json-patch", `[{"op": "replace", "path": "/visibility", "value": "community"}, {"op": "replace", "path": "/os_hidden", "value": true}]`,
			func(m map[string]any) bool { return m["visibility"] == "community" && m["os_hidden"] == true }},
	}
	for i, s := range steps {
		code, body := e.json("demo", "PATCH", "/image/v2/images/"+id, s.ctype, s.body)
		if code != http.StatusOK || !s.check(body) {
			t.Fatalf("step %d: %d %v", i, code, body)
		}
	}
	// Community + hidden: alt can show it, but a default list shows neither.
	if code, _ := e.json("alt", "GET", "/image/v2/images/"+id, "", ""); code != 200 {
		t.Fatalf("alt show of a community image: %d", code)
	}
	if _, l := e.json("alt", "GET", "/image/v2/images?visibility=community&os_hidden=true", "", ""); len(l["images"].([]any)) != 1 {
		t.Fatalf("explicit community+hidden list: %v", l)
	}
	if _, l := e.json("alt", "GET", "/image/v2/images", "", ""); len(l["images"].([]any)) != 0 {
		t.Fatalf("default list shows a hidden community image: %v", l)
	}
	if code, _ := e.json("alt", "DELETE", "/image/v2/images/"+id, "", ""); code != http.StatusForbidden {
		t.Fatalf("alt deleted demo's image: %d", code)
	}
	if resp, _ := e.raw("demo", "PUT", "/image/v2/images/"+id+"/tags/z", "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("add tag: %d", resp.StatusCode)
	}
	if resp, _ := e.raw("demo", "DELETE", "/image/v2/images/"+id, "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if code, _ := e.json("demo", "GET", "/image/v2/images/"+id, "", ""); code != http.StatusNotFound {
		t.Fatalf("show after delete: %d", code)
	}
}

func TestListFiltersAndPaging(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b", "c", "d"} {
		e.create("demo", `{"name": "`+n+`", "tags": ["`+n+`", "all"]}`)
	}
	e.create("alt", `{"name": "alt-private", "visibility": "private"}`)
	e.create("admin", `{"name": "pub", "visibility": "public"}`)
	names := func(body map[string]any) string {
		var out []string
		for _, it := range body["images"].([]any) {
			out = append(out, it.(map[string]any)["name"].(string))
		}
		return strings.Join(out, ",")
	}
	cases := []struct{ name, token, query, want string }{
		{"default newest first", "demo", "", "pub,d,c,b,a"},
		{"admin sees all", "admin", "?sort_key=name&sort_dir=asc", "a,alt-private,b,c,d,pub"},
		{"by name", "demo", "?name=b", "b"},
		{"by tag AND", "demo", "?tag=all&tag=c", "c"},
		{"by visibility", "demo", "?visibility=public", "pub"},
		{"by owner", "demo", "?owner=demo-project&sort=name:asc", "a,b,c,d"},
		{"by status", "demo", "?status=active", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.json(tc.token, "GET", "/image/v2/images"+tc.query, "", "")
			if code != 200 || names(body) != tc.want || body["first"] != "/v2/images" || body["schema"] != "/v2/schemas/images" {
				t.Fatalf("%d %q (want %q) %v", code, names(body), tc.want, body)
			}
		})
	}
	var pages []string
	next := "/v2/images?limit=2&sort_key=name&sort_dir=asc"
	for i := 0; next != "" && i < 10; i++ {
		_, body := e.json("demo", "GET", "/image"+next, "", "")
		pages = append(pages, names(body))
		next, _ = body["next"].(string)
	}
	if got := strings.Join(pages, "|"); got != "a,b|c,d|pub" {
		t.Fatalf("pages: %s", got)
	}
}

func TestSchemas(t *testing.T) {
	e := newEnv(t)
	code, body := e.json("demo", "GET", "/image/v2/schemas/image", "", "")
	if code != 200 || body["name"] != "image" || body["properties"].(map[string]any)["visibility"] == nil {
		t.Fatalf("image schema: %d %v", code, body)
	}
	if code, body := e.json("demo", "GET", "/image/v2/schemas/images", "", ""); code != 200 || body["name"] != "images" {
		t.Fatalf("images schema: %d %v", code, body)
	}
}
