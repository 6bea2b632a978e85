package compute_test

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

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/compute"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

const (
	projectA  = "0f3a5e6b8c2d4e1f9a7b6c5d4e3f2a1b"
	projectB  = "1e2d3c4b5a6978877665544332211000"
	imageID   = "70a599e0-31e7-49b7-b260-868f441e862b"
	netA      = "3b3a4c5e-0000-4000-8000-00000000000a"
	netB      = "3b3a4c5e-0000-4000-8000-00000000000b"
	tokMember = "tok-member-a"
	tokReader = "tok-reader-a"
	tokOther  = "tok-member-b"
	tokAdmin  = "tok-admin"
)

// fakeAuth maps fixed tokens to principals.
type fakeAuth map[string]*wire.Principal

func (f fakeAuth) Authenticate(ctx context.Context, token string) (*wire.Principal, error) {
	if p, ok := f[token]; ok {
		return p, nil
	}
	return nil, wire.Unauthorized("The request you have made requires authentication.")
}

var principals = fakeAuth{
	tokMember: {UserID: "user-a", ProjectID: projectA, Roles: []string{"member", "reader"}},
	tokReader: {UserID: "user-r", ProjectID: projectA, Roles: []string{"reader"}},
	tokOther:  {UserID: "user-b", ProjectID: projectB, Roles: []string{"member", "reader"}},
	tokAdmin:  {UserID: "admin", ProjectID: "adminproject", Roles: []string{"admin", "member", "reader"}},
}

type harness struct {
	t      testing.TB
	h      http.Handler
	svc    *compute.Service
	b      *broker.Broker
	cloud  *brokertest.Backend
	placer *brokertest.Placer
	ports  *brokertest.Ports
	// backends is the cloud map the broker was built with.
	backends map[string]proxies.Backend
}

// swapBackend makes the broker use be (named "sim") as the cloud "sim".
func (h *harness) swapBackend(be proxies.Backend) { h.b.Clouds().Put(be) }

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
	h := &harness{t: t, cloud: brokertest.NewBackend("sim"), placer: brokertest.NewPlacer("sim", "host1"),
		ports: brokertest.NewPorts(
			&registry.Network{ID: netA, ProjectID: projectA, Name: "private"},
			&registry.Network{ID: netB, ProjectID: projectB, Name: "other"})}
	h.cloud.Console = "login: "
	images := brokertest.NewImages(&registry.Image{ID: imageID, Name: "cirros", Status: "active", Visibility: "public"})
	h.backends = map[string]proxies.Backend{"sim": h.cloud}
	h.b = broker.New(reg, h.placer, images, h.ports, h.backends,
		slog.New(slog.DiscardHandler), broker.Options{PollInterval: time.Millisecond, Quota: broker.Quota{
			Instances: 2000, Cores: 4000, RAM: 1 << 30, KeyPairs: 100, MetadataItems: 128, ServerGroups: 10, ServerGroupMembers: 10}})
	t.Cleanup(h.b.Close)
	h.svc = compute.New(reg, h.b, compute.Options{Zones: func(context.Context) ([]compute.Zone, error) {
		return []compute.Zone{{Name: "nova", Available: true, Hosts: []string{"host1"}}}, nil
	}})
	for _, f := range []registry.Flavor{
		{ID: "1", Name: "m1.tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1, IsPublic: true},
		{ID: "2", Name: "m1.small", VCPUs: 1, RAMMB: 2048, DiskGB: 20, IsPublic: true, ExtraSpecs: map[string]string{"hw:cpu_policy": "shared"}},
	} {
		if err := h.svc.EnsureFlavor(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	g := gateway.New(slog.New(slog.DiscardHandler), principals)
	g.Mount(h.svc)
	h.h = g.Handler()
	return h
}

// resp is one recorded response.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// do sends one request; version "" sends no microversion header.
func (h *harness) do(method, path, token, version, body string) resp {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req := httptest.NewRequest(method, "http://gw.example"+path, rd)
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if version != "" {
		req.Header.Set("X-OpenStack-Nova-API-Version", version)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return resp{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// boot creates a server and waits until it is ACTIVE; it returns its id.
func (h *harness) boot(token, body string) string {
	h.t.Helper()
	r := h.do("POST", "/compute/v2.1/servers", token, "", body)
	if r.status != http.StatusAccepted {
		h.t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(h.t)["server"].(map[string]any)["id"].(string)
	h.waitStatus(token, id, "ACTIVE")
	return id
}

func (h *harness) waitStatus(token, id, want string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := h.do("GET", "/compute/v2.1/servers/"+id, token, "", "")
		if want == "" && r.status == http.StatusNotFound {
			return
		}
		if r.status == http.StatusOK {
			srv := r.json(h.t)["server"].(map[string]any)
			if srv["status"] == want && srv["OS-EXT-STS:task_state"] == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("server %s never reached %q: %d %s", id, want, r.status, r.body)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
