package identity

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

const (
	versionsBody = `{"versions":{"values":[{"id":"v3.14","links":[{"href":"http://gw.test/identity/v3/","rel":"self"}],"media-types":[{"base":"application/json","type":"application/vnd.openstack.identity-v3+json"}],"status":"stable","updated":"2020-04-07T00:00:00Z"}]}}`
	versionBody  = `{"version":{"id":"v3.14","links":[{"href":"http://gw.test/identity/v3/","rel":"self"}],"media-types":[{"base":"application/json","type":"application/vnd.openstack.identity-v3+json"}],"status":"stable","updated":"2020-04-07T00:00:00Z"}}`

	createUserBody      = `{"user": {"name": "carol", "password": "pw", "domain_id": "default"}}`
	createUserNoName    = `{"user": {"password": "pw"}}`
	createUserBadDomain = `{"user": {"name": "dave", "domain_id": "nowhere"}}`
	createProjectBody   = `{"project": {"name": "p2", "domain_id": "default", "description": "second"}}`
)

func TestVersions(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		path   string
		status int
		body   string
	}{
		{"/identity", 300, versionsBody},
		{"/identity/", 300, versionsBody},
		{"/identity/v3", 200, versionBody},
		{"/identity/v3/", 200, versionBody},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			rec := e.do("GET", tc.path, "", "")
			if rec.Code != tc.status || strings.TrimSpace(rec.Body.String()) != tc.body {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
}

// TestAPIPolicy drives every resource API as admin, member and reader.
func TestAPIPolicy(t *testing.T) {
	e := newEnv(t)
	tokens := map[string]string{"admin": e.token("admin"), "demo": e.token("demo"), "viewer": e.token("viewer"), "": ""}
	cases := []struct {
		name   string
		as     string
		method string
		path   string
		body   string
		status int
		want   string // substring of the body
	}{
		{"no token", "", "GET", "/identity/v3/users", "", 401, `"title":"Unauthorized"`},
		{"member cannot create users", "demo", "POST", "/identity/v3/users", createUserBody, 403, `identity:create_user`},
		{"member cannot list users", "demo", "GET", "/identity/v3/users", "", 403, `"code":403`},
		{"admin lists users", "admin", "GET", "/identity/v3/users?name=demo", "", 200, `"name":"demo"`},
		{"admin creates a user", "admin", "POST", "/identity/v3/users", createUserBody, 201, `"name":"carol"`},
		{"duplicate user name", "admin", "POST", "/identity/v3/users", createUserBody, 409, `Duplicate entry`},
		{"user without name", "admin", "POST", "/identity/v3/users", createUserNoName, 400, `name`},
		{"user in unknown domain", "admin", "POST", "/identity/v3/users", createUserBadDomain, 404, `Could not find domain: nowhere`},
		{"malformed user body", "admin", "POST", "/identity/v3/users", `{"user": `, 400, `"code":400`},
		{"user body of wrong type", "admin", "POST", "/identity/v3/users", `{"user": {"name": 7}}`, 400, `user`},
		{"member shows self", "demo", "GET", "/identity/v3/users/{demo_user}", "", 200, `"id":"{demo_user}"`},
		{"member cannot show another user", "demo", "GET", "/identity/v3/users/{alt_user}", "", 403, ``},
		{"admin shows unknown user", "admin", "GET", "/identity/v3/users/nope", "", 404, `Could not find user: nope.`},
		{"member lists own projects", "demo", "GET", "/identity/v3/users/{demo_user}/projects", "", 200, `"id":"{demo_project}"`},
		{"member cannot list alt's projects", "demo", "GET", "/identity/v3/users/{alt_user}/projects", "", 403, ``},
		{"auth projects", "demo", "GET", "/identity/v3/auth/projects", "", 200, `"name":"demo"`},
		{"auth domains (none)", "demo", "GET", "/identity/v3/auth/domains", "", 200, `"domains":[]`},
		{"auth catalog", "demo", "GET", "/identity/v3/auth/catalog", "", 200, `"type":"identity"`},
		{"member cannot list projects", "demo", "GET", "/identity/v3/projects", "", 403, ``},
		{"member shows own project", "demo", "GET", "/identity/v3/projects/{demo_project}", "", 200, `"parent_id":"default"`},
		{"member cannot show alt project", "demo", "GET", "/identity/v3/projects/{alt_project}", "", 403, ``},
		{"admin creates a project", "admin", "POST", "/identity/v3/projects", createProjectBody, 201, `"description":"second"`},
		{"admin lists projects", "admin", "GET", "/identity/v3/projects?name=alt", "", 200, `"id":"{alt_project}"`},
		{"member shows Default domain", "demo", "GET", "/identity/v3/domains/default", "", 200, `"enabled":true`},
		{"member cannot list domains", "demo", "GET", "/identity/v3/domains", "", 403, ``},
		{"admin finds Default by name", "admin", "GET", "/identity/v3/domains?name=Default", "", 200, `"id":"default"`},
		{"enabled delete refused", "admin", "DELETE", "/identity/v3/domains/default", "", 403, `disable it first`},
		{"member cannot list roles", "demo", "GET", "/identity/v3/roles", "", 403, ``},
		{"admin lists roles", "admin", "GET", "/identity/v3/roles?name=reader", "", 200, `"name":"reader"`},
		{"member cannot grant", "demo", "PUT", "/identity/v3/projects/{alt_project}/users/{demo_user}/roles/{member_role}", "", 403, ``},
		{"member checks own grant", "demo", "HEAD", "/identity/v3/projects/{demo_project}/users/{demo_user}/roles/{member_role}", "", 204, ``},
		{"missing grant", "admin", "HEAD", "/identity/v3/projects/{alt_project}/users/{demo_user}/roles/{member_role}", "", 404, ``},
		{"member lists own assignments", "demo", "GET", "/identity/v3/role_assignments?user.id={demo_user}", "", 200, `"project":{"id":"{demo_project}"}`},
		{"member cannot list all assignments", "demo", "GET", "/identity/v3/role_assignments", "", 403, ``},
		{"admin lists assignments with names", "admin", "GET", "/identity/v3/role_assignments?include_names=True&scope.project.id={alt_project}", "", 200, `"name":"alt"`},
		{"group assignments unsupported", "admin", "GET", "/identity/v3/role_assignments?group.id=x", "", 501, ``},
		{"regions for anyone", "viewer", "GET", "/identity/v3/regions", "", 200, `"id":"RegionOne"`},
		{"member cannot list services", "demo", "GET", "/identity/v3/services", "", 403, ``},
		{"admin lists services", "admin", "GET", "/identity/v3/services?type=compute", "", 200, `"name":"nova"`},
		{"admin lists endpoints", "admin", "GET", "/identity/v3/endpoints?interface=public", "", 200, `$(project_id)s`},
		{"catalog writes are config", "admin", "POST", "/identity/v3/endpoints", `{"endpoint": {}}`, 501, ``},
		{"no app creds for another user", "viewer", "POST", "/identity/v3/users/{demo_user}/application_credentials", `{"application_credential": {"name": "x"}}`, 403, ``},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(tc.method, e.expand(tc.path), tokens[tc.as], e.expand(tc.body))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if want := e.expand(tc.want); !strings.Contains(rec.Body.String(), want) {
				t.Fatalf("body lacks %s: %s", want, rec.Body)
			}
		})
	}
}

