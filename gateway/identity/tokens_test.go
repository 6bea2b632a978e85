package identity

import (
	"context"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Keystone's exact 401 body.
const unauthorizedBody = `{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}`

const (
	authUnscopedByID = `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "{demo_user}", "password": "secret"}}}}}`
	authWrongPass    = `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo", "domain": {"name": "Default"}, "password": "nope"}}}}}`
	authUnknownUser  = `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "ghost", "domain": {"id": "default"}, "password": "secret"}}}}}`
	authOtherProject = `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo", "domain": {"name": "Default"}, "password": "secret"}}}, "scope": {"project": {"name": "alt", "domain": {"id": "default"}}}}}`
	authProjectByID  = `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "{demo_user}", "password": "secret"}}}, "scope": {"project": {"id": "{demo_project}"}}}}`
	authNoDomain     = `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo", "password": "secret"}}}}}`
	authNoIdentity   = `{"auth": {}}`
	authTOTP         = `{"auth": {"identity": {"methods": ["totp"], "totp": {}}}}`
	authDomainScope  = `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "{demo_user}", "password": "secret"}}}, "scope": {"domain": {"id": "default"}}}}`
	authSystemScope  = `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "{demo_user}", "password": "secret"}}}, "scope": {"system": {"all": true}}}}`
	authGarbageToken = `{"auth": {"identity": {"methods": ["token"], "token": {"id": "gAAAAABnot-a-token"}}}}`
)

func TestIssueToken(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name     string
		body     string
		status   int
		wantBody string // exact, when set
		scoped   bool
	}{
		{name: "password by name, project scope", body: passwordAuth("demo", "secret", "demo"), status: 201, scoped: true},
		{name: "password by id, project by id", body: authProjectByID, status: 201, scoped: true},
		{name: "unscoped by user id", body: authUnscopedByID, status: 201},
		{name: "wrong password", body: authWrongPass, status: 401, wantBody: unauthorizedBody},
		{name: "unknown user", body: authUnknownUser, status: 401, wantBody: unauthorizedBody},
		{name: "project without a role", body: authOtherProject, status: 401, wantBody: unauthorizedBody},
		{name: "domain without a role", body: authDomainScope, status: 401, wantBody: unauthorizedBody},
		{name: "malformed JSON", body: `{"auth": `, status: 400},
		{name: "missing identity", body: authNoIdentity, status: 400},
		{name: "user name without domain", body: authNoDomain, status: 400},
		{name: "unsupported method", body: authTOTP, status: 401},
		{name: "system scope", body: authSystemScope, status: 501},
		{name: "garbage token method", body: authGarbageToken, status: 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do("POST", "/identity/v3/auth/tokens", "", e.expand(tc.body))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.wantBody != "" && strings.TrimSpace(rec.Body.String()) != tc.wantBody {
				t.Fatalf("body %s, want %s", rec.Body, tc.wantBody)
			}
			if tc.status >= 400 {
				if _, ok := decodeBody(t, rec)["error"]; !ok {
					t.Fatalf("fault is not Keystone's {\"error\": ...}: %s", rec.Body)
				}
				return
			}
			if rec.Header().Get("X-Subject-Token") == "" {
				t.Fatal("no X-Subject-Token")
			}
			tok := decodeBody(t, rec)["token"].(map[string]any)
			_, hasCatalog := tok["catalog"]
			_, hasProject := tok["project"]
			if hasCatalog != tc.scoped || hasProject != tc.scoped {
				t.Fatalf("catalog %v, project %v; want both %v: %s", hasCatalog, hasProject, tc.scoped, rec.Body)
			}
		})
	}
}

var tokenTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000Z$`)

func TestTokenBody(t *testing.T) {
	e := newEnv(t)
	rec := e.do("POST", "/identity/v3/auth/tokens", "", passwordAuth("demo", "secret", "demo"))
	if rec.Code != 201 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var body struct {
		Token struct {
			Methods   []string `json:"methods"`
			AuditIDs  []string `json:"audit_ids"`
			ExpiresAt string   `json:"expires_at"`
			IssuedAt  string   `json:"issued_at"`
			IsDomain  *bool    `json:"is_domain"`
			User      struct {
				ID, Name          string
				Domain            struct{ ID, Name string }
				PasswordExpiresAt *string `json:"password_expires_at"`
			} `json:"user"`
			Project struct {
				ID, Name string
				Domain   struct{ ID, Name string }
			} `json:"project"`
			Roles   []struct{ ID, Name string } `json:"roles"`
			Catalog []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					Interface, Region, URL string
					RegionID               string `json:"region_id"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	tk := body.Token
	checks := []struct {
		name string
		ok   bool
	}{
		{"methods is [password]", reflect.DeepEqual(tk.Methods, []string{"password"})},
		{"one 22-char audit id", len(tk.AuditIDs) == 1 && len(tk.AuditIDs[0]) == 22},
		{"expires_at format", tokenTimeRE.MatchString(tk.ExpiresAt)},
		{"issued_at format", tokenTimeRE.MatchString(tk.IssuedAt)},
		{"expires after issue", tk.ExpiresAt > tk.IssuedAt},
		{"is_domain false", tk.IsDomain != nil && !*tk.IsDomain},
		{"user", tk.User.ID == e.ids["demo"].UserID && tk.User.Name == "demo" && tk.User.Domain.ID == "default" && tk.User.Domain.Name == "Default"},
		{"password_expires_at null", tk.User.PasswordExpiresAt == nil},
		{"project", tk.Project.ID == e.ids["demo"].ProjectID && tk.Project.Name == "demo" && tk.Project.Domain.Name == "Default"},
		{"roles member and implied reader", len(tk.Roles) == 2 && tk.Roles[0].Name == "member" && tk.Roles[1].Name == "reader" && tk.Roles[0].ID == e.roles["member"]},
	}
	types := map[string]bool{}
	for _, c := range tk.Catalog {
		types[c.Type] = true
		for _, ep := range c.Endpoints {
			if ep.Region != "RegionOne" || ep.RegionID != "RegionOne" || !strings.HasPrefix(ep.URL, testPublicURL+"/") {
				t.Errorf("endpoint %+v of %s", ep, c.Type)
			}
			if c.Type == "volumev3" && !strings.HasSuffix(ep.URL, "/volume/v3/"+e.ids["demo"].ProjectID) {
				t.Errorf("volume URL %s lacks the project id", ep.URL)
			}
		}
	}
	checks = append(checks, struct {
		name string
		ok   bool
	}{"catalog types", types["identity"] && types["compute"] && types["image"] && types["network"] && types["volumev3"]})
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: %s", c.name, rec.Body)
		}
	}
}

func TestSubjectToken(t *testing.T) {
	e := newEnv(t)
	demo, alt, admin := e.token("demo"), e.token("alt"), e.token("admin")
	issued := e.do("POST", "/identity/v3/auth/tokens", "", e.expand(authUnscopedByID))
	subject := issued.Header().Get("X-Subject-Token")

	shown := e.do("GET", "/identity/v3/auth/tokens", demo, "", "X-Subject-Token: "+subject)
	if shown.Code != 200 || shown.Header().Get("X-Subject-Token") != subject {
		t.Fatalf("GET: %d %s", shown.Code, shown.Body)
	}
	if !reflect.DeepEqual(decodeBody(t, shown), decodeBody(t, issued)) {
		t.Fatalf("validated body differs from issued one:\n%s\n%s", shown.Body, issued.Body)
	}
	steps := []struct {
		name    string
		method  string
		token   string
		subject string
		status  int
	}{
		{"HEAD own token", "HEAD", demo, subject, 200},
		{"another user may not look", "GET", alt, subject, 403},
		{"admin may look", "HEAD", admin, subject, 200},
		{"garbage subject", "GET", demo, "garbage", 404},
		{"no subject header", "GET", demo, "", 400},
		{"delete", "DELETE", demo, subject, 204},
		{"GET after delete", "GET", demo, subject, 404},
		{"HEAD after delete", "HEAD", demo, subject, 404},
		{"DELETE again", "DELETE", demo, subject, 404},
		{"revoked token as X-Auth-Token", "GET", subject, demo, 401},
		{"caller token still fine", "GET", demo, demo, 200},
	}
	for _, st := range steps {
		var hdr []string
		if st.subject != "" {
			hdr = append(hdr, "X-Subject-Token: "+st.subject)
		}
		rec := e.do(st.method, "/identity/v3/auth/tokens", st.token, "", hdr...)
		if rec.Code != st.status {
			t.Fatalf("%s: %d, want %d: %s", st.name, rec.Code, st.status, rec.Body)
		}
		if st.status == 401 && strings.TrimSpace(rec.Body.String()) != unauthorizedBody {
			t.Fatalf("%s: body %s", st.name, rec.Body)
		}
	}
}

