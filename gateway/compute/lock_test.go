package compute_test

import (
	"strings"
	"testing"
)

// TestLockRules checks Nova's lock rules: a locked server refuses actions
// from its non-admin owner (409), an admin acts anyway, the 2.73 reason is
// validated and shown, and only an admin lifts a lock an admin set.
func TestLockRules(t *testing.T) {
	h := newHarness(t)
	id := h.boot(tokMember, createOSC)
	act := "/compute/v2.1/servers/" + id + "/action"
	steps := []struct {
		name, token, version, method, path, body string
		status                                   int
		text                                     string
	}{
		{"reason before 2.73 ignored", tokMember, "2.72", "POST", act, `{"lock": {"locked_reason": "x"}}`, 202, ""},
		{"stop locked by owner", tokMember, "", "POST", act, `{"os-stop": null}`, 409, "is locked"},
		{"rebuild locked", tokMember, "", "POST", act, actionRebuild, 409, "is locked"},
		{"metadata locked", tokMember, "", "PUT", "/compute/v2.1/servers/" + id + "/metadata/k", `{"meta": {"k": "v"}}`, 409, "is locked"},
		{"unlock by owner", tokMember, "", "POST", act, `{"unlock": null}`, 202, ""},
		{"empty reason", tokMember, "2.73", "POST", act, `{"lock": {"locked_reason": ""}}`, 400, "too short"},
		{"long reason", tokMember, "2.73", "POST", act, `{"lock": {"locked_reason": "` + strings.Repeat("r", 256) + `"}}`, 400, "too long"},
		{"unknown lock field", tokMember, "2.73", "POST", act, `{"lock": {"why": "x"}}`, 400, "why"},
		{"admin locks with reason", tokAdmin, "2.73", "POST", act, `{"lock": {"locked_reason": "maintenance"}}`, 202, ""},
		{"reason shown", tokMember, "2.73", "GET", "/compute/v2.1/servers/" + id, "", 200, `"locked_reason":"maintenance"`},
		{"owner cannot lift admin lock", tokMember, "", "POST", act, `{"unlock": null}`, 403, "unlock_override"},
		{"admin acts on locked", tokAdmin, "", "POST", act, `{"os-stop": null}`, 202, ""},
		{"admin unlocks", tokAdmin, "", "POST", act, `{"unlock": null}`, 202, ""},
		{"reason cleared", tokMember, "2.73", "GET", "/compute/v2.1/servers/" + id, "", 200, `"locked_reason":null`},
	}
	for _, st := range steps {
		r := h.do(st.method, st.path, st.token, st.version, st.body)
		if r.status != st.status || !strings.Contains(string(r.body), st.text) {
			t.Fatalf("%s: %d %s, want %d with %q", st.name, r.status, r.body, st.status, st.text)
		}
	}
	acts := string(h.do("GET", "/compute/v2.1/servers/"+id+"/os-instance-actions", tokMember, "", "").body)
	if strings.Count(acts, `"action":"lock"`) != 2 || strings.Count(acts, `"action":"unlock"`) != 2 {
		t.Errorf("instance actions miss lock/unlock: %s", acts)
	}
}