func TestGrantIsIdempotentAndRevokes(t *testing.T) {
	e := newEnv(t)
	admin, alt := e.token("admin"), e.token("alt")
	grant := e.expand("/identity/v3/projects/{demo_project}/users/{alt_user}/roles/{reader_role}")
	for i := 0; i < 2; i++ {
		if rec := e.do("PUT", grant, admin, ""); rec.Code != 204 {
			t.Fatalf("grant %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	scoped := e.do("POST", "/identity/v3/auth/tokens", "", passwordAuth("alt", "secret", "demo"))
	if scoped.Code != 201 || !strings.Contains(scoped.Body.String(), `"name":"reader"`) {
		t.Fatalf("scope to granted project: %d %s", scoped.Code, scoped.Body)
	}
	if rec := e.do("DELETE", grant, admin, ""); rec.Code != 204 {
		t.Fatalf("revoke grant: %d %s", rec.Code, rec.Body)
	}
	if _, err := e.svc.Authenticate(context.Background(), alt); err == nil {
		t.Fatal("the user's tokens survived a role removal")
	}
	if rec := e.do("POST", "/identity/v3/auth/tokens", "", passwordAuth("alt", "secret", "demo")); rec.Code != 401 {
		t.Fatalf("scope after removal: %d", rec.Code)
	}
}

func TestChangeOwnPassword(t *testing.T) {
	e := newEnv(t)
	old := e.token("demo")
	change := func(original, password string) int {
		body := `{"user": {"password": "` + password + `", "original_password": "` + original + `"}}`
		return e.do("POST", e.expand("/identity/v3/users/{demo_user}/password"), old, body).Code
	}
	steps := []struct {
		name             string
		original, newPwd string
		status           int
	}{
		{"wrong original password", "nope", "x1", 401},
		{"change", "secret", "new-1", 204},
		{"reuse the current password", "new-1", "new-1", 400},
		{"reuse the previous password", "new-1", "secret", 400},
		{"change again", "new-1", "new-2", 204},
	}
	for _, st := range steps {
		if got := change(st.original, st.newPwd); got != st.status {
			t.Fatalf("%s: %d, want %d", st.name, got, st.status)
		}
	}
	rescope := `{"auth": {"identity": {"methods": ["token"], "token": {"id": "` + old + `"}}}}`
	if rec := e.do("POST", "/identity/v3/auth/tokens", "", rescope); rec.Code != 404 {
		t.Fatalf("old token after password change: %d, want 404", rec.Code)
	}
	if rec := e.do("POST", "/identity/v3/auth/tokens", "", passwordAuth("demo", "secret", "demo")); rec.Code != 401 {
		t.Fatalf("old password: %d", rec.Code)
	}
	if rec := e.do("POST", "/identity/v3/auth/tokens", "", passwordAuth("demo", "new-2", "demo")); rec.Code != 201 {
		t.Fatalf("new password: %d %s", rec.Code, rec.Body)
	}
}

func TestApplicationCredentials(t *testing.T) {
	e := newEnv(t)
	tok := e.token("demo")
	base := e.expand("/identity/v3/users/{demo_user}/application_credentials")
	create := func(name, extra string) map[string]any {
		rec := e.do("POST", base, tok, `{"application_credential": {"name": "`+name+`"`+extra+`}}`)
		if rec.Code != 201 {
			t.Fatalf("create %s: %d %s", name, rec.Code, rec.Body)
		}
		return decodeBody(t, rec)["application_credential"].(map[string]any)
	}
	one := create("one", "")
	two := create("two", `, "expires_at": "2099-01-02T03:04:05.123456"`)
	if two["expires_at"] != "2099-01-02T03:04:05.123456" {
		t.Fatalf("expires_at echoed as %v", two["expires_at"])
	}
	if rec := e.do("POST", base, tok, `{"application_credential": {"name": "one"}}`); rec.Code != 409 {
		t.Fatalf("duplicate name: %d", rec.Code)
	}
	shown := e.do("GET", base+"/"+one["id"].(string), tok, "")
	if shown.Code != 200 || strings.Contains(shown.Body.String(), "secret") {
		t.Fatalf("show: %d %s", shown.Code, shown.Body)
	}
	var list struct {
		AppCreds []map[string]any `json:"application_credentials"`
	}
	_ = json.Unmarshal(e.do("GET", base, tok, "").Body.Bytes(), &list)
	if len(list.AppCreds) != 2 {
		t.Fatalf("list has %d", len(list.AppCreds))
	}
	_ = json.Unmarshal(e.do("GET", base+"?name=two", tok, "").Body.Bytes(), &list)
	if len(list.AppCreds) != 1 || list.AppCreds[0]["name"] != "two" {
		t.Fatalf("query by name: %v", list.AppCreds)
	}
	if rec := e.do("GET", base, e.token("alt"), ""); rec.Code != 403 {
		t.Fatalf("alt lists demo's app creds: %d", rec.Code)
	}
	authBody := `{"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": "` + one["id"].(string) + `", "secret": "` + one["secret"].(string) + `"}}}}`
	rec := e.do("POST", "/identity/v3/auth/tokens", "", authBody)
	if rec.Code != 201 || !strings.Contains(rec.Body.String(), `"id":"`+e.ids["demo"].ProjectID+`"`) ||
		!strings.Contains(rec.Body.String(), `"application_credential":{"id"`) {
		t.Fatalf("app cred auth: %d %s", rec.Code, rec.Body)
	}
	acToken := rec.Header().Get("X-Subject-Token")
	if rec := e.do("POST", "/identity/v3/auth/tokens", "", strings.Replace(authBody, one["secret"].(string), "wrong", 1)); rec.Code != 401 {
		t.Fatalf("wrong secret: %d", rec.Code)
	}
	if rec := e.do("POST", base, acToken, `{"application_credential": {"name": "three"}}`); rec.Code != 403 {
		t.Fatalf("app cred token makes app creds: %d", rec.Code)
	}
	if rec := e.do("DELETE", base+"/"+one["id"].(string), tok, ""); rec.Code != 204 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if _, err := e.svc.Authenticate(context.Background(), acToken); err == nil {
		t.Fatal("token of a deleted application credential still valid")
	}
	if rec := e.do("GET", base+"/"+one["id"].(string), tok, ""); rec.Code != 404 {
		t.Fatalf("show deleted: %d", rec.Code)
	}
}

func TestDeleteUserRevokesAndCleansUp(t *testing.T) {
	e := newEnv(t)
	admin, alt := e.token("admin"), e.token("alt")
	if rec := e.do("DELETE", e.expand("/identity/v3/users/{alt_user}"), admin, ""); rec.Code != 204 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if _, err := e.svc.Authenticate(context.Background(), alt); err == nil {
		t.Fatal("deleted user's token still valid")
	}
	as, err := e.svc.userAssignments(context.Background(), e.ids["alt"].UserID)
	if err != nil || len(as) != 0 {
		t.Fatalf("assignments left: %v %v", as, err)
	}
	if rec := e.do("DELETE", e.expand("/identity/v3/users/{alt_user}"), admin, ""); rec.Code != 404 {
		t.Fatalf("delete again: %d", rec.Code)
	}
}

func TestBootstrapIsIdempotent(t *testing.T) {
	e := newEnv(t)
	again, err := e.svc.Bootstrap(context.Background(), testUsers)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range e.ids {
		if again[name] != r {
			t.Fatalf("%s: %v then %v", name, r, again[name])
		}
	}
	counts := map[string]func(context.Context, string) (int64, error){
		"domains": e.svc.domains.Count, "roles": e.svc.roles.Count, "users": e.svc.users.Count, "projects": e.svc.projects.Count,
	}
	want := map[string]int64{"domains": 1, "roles": 3, "users": 4, "projects": 3}
	for kind, count := range counts {
		if n, err := count(context.Background(), "_"); err != nil || n != want[kind] {
			t.Fatalf("%s: %d, want %d (%v)", kind, n, want[kind], err)
		}
	}
	if n, _ := e.svc.assigns.Count(context.Background(), "*"); n != 4 {
		t.Fatalf("assignments: %d", n)
	}
}
