package image_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestDeactivateReactivate: the owner deactivates and reactivates (Glance's
// policy: admin or the owning project's member); downloads of a deactivated
// image are 403 for everyone but admins; both actions are idempotent.
func TestDeactivateReactivate(t *testing.T) {
	e := newEnv(t)
	id := e.create("demo", `{"name": "d", "disk_format": "raw", "container_format": "bare", "visibility": "community"}`)["id"].(string)
	queued := e.create("demo", `{"name": "q"}`)["id"].(string)
	e.raw("demo", "PUT", "/image/v2/images/"+id+"/file", "application/octet-stream", []byte("hello"))
	act := func(a string) string { return "/image/v2/images/" + id + "/actions/" + a }
	file := "/image/v2/images/" + id + "/file"
	steps := []struct {
		name, token, method, path string
		status                    int
		wantStatus                string // image status after the step, "" to skip
	}{
		{"non-owner cannot deactivate", "alt", "POST", act("deactivate"), 403, "active"},
		{"owner deactivates", "demo", "POST", act("deactivate"), 204, "deactivated"},
		{"deactivate again is a no-op", "demo", "POST", act("deactivate"), 204, "deactivated"},
		{"owner cannot download", "demo", "GET", file, 403, ""},
		{"other project cannot download", "alt", "GET", file, 403, ""},
		{"admin downloads", "admin", "GET", file, 200, ""},
		{"owner reactivates", "demo", "POST", act("reactivate"), 204, "active"},
		{"reactivate again is a no-op", "demo", "POST", act("reactivate"), 204, "active"},
		{"download works again", "alt", "GET", file, 200, ""},
		{"queued image cannot be deactivated", "demo", "POST", "/image/v2/images/" + queued + "/actions/deactivate", 403, ""},
		{"queued image cannot be reactivated", "demo", "POST", "/image/v2/images/" + queued + "/actions/reactivate", 403, ""},
		{"unknown image", "demo", "POST", "/image/v2/images/" + imageID + "/actions/deactivate", 404, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			resp, body := e.raw(st.token, st.method, st.path, "", nil)
			if resp.StatusCode != st.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, st.status, body)
			}
			if st.wantStatus != "" {
				if _, img := e.json("demo", "GET", "/image/v2/images/"+id, "", ""); img["status"] != st.wantStatus {
					t.Fatalf("image status %v, want %s", img["status"], st.wantStatus)
				}
			}
		})
	}
}

