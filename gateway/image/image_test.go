package image_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/image"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/imagestore"
	"github.com/canopy-cloud/canopy/registry"
)

type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, tok string) (*wire.Principal, error) {
	switch tok {
	case "demo", "alt", "third":
		return &wire.Principal{UserID: tok + "-user", ProjectID: tok + "-project", Roles: []string{"member", "reader"}}, nil
	case "admin":
		return &wire.Principal{UserID: "admin-user", ProjectID: "admin-project", Roles: []string{"admin", "member"}}, nil
	}
	return nil, wire.Unauthorized("The request you have made requires authentication.")
}

var fixedNow = time.Date(2026, 11, 29, 6, 31, 42, 0, time.UTC)

type env struct {
	t   *testing.T
	srv *httptest.Server
	svc *image.Service
}

func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

// newEnvWith builds an env whose options tune may change; the service's
// import workers run for the test's lifetime and are stopped (and waited
// for) at cleanup.
func newEnvWith(t *testing.T, tune func(*image.Options)) *env {
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
	store, err := imagestore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var tick atomic.Int64
	opts := image.Options{MaxImageSize: 1 << 20,
		Now: func() time.Time { return fixedNow.Add(time.Duration(tick.Add(1)) * time.Millisecond) }}
	if tune != nil {
		tune(&opts)
	}
	svc := image.New(reg, store, opts)
	runDone := make(chan error, 1)
	go func() { runDone <- svc.Run(context.Background()) }()
	t.Cleanup(func() {
		svc.Close()
		select {
		case <-runDone:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after Close")
		}
	})
	g := gateway.New(slog.New(slog.NewTextHandler(io.Discard, nil)), fakeAuth{})
	g.Mount(svc)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, svc: svc}
}

func (e *env) raw(token, method, path, contentType string, body []byte) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func (e *env) json(token, method, path, contentType, body string) (int, map[string]any) {
	e.t.Helper()
	resp, data := e.raw(token, method, path, contentType, []byte(body))
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &out); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q", method, path, data)
		}
	}
	return resp.StatusCode, out
}

func (e *env) create(token, body string) map[string]any {
	e.t.Helper()
	code, out := e.json(token, "POST", "/image/v2/images", "application/json", body)
	if code != http.StatusCreated {
		e.t.Fatalf("create %s: %d %v", body, code, out)
	}
	return out
}

func canonical(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("fixture is not JSON: %v", err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
