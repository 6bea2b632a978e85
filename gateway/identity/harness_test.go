package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/registry"
	"golang.org/x/crypto/bcrypt"
)

// testPublicURL is the public URL the test services claim.
const testPublicURL = "http://gw.test"

// env is one identity service on an in-memory registry, mounted on a gateway.
type env struct {
	t     testing.TB
	reg   *registry.Registry
	svc   *Service
	h     http.Handler
	ids   map[string]BootstrapResult
	roles map[string]string
}

var testUsers = []BootstrapUser{
	{Name: "admin", Password: "secret", Project: "admin", Roles: []string{"admin"}},
	{Name: "demo", Password: "secret", Project: "demo", Roles: []string{"member"}},
	{Name: "alt", Password: "secret", Project: "alt", Roles: []string{"member"}},
	{Name: "viewer", Password: "secret", Project: "demo", Roles: []string{"reader"}},
}

func newRegistry(t testing.TB) *registry.Registry {
	t.Helper()
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

// newEnv starts a service with bootstrapped users on a fresh registry.
func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, newRegistry(t), t.TempDir())
}

func newEnvOn(t testing.TB, reg *registry.Registry, keyDir string) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := New(context.Background(), reg, Options{
		PublicURL: testPublicURL, KeyRepository: keyDir, PasswordHashCost: bcrypt.MinCost,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := svc.Bootstrap(context.Background(), testUsers)
	if err != nil {
		t.Fatal(err)
	}
	g := gateway.New(log, svc)
	g.Mount(svc)
	e := &env{t: t, reg: reg, svc: svc, h: g.Handler(), ids: ids, roles: map[string]string{}}
	for _, name := range BuiltinRoles {
		r, err := svc.roles.ByName(context.Background(), registry.Global, name)
		if err != nil {
			t.Fatal(err)
		}
		e.roles[name] = r.ID
	}
	return e
}

// do sends one request; headers are "Name: value" strings.
func (e *env) do(method, path, token, body string, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// passwordAuth is the body openstackclient sends for a project-scoped token.
func passwordAuth(user, password, project string) string {
	scope := ""
	if project != "" {
		scope = fmt.Sprintf(`, "scope": {"project": {"name": %q, "domain": {"name": "Default"}}}`, project)
	}
	return fmt.Sprintf(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": %q, "domain": {"name": "Default"}, "password": %q}}}%s}}`,
		user, password, scope)
}

// token issues a project-scoped token for a bootstrapped user.
func (e *env) token(user string) string {
	e.t.Helper()
	project := ""
	for _, u := range testUsers {
		if u.Name == user {
			project = u.Project
		}
	}
	rec := e.do("POST", "/identity/v3/auth/tokens", "", passwordAuth(user, "secret", project))
	if rec.Code != http.StatusCreated {
		e.t.Fatalf("token for %s: %d %s", user, rec.Code, rec.Body)
	}
	return rec.Header().Get("X-Subject-Token")
}

func decodeBody(t testing.TB, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, rec.Body)
	}
	return m
}

// expand replaces {demo_user}, {alt_project}, {member_role}... in s.
func (e *env) expand(s string) string {
	for name, r := range e.ids {
		s = strings.ReplaceAll(s, "{"+name+"_user}", r.UserID)
		s = strings.ReplaceAll(s, "{"+name+"_project}", r.ProjectID)
	}
	for name, id := range e.roles {
		s = strings.ReplaceAll(s, "{"+name+"_role}", id)
	}
	return s
}
