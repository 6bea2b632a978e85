package network_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/network"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// fakeAuth knows the tokens demo and alt (members of their projects),
// reader, admin, and member:<project> (a member of any project).
type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, tok string) (*wire.Principal, error) {
	switch tok {
	case "demo", "alt":
		return &wire.Principal{UserID: tok + "-user", ProjectID: tok + "-project", Roles: []string{"member", "reader"}}, nil
	case "reader":
		return &wire.Principal{UserID: "r", ProjectID: "demo-project", Roles: []string{"reader"}}, nil
	case "admin":
		return &wire.Principal{UserID: "admin-user", ProjectID: "admin-project", Roles: []string{"admin", "member"}}, nil
	}
	if project, ok := strings.CutPrefix(tok, "member:"); ok { // a fresh project per test on the shared redis
		return &wire.Principal{UserID: project + "-user", ProjectID: project, Roles: []string{"member", "reader"}}, nil
	}
	return nil, wire.Unauthorized("The request you have made requires authentication.")
}

var fixedNow = time.Date(2026, 11, 29, 6, 31, 42, 0, time.UTC)

type env struct {
	t   *testing.T
	srv *httptest.Server
	svc *network.Service
	reg *registry.Registry
}

func devRegistry(t testing.TB) *registry.Registry {
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

func newEnv(t *testing.T, reg *registry.Registry, ids ...string) *env {
	var tick atomic.Int64
	opts := network.Options{Now: func() time.Time { return fixedNow.Add(time.Duration(tick.Add(1)) * time.Millisecond) }}
	if len(ids) > 0 {
		var mu sync.Mutex
		opts.NewID = func() string {
			mu.Lock()
			defer mu.Unlock()
			id := ids[0]
			ids = ids[1:]
			return id
		}
	}
	svc := network.New(reg, opts)
	g := gateway.New(slog.New(slog.NewTextHandler(io.Discard, nil)), fakeAuth{})
	g.Mount(svc)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, svc: svc, reg: reg}
}

// do sends a request and returns the status and decoded body.
func (e *env) do(token, method, path, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: non-JSON body %q", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func (e *env) mustCreate(token, path, body string) map[string]any {
	e.t.Helper()
	code, out := e.do(token, "POST", path, body)
	if code != http.StatusCreated {
		e.t.Fatalf("POST %s %s: %d %v", path, body, code, out)
	}
	for _, v := range out {
		return v.(map[string]any)
	}
	return nil
}

// canonical re-encodes a JSON document so fixtures compare byte for byte.
func canonical(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("fixture is not JSON: %v\n%s", err, s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func realRedis(t testing.TB) *registry.Registry {
	url := os.Getenv("CANOPY_TEST_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/9"
	}
	reg, err := registry.Open(context.Background(), registry.Options{URL: url})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("real redis required in CI: %v", err)
		}
		t.Skipf("no redis-server at %s: %v", url, err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

func uniqueProject(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}
