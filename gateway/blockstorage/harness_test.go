package blockstorage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/blockstorage"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/metered"
	"github.com/canopy-cloud/canopy/registry"
)

const (
	projectA  = "0f3a5e6b8c2d4e1f9a7b6c5d4e3f2a1b"
	projectB  = "1e2d3c4b5a6978877665544332211000"
	imageID   = "70a599e0-31e7-49b7-b260-868f441e862b"
	queuedID  = "70a599e0-31e7-49b7-b260-868f441e0000"
	tokMember = "tok-member-a"
	tokReader = "tok-reader-a"
	tokOther  = "tok-member-b"
	tokAdmin  = "tok-admin"
	userA     = "9a1b2c3d4e5f40718293a4b5c6d7e8f9"
)

type fakeAuth map[string]*wire.Principal

func (f fakeAuth) Authenticate(ctx context.Context, token string) (*wire.Principal, error) {
	if p, ok := f[token]; ok {
		return p, nil
	}
	return nil, wire.Unauthorized("The request you have made requires authentication.")
}

var principals = fakeAuth{
	tokMember: {UserID: userA, ProjectID: projectA, Roles: []string{"member", "reader"}},
	tokReader: {UserID: userA, ProjectID: projectA, Roles: []string{"reader"}},
	tokOther:  {UserID: userA, ProjectID: projectB, Roles: []string{"member", "reader"}},
	tokAdmin:  {UserID: userA, ProjectID: "adminproject0000000000000000000", Roles: []string{"admin", "member", "reader"}},
}

// fakeImages is the image service with a fixed set of images.
type fakeImages map[string]*registry.Image

func (f fakeImages) VisibleImage(ctx context.Context, projectID string, isAdmin bool, id string) (*registry.Image, error) {
	if img, ok := f[id]; ok {
		return img, nil
	}
	return nil, registry.ErrNotFound
}

type harness struct {
	t    testing.TB
	h    http.Handler
	svc  *blockstorage.Service
	pool *localcloud.Pool
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := context.Background()
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := localcloud.DefaultConfig()
	cfg.ApplyBuildDelay(0)
	pool, err := localcloud.New("local", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	size := int64(13 << 20)
	images := fakeImages{
		imageID:  {ID: imageID, Name: "cirros", Status: "active", Visibility: "public", DiskFormat: "qcow2", ContainerFormat: "bare", Size: &size, Checksum: "abc"},
		queuedID: {ID: queuedID, Name: "empty", Status: "queued", Visibility: "public"},
	}
	svc := blockstorage.New(reg, images, map[string]proxies.Backend{"local": metered.Wrap(pool)}, blockstorage.Options{})
	g := gateway.New(slog.New(slog.DiscardHandler), principals)
	g.Mount(svc)
	return &harness{t: t, h: g.Handler(), svc: svc, pool: pool}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %q", r.status, r.body)
	}
	return m
}

// do sends one request; version "" sends no microversion header.
func (h *harness) do(method, path, token, version, body string) resp {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if version != "" {
		req.Header.Set("OpenStack-API-Version", "volume "+version)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return resp{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// create makes a volume and waits until it is available.
func (h *harness) create(token, body string) string {
	h.t.Helper()
	r := h.do("POST", "/volume/v3/"+projectOf(token)+"/volumes", token, "", body)
	if r.status != http.StatusAccepted {
		h.t.Fatalf("create = %d %s", r.status, r.body)
	}
	id := r.json(h.t)["volume"].(map[string]any)["id"].(string)
	h.waitStatus(token, id, "available")
	return id
}

func (h *harness) waitStatus(token, id, want string) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := h.do("GET", "/volume/v3/"+projectOf(token)+"/volumes/"+id, token, "", "")
		if r.status == http.StatusOK {
			v := r.json(h.t)["volume"].(map[string]any)
			if v["status"] == want {
				return v
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("volume %s did not reach %s: %d %s", id, want, r.status, r.body)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func projectOf(token string) string { return principals[token].ProjectID }