func TestTokenRescopeKeepsAuditChain(t *testing.T) {
	e := newEnv(t)
	unscoped := e.do("POST", "/identity/v3/auth/tokens", "", e.expand(authUnscopedByID)).Header().Get("X-Subject-Token")
	body := `{"auth": {"identity": {"methods": ["token"], "token": {"id": "` + unscoped + `"}}, "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}`
	rec := e.do("POST", "/identity/v3/auth/tokens", "", body)
	if rec.Code != 201 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	scoped := rec.Header().Get("X-Subject-Token")
	// Revoking the parent revokes the rescoped child (same audit chain).
	if rec := e.do("DELETE", "/identity/v3/auth/tokens", scoped, "", "X-Subject-Token: "+unscoped); rec.Code != 204 {
		t.Fatalf("delete parent: %d %s", rec.Code, rec.Body)
	}
	if _, err := e.svc.Authenticate(context.Background(), scoped); err == nil {
		t.Fatal("rescoped token still valid after its parent was revoked")
	}
}

func TestExpiredToken(t *testing.T) {
	e := newEnv(t)
	tok := e.token("demo")
	cases := []struct {
		name    string
		later   time.Duration
		xAuth   int // status of a call made with the token
		subject int // status of validating it with a fresh admin token
	}{
		{"59 minutes later", 59 * time.Minute, 200, 200},
		{"61 minutes later", 61 * time.Minute, 401, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.svc.now = func() time.Time { return time.Now().UTC().Add(tc.later) }
			defer func() { e.svc.now = func() time.Time { return time.Now().UTC() } }()
			if rec := e.do("GET", "/identity/v3/auth/catalog", tok, ""); rec.Code != tc.xAuth {
				t.Fatalf("X-Auth-Token: %d %s", rec.Code, rec.Body)
			}
			if rec := e.do("HEAD", "/identity/v3/auth/tokens", e.token("admin"), "", "X-Subject-Token: "+tok); rec.Code != tc.subject {
				t.Fatalf("X-Subject-Token: %d", rec.Code)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	old := e.token("demo")
	dir := e.svc.opts.KeyRepository
	steps := []struct {
		name      string
		oldValid  bool
		rotations int
	}{
		{"after one rotation the old primary is the secondary and validates", true, 1},
		{"after a second rotation its key is purged (3 keys kept)", false, 1},
	}
	for _, st := range steps {
		for i := 0; i < st.rotations; i++ {
			if err := RotateKeys(dir, DefaultMaxActiveKeys); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.svc.ReloadKeys(); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Authenticate(context.Background(), old)
		if (err == nil) != st.oldValid {
			t.Fatalf("%s: err = %v", st.name, err)
		}
		if _, err := e.svc.Authenticate(context.Background(), e.token("demo")); err != nil {
			t.Fatalf("%s: a new token does not validate: %v", st.name, err)
		}
		if idx, _ := keyIndexes(dir); len(idx) != DefaultMaxActiveKeys || idx[0] != 0 {
			t.Fatalf("%s: key files %v", st.name, idx)
		}
	}
}

func TestRotateKeysRefusesTooFewKeys(t *testing.T) {
	if err := RotateKeys(t.TempDir(), 1); err == nil {
		t.Fatal("max active 1 accepted")
	}
}

func TestRevocationSeenByReplica(t *testing.T) {
	reg := newRegistry(t)
	dir := t.TempDir()
	a := newEnvOn(t, reg, dir)
	b := newEnvOn(t, reg, dir) // a second gateway replica: same registry, same keys
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.svc.Run(ctx) }()
	defer func() { cancel(); <-done }()

	tok := a.token("demo")
	if _, err := b.svc.Authenticate(ctx, tok); err != nil {
		t.Fatalf("replica refuses a fresh token: %v", err)
	}
	if rec := a.do("DELETE", "/identity/v3/auth/tokens", tok, "", "X-Subject-Token: "+tok); rec.Code != 204 {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, err := b.svc.Authenticate(ctx, tok); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica still accepts the token 2s after its revocation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A replica started later loads the stored event.
	c := newEnvOn(t, reg, dir)
	if _, err := c.svc.Authenticate(ctx, tok); err == nil {
		t.Fatal("a new replica accepts a revoked token")
	}
}
