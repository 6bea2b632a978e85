package identity

import (
	"reflect"
	"testing"
)

// FuzzAuthRequest feeds the auth request decoder arbitrary bytes: it must
// never panic, and whatever it accepts must be complete for its methods.
func FuzzAuthRequest(f *testing.F) {
	for _, seed := range []string{
		passwordAuth("demo", "secret", "demo"), authUnscopedByID, authWrongPass, authNoDomain, authNoIdentity,
		authTOTP, authDomainScope, authSystemScope, authGarbageToken, `{"auth": {"identity": {"methods": ["password", "token"]}}}`,
		`{"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"name": "a", "secret": "s", "user": {"id": "u"}}}, "scope": "unscoped"}}`,
		`{"auth": {"identity": {"methods": []}, "scope": {"project": {}}}}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodeAuthRequest(body)
		if err != nil {
			return
		}
		if len(in.Methods) == 0 {
			t.Fatal("accepted a request without methods")
		}
		for _, m := range in.Methods {
			ok := (m == "password" && in.Password != nil && (in.Password.User.ID != "" || in.Password.User.Name != "")) ||
				(m == "token" && in.Token != "") ||
				(m == "application_credential" && in.AppCred != nil && (in.AppCred.ID != "" || in.AppCred.Name != ""))
			if !ok {
				t.Fatalf("accepted method %s without its credentials: %s", m, body)
			}
		}
		if in.Scope.Kind != scopeNone && in.Scope.ID == "" && in.Scope.Name == "" {
			t.Fatalf("accepted a scope naming nothing: %s", body)
		}
	})
}

// FuzzTokenPayload checks that no byte string decodes into a panic and that
// what decodes re-encodes to the same payload.
func FuzzTokenPayload(f *testing.F) {
	p := &payload{Methods: methodPassword, UserID: "0123456789abcdef0123456789abcdef", UserName: "demo", UserDomainID: "default",
		Scope: scopeProject, ScopeID: "p", Roles: []string{"member"}, AuditIDs: []string{"a"}}
	f.Add(p.marshal())
	f.Add([]byte{1, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := unmarshalPayload(b)
		if err != nil {
			return
		}
		again, err := unmarshalPayload(got.marshal())
		if err != nil || !reflect.DeepEqual(got, again) {
			t.Fatalf("payload does not survive a round trip: %+v then %+v (%v)", got, again, err)
		}
	})
}
