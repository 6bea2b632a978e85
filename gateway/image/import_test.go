package image_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/gateway/image"
)

// importInfoFixture is GET /v2/info/import as Glance answers it.
const importInfoFixture = `{"import-methods": {"description": "Import methods available.", "type": "array",
 "value": ["glance-direct", "web-download"]}}`

// waitStatus polls the image until pred holds (the import runs in the
// service's workers) and returns it.
func (e *env) waitImage(id string, pred func(map[string]any) bool) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, img := e.json("demo", "GET", "/image/v2/images/"+id, "", "")
		if pred(img) {
			return img
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("image %s never reached the expected state: %v", id, img)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) importBody(id, body string) int {
	e.t.Helper()
	resp, data := e.raw("demo", "POST", "/image/v2/images/"+id+"/import", "application/json", []byte(body))
	if resp.StatusCode >= 300 {
		e.t.Logf("import %s: %d %s", body, resp.StatusCode, data)
	}
	return resp.StatusCode
}

func settled(img map[string]any) bool { return img["status"] != "importing" }

func TestGlanceDirectImport(t *testing.T) {
	e := newEnv(t)
	if _, info := e.json("demo", "GET", "/image/v2/info/import", "", ""); mustJSON(info) != canonical(t, importInfoFixture) {
		t.Fatalf("info/import: %s", mustJSON(info))
	}
	if code, st := e.json("demo", "GET", "/image/v2/info/stores", "", ""); code != 200 || len(st["stores"].([]any)) != 1 {
		t.Fatalf("info/stores: %d %v", code, st)
	}
	id := e.create("demo", `{"name": "gd", "disk_format": "raw", "container_format": "bare"}`)["id"].(string)
	noFormats := e.create("demo", `{"name": "nf"}`)["id"].(string)
	direct := `{"method": {"name": "glance-direct"}}`
	cases := []struct {
		name, id, body string
		status         int
	}{
		{"not staged yet", id, direct, 409},
		{"no method", id, `{}`, 400},
		{"no method name", id, `{"method": {}}`, 400},
		{"unknown method", id, `{"method": {"name": "copy-image"}}`, 400},
		{"all_stores not boolean", id, `{"method": {"name": "glance-direct"}, "all_stores": "yes"}`, 400},
		{"unknown store", id, `{"method": {"name": "glance-direct"}, "stores": ["elsewhere"]}`, 409},
		{"unknown image", imageID, direct, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.importBody(tc.id, tc.body); got != tc.status {
				t.Fatalf("status %d, want %d", got, tc.status)
			}
		})
	}
	stage := func(token, id string) int {
		resp, _ := e.raw(token, "PUT", "/image/v2/images/"+id+"/stage", "application/octet-stream", []byte("hello"))
		return resp.StatusCode
	}
	if code := stage("alt", id); code != 404 {
		t.Fatalf("alt staged demo's image: %d", code)
	}
	if code := stage("demo", id); code != http.StatusNoContent {
		t.Fatalf("stage: %d", code)
	}
	if code := stage("demo", id); code != http.StatusConflict {
		t.Fatalf("second stage: %d", code)
	}
	if _, img := e.json("demo", "GET", "/image/v2/images/"+id, "", ""); img["status"] != "uploading" {
		t.Fatalf("after stage: %v", img["status"])
	}
	e.raw("demo", "PUT", "/image/v2/images/"+noFormats+"/stage", "application/octet-stream", []byte("x"))
	if code := e.importBody(noFormats, direct); code != 409 {
		t.Fatalf("import without formats: %d", code)
	}
	if code := e.importBody(id, `{"method": {"name": "glance-direct"}, "stores": ["canopy"]}`); code != http.StatusAccepted {
		t.Fatalf("import: %d", code)
	}
	img := e.waitImage(id, settled)
	if img["status"] != "active" || img["checksum"] != helloMD5 || img["os_hash_value"] != helloSHA512 ||
		img["size"] != float64(5) || img["stores"] != "canopy" {
		t.Fatalf("imported image: %v", img)
	}
	for _, k := range []string{"os_glance_import_task", "os_glance_importing_to_stores", "os_glance_failed_import", "os_glance_stage_pending"} {
		if _, has := img[k]; has {
			t.Errorf("%s left on the image", k)
		}
	}
	if resp, data := e.raw("demo", "GET", "/image/v2/images/"+id+"/file", "", nil); string(data) != "hello" {
		t.Fatalf("download: %d %q", resp.StatusCode, data)
	}
	if code := e.importBody(id, direct); code != 409 {
		t.Fatalf("import into an active image: %d", code)
	}
}

