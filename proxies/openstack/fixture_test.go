package openstack

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixture is a canned bottom OpenStack on httptest, in gophercloud's
// testhelper style, for what a bottom Canopy cannot be made to answer: 413
// with Retry-After, 503, a slow endpoint, an old microversion.
type fixture struct {
	srv *httptest.Server
	// maxMicro is what GET /compute/v2.1 announces.
	maxMicro string

	mu       sync.Mutex
	handlers map[string]http.HandlerFunc // "METHOD /path" → handler, after auth
	calls    map[string]int
	bodies   map[string][]byte
	headers  map[string]http.Header
}

const fixturePassword = "fixture-s3cret-pw"

func newFixture(t *testing.T, maxMicro string) *fixture {
	t.Helper()
	f := &fixture{maxMicro: maxMicro, handlers: map[string]http.HandlerFunc{}, calls: map[string]int{},
		bodies: map[string][]byte{}, headers: map[string]http.Header{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// on installs a handler for "METHOD /path".
func (f *fixture) on(route string, h http.HandlerFunc) {
	f.mu.Lock()
	f.handlers[route] = h
	f.mu.Unlock()
}

// count is how many times route was called.
func (f *fixture) count(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[route]
}

func (f *fixture) lastBody(route string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[route]
}

func (f *fixture) lastHeader(route string) http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.headers[route]
}

func (f *fixture) serve(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	var body []byte
	if r.Body != nil {
		body, _ = readAll(r)
	}
	f.mu.Lock()
	f.calls[route]++
	f.bodies[route] = body
	f.headers[route] = r.Header.Clone()
	h := f.handlers[route]
	f.mu.Unlock()
	switch {
	case h != nil:
		h(w, r)
	case route == "POST /v3/auth/tokens":
		f.token(w, body)
	case route == "GET /network/" || route == "GET /image/":
		writeJSON(w, 300, map[string]any{"versions": []any{map[string]any{"id": "v2.0", "status": "CURRENT"}}})
	case route == "GET /compute/v2.1" || route == "GET /compute/v2.1/":
		writeJSON(w, 200, map[string]any{"version": map[string]any{"id": "v2.1", "status": "CURRENT", "version": f.maxMicro, "min_version": "2.1"}})
	default:
		writeJSON(w, 404, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "no fixture for " + route}})
	}
}

func (f *fixture) token(w http.ResponseWriter, body []byte) {
	if !strings.Contains(string(body), fixturePassword) {
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "message": "The request you have made requires authentication."}})
		return
	}
	ep := func(typ, path string) map[string]any {
		return map[string]any{"type": typ, "id": typ, "endpoints": []any{map[string]any{
			"id": typ + "-public", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": f.srv.URL + path}}}
	}
	w.Header().Set("X-Subject-Token", "fixture-token")
	writeJSON(w, 201, map[string]any{"token": map[string]any{
		"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"user":       map[string]any{"id": "u1", "name": "fixture", "domain": map[string]any{"id": "default", "name": "Default"}},
		"project":    map[string]any{"id": "p1", "name": "fixture", "domain": map[string]any{"id": "default", "name": "Default"}},
		"catalog": []any{ep("compute", "/compute/v2.1"), ep("network", "/network"), ep("image", "/image"),
			ep("identity", "/v3"), ep("volumev3", "/volume/v3/p1")},
	}})
}

func readAll(r *http.Request) ([]byte, error) {
	defer r.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return []byte(sb.String()), nil
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// config points a backend at the fixture.
func (f *fixture) config(t *testing.T) Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte(fixturePassword), 0o600); err != nil {
		t.Fatal(err)
	}
	return Config{AuthURL: f.srv.URL + "/v3", Auth: Auth{Username: "fixture", PasswordFrom: "file:" + path, ProjectName: "fixture"},
		Timeout: 2 * time.Second}
}

// serverBody is a Nova server body for the fixture.
func serverBody(id, topID, status string) map[string]any {
	return map[string]any{"id": id, "name": "vm", "status": status, "metadata": map[string]string{metaID: topID},
		"OS-EXT-STS:vm_state": strings.ToLower(status), "OS-EXT-STS:task_state": nil, "OS-EXT-STS:power_state": 1,
		"OS-EXT-AZ:availability_zone": "az1"}
}