// TestLimits: Glance's quotas (128 properties, 128 tags → 413), the name
// length (255 → 400), reserved os_glance_* properties (403), protected
// images (403 on delete) and the custom schema properties.
func TestLimits(t *testing.T) {
	e := newEnv(t)
	id := e.create("demo", `{"name": "limits"}`)["id"].(string)
	var props, tags []string
	for i := range 129 {
		props = append(props, `"p`+itoa(i)+`": "v"`)
		tags = append(tags, `"t`+itoa(i)+`"`)
	}
	full := e.create("demo", `{"name": "full", "tags": [`+strings.Join(tags[:128], ",")+`]}`)["id"].(string)
	patch := "application/openstack-images-v2.1-json-patch"
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		text                            string
	}{
		{"129 properties at create", "POST", "/image/v2/images", "application/json", `{` + strings.Join(props, ",") + `}`, 413, "number of allowed image properties. Attempted: 129, Maximum: 128"},
		{"128 properties at create", "POST", "/image/v2/images", "application/json", `{` + strings.Join(props[:128], ",") + `}`, 201, ""},
		{"129 tags at create", "POST", "/image/v2/images", "application/json", `{"tags": [` + strings.Join(tags, ",") + `]}`, 413, "number of allowed image tags"},
		{"129th tag by PUT", "PUT", "/image/v2/images/" + full + "/tags/extra", "", "", 413, "Attempted: 129, Maximum: 128"},
		{"an existing tag again is fine at the limit", "PUT", "/image/v2/images/" + full + "/tags/t0", "", "", 204, ""},
		{"name of 256 characters", "POST", "/image/v2/images", "application/json", `{"name": "` + strings.Repeat("n", 256) + `"}`, 400, "is too long (name)"},
		{"name of 255 characters", "POST", "/image/v2/images", "application/json", `{"name": "` + strings.Repeat("n", 255) + `"}`, 201, ""},
		{"os_glance_ property at create", "POST", "/image/v2/images", "application/json", `{"os_glance_foo": "bar"}`, 403, "Attribute 'os_glance_foo' is reserved."},
		{"os_glance_ property by patch", "PATCH", "/image/v2/images/" + id, patch, `[{"op": "add", "path": "/os_glance_foo", "value": "bar"}]`, 403, "is reserved"},
		{"stores is read-only", "PATCH", "/image/v2/images/" + id, patch, `[{"op": "add", "path": "/stores", "value": "x"}]`, 403, "Attribute 'stores' is read-only."},
		{"ramdisk_id must be a UUID", "POST", "/image/v2/images", "application/json", `{"ramdisk_id": "nope"}`, 400, "does not match"},
		{"ramdisk_id as a UUID", "POST", "/image/v2/images", "application/json", `{"ramdisk_id": "00000000-1111-2222-3333-444455556666"}`, 201, ""},
		{"bad key deletion policy", "POST", "/image/v2/images", "application/json", `{"cinder_encryption_key_deletion_policy": "never"}`, 400, "is not one of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw("demo", tc.method, tc.path, tc.ctype, []byte(tc.body))
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.text) {
				t.Fatalf("%d %s, want %d with %q", resp.StatusCode, body, tc.status, tc.text)
			}
		})
	}
	// Protected: delete is 403 until unprotected.
	prot := e.create("demo", `{"name": "p", "protected": true}`)["id"].(string)
	if resp, _ := e.raw("demo", "DELETE", "/image/v2/images/"+prot, "", nil); resp.StatusCode != 403 {
		t.Fatalf("delete protected: %d", resp.StatusCode)
	}
	e.json("demo", "PATCH", "/image/v2/images/"+prot, patch, `[{"op": "replace", "path": "/protected", "value": false}]`)
	if resp, _ := e.raw("demo", "DELETE", "/image/v2/images/"+prot, "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete unprotected: %d", resp.StatusCode)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// TestSchemasCoverRenderedImages: every attribute Canopy shows is declared
// in the image schema, and the member schemas have Glance's names and shape.
func TestSchemasCoverRenderedImages(t *testing.T) {
	e := newEnv(t)
	id := e.create("demo", `{"name": "s", "disk_format": "raw", "container_format": "bare"}`)["id"].(string)
	e.raw("demo", "PUT", "/image/v2/images/"+id+"/file", "application/octet-stream", []byte("hello"))
	_, img := e.json("demo", "GET", "/image/v2/images/"+id, "", "")
	_, schema := e.json("demo", "GET", "/image/v2/schemas/image", "", "")
	props := schema["properties"].(map[string]any)
	for k := range img {
		if props[k] == nil {
			t.Errorf("rendered attribute %q is not in the image schema", k)
		}
	}
	if img["stores"] != "canopy" {
		t.Errorf("active image stores = %v", img["stores"])
	}
	_, images := e.json("demo", "GET", "/image/v2/schemas/images", "", "")
	items := images["properties"].(map[string]any)["images"].(map[string]any)["items"].(map[string]any)
	if items["name"] != "image" || images["name"] != "images" {
		t.Errorf("images schema: %v", images)
	}
	for _, name := range []string{"member", "members"} {
		code, s := e.json("demo", "GET", "/image/v2/schemas/"+name, "", "")
		if code != 200 || s["name"] != name {
			t.Fatalf("%s schema: %d %v", name, code, s)
		}
	}
	_, member := e.json("demo", "GET", "/image/v2/schemas/member", "", "")
	if member["additionalProperties"] != false || len(member["properties"].(map[string]any)) != 6 {
		t.Errorf("member schema: %v", member)
	}
}