// TestWebDownload: with the private-address switch on, web-download fetches
// from a loopback server; with it off, loopback is refused whether named
// literally (400 at once), through DNS (the task fails) or by a redirect.
func TestWebDownload(t *testing.T) {
	big := strings.Repeat("x", 1<<20+1)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hello":
			w.Write([]byte("hello"))
		case "/big":
			w.Write([]byte(big))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(origin.Close)
	_, port, _ := net.SplitHostPort(origin.Listener.Addr().String())
	byName := "http://localhost:" + port + "/hello"
	redirector := httptest.NewServer(http.RedirectHandler(byName, http.StatusFound))
	t.Cleanup(redirector.Close)
	redirectHost, _ := url.Parse(redirector.URL)

	web := func(uri string) string { return `{"method": {"name": "web-download", "uri": "` + uri + `"}}` }
	failed := func(img map[string]any) bool {
		return img["status"] == "queued" && img["os_glance_failed_import"] == "canopy"
	}
	active := func(img map[string]any) bool { return img["status"] == "active" && img["checksum"] == helloMD5 }
	cases := []struct {
		name   string
		tune   func(*image.Options)
		uri    string
		status int
		want   func(map[string]any) bool // the image once the task settled
	}{
		{"allowed: private switch on", func(o *image.Options) { o.AllowPrivateImport = true }, origin.URL + "/hello", 202, active},
		{"allowed: host listed", func(o *image.Options) { o.AllowedImportHosts = []string{"127.0.0.1"} }, origin.URL + "/hello", 202, active},
		{"allowed: CIDR listed", func(o *image.Options) { o.AllowedImportHosts = []string{"127.0.0.0/8", "::1/128"} }, byName, 202, active},
		{"refused: loopback literal", nil, origin.URL + "/hello", 400, nil},
		{"refused: link-local metadata address", nil, "http://169.254.169.254/latest", 400, nil},
		{"refused: not http", nil, "file:///etc/passwd", 400, nil},
		{"refused: no uri", nil, "", 400, nil},
		{"refused after DNS resolution", nil, byName, 202, failed},
		{"refused after a redirect", func(o *image.Options) { o.AllowedImportHosts = []string{redirectHost.Hostname()} }, redirector.URL, 202, failed},
		{"over the size cap", func(o *image.Options) { o.AllowPrivateImport = true }, origin.URL + "/big", 202, failed},
		{"origin answers 404", func(o *image.Options) { o.AllowPrivateImport = true }, origin.URL + "/missing", 202, failed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, tc.tune)
			id := e.create("demo", `{"name": "web", "disk_format": "raw", "container_format": "bare"}`)["id"].(string)
			body := web(tc.uri)
			if tc.uri == "" {
				body = `{"method": {"name": "web-download"}}`
			}
			if code := e.importBody(id, body); code != tc.status {
				t.Fatalf("import: %d, want %d", code, tc.status)
			}
			if tc.want == nil {
				if _, img := e.json("demo", "GET", "/image/v2/images/"+id, "", ""); img["status"] != "queued" {
					t.Fatalf("refused import changed the image: %v", img["status"])
				}
				return
			}
			if img := e.waitImage(id, settled); !tc.want(img) {
				t.Fatalf("image after the task: %v", img)
			}
		})
	}
}
