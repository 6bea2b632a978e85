package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// fakeAuth accepts the token "good" and nothing else.
type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, tok string) (*wire.Principal, error) {
	if tok != "good" {
		return nil, wire.Unauthorized("The request you have made requires authentication.")
	}
	return &wire.Principal{UserID: "u", ProjectID: "p", Roles: []string{"member"}}, nil
}

type testService struct{}

func (testService) Register(rt *Router) {
	r := rt.For("compute", wire.Nova)
	r.Handle("GET /t/whoami", func(w http.ResponseWriter, r *http.Request) error {
		wire.WriteJSON(w, 200, map[string]string{"project": wire.PrincipalFrom(r.Context()).ProjectID})
		return nil
	})
	r.Handle("GET /t/panic", func(w http.ResponseWriter, r *http.Request) error { panic("boom") })
	r.Handle("POST /t/echo", func(w http.ResponseWriter, r *http.Request) error {
		var v map[string]any
		if err := wire.DecodeJSON(r, &v, false); err != nil {
			return err
		}
		wire.WriteJSON(w, 200, v)
		return nil
	})
	r.Public("GET /t/public", func(w http.ResponseWriter, r *http.Request) error {
		wire.WriteJSON(w, 300, map[string]bool{"authenticated": wire.PrincipalFrom(r.Context()) != nil})
		return nil
	})
}

func TestRouter(t *testing.T) {
	g := New(slog.New(slog.NewTextHandler(io.Discard, nil)), fakeAuth{})
	g.Mount(testService{})
	h := g.Handler()
	cases := []struct {
		name, method, path, token, body string
		status                          int
		bodyHas                         string
	}{
		{name: "authenticated", method: "GET", path: "/t/whoami", token: "good", status: 200, bodyHas: `"project":"p"`},
		{name: "no token", method: "GET", path: "/t/whoami", status: 401, bodyHas: `"unauthorized"`},
		{name: "bad token", method: "GET", path: "/t/whoami", token: "bad", status: 401, bodyHas: `"unauthorized"`},
		{name: "public without token", method: "GET", path: "/t/public", status: 300, bodyHas: `"authenticated":false`},
		{name: "public resolves a good token", method: "GET", path: "/t/public", token: "good", status: 300, bodyHas: `"authenticated":true`},
		{name: "panic becomes a 500 fault", method: "GET", path: "/t/panic", token: "good", status: 500, bodyHas: `"computeFault"`},
		{name: "body too large", method: "POST", path: "/t/echo", token: "good", body: `{"a":"` + strings.Repeat("x", wire.MaxBodyBytes) + `"}`, status: 413},
		{name: "malformed json", method: "POST", path: "/t/echo", token: "good", body: `{`, status: 400, bodyHas: `"badRequest"`},
		{name: "unknown route", method: "GET", path: "/t/nope", token: "good", status: 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.token != "" {
				r.Header.Set("X-Auth-Token", tc.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			if !strings.Contains(w.Body.String(), tc.bodyHas) {
				t.Fatalf("body %s lacks %s", w.Body.String(), tc.bodyHas)
			}
			if id := w.Header().Get(wire.RequestIDHeader); !strings.HasPrefix(id, "req-") || len(id) != 40 {
				t.Fatalf("request id header %q", id)
			}
		})
	}
}

func TestCatalog(t *testing.T) {
	c := Catalog("http://gw:5000/", "RegionOne", DefaultServices, "p1")
	types := map[string]string{}
	for _, e := range c {
		if len(e.Endpoints) != 3 {
			t.Fatalf("%s has %d endpoints, want public/internal/admin", e.Type, len(e.Endpoints))
		}
		for _, ep := range e.Endpoints {
			if ep.Region != "RegionOne" || ep.RegionID != "RegionOne" {
				t.Fatalf("endpoint lacks region/region_id: %+v", ep)
			}
		}
		types[e.Type] = e.Endpoints[0].URL
	}
	if types["volumev3"] != "http://gw:5000/volume/v3/p1" || types["block-storage"] != types["volumev3"] {
		t.Fatalf("volume endpoints: %v", types)
	}
	if types["compute"] != "http://gw:5000/compute/v2.1" {
		t.Fatalf("compute endpoint: %v", types["compute"])
	}
	unscoped := Catalog("http://gw:5000", "RegionOne", DefaultServices, "")
	for _, e := range unscoped {
		if strings.Contains(e.Endpoints[0].URL, "{project_id}") {
			t.Fatalf("unscoped catalog has a project placeholder: %v", e)
		}
	}
}
