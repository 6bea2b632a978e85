package image_test

import (
	"net/http"
	"slices"
	"testing"
)

// memberFixture is Glance's image member body (POST /v2/images/{id}/members).
const memberFixture = `{"member_id": "alt-project", "image_id": "` + imageID + `", "status": "pending",
 "created_at": "2026-11-29T06:31:42Z", "updated_at": "2026-11-29T06:31:42Z", "schema": "/v2/schemas/member"}`

func (e *env) listIDs(token, query string) []string {
	e.t.Helper()
	code, body := e.json(token, "GET", "/image/v2/images"+query, "", "")
	if code != http.StatusOK {
		e.t.Fatalf("list %s: %d", query, code)
	}
	var ids []string
	for _, it := range body["images"].([]any) {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	return ids
}

// TestMembers walks Glance's sharing flow: the owner shares, the member
// sees the image by id at once but lists it only once accepted.
func TestMembers(t *testing.T) {
	e := newEnv(t)
	e.create("demo", `{"id": "`+imageID+`", "name": "shared-one"}`) // default visibility: shared
	private := e.create("demo", `{"name": "mine", "visibility": "private"}`)["id"].(string)
	members := "/image/v2/images/" + imageID + "/members"
	const jsonType = "application/json"

	code, added := e.json("demo", "POST", members, jsonType, `{"member": "alt-project"}`)
	if code != http.StatusOK || mustJSON(added) != canonical(t, memberFixture) {
		t.Fatalf("add member: %d %s", code, mustJSON(added))
	}
	steps := []struct {
		name, token, method, path, body string
		status                          int
	}{
		{"duplicate member", "demo", "POST", members, `{"member": "alt-project"}`, 409},
		{"member body missing", "demo", "POST", members, `{}`, 400},
		{"empty member", "demo", "POST", members, `{"member": ""}`, 400},
		{"member of a private image", "demo", "POST", "/image/v2/images/" + private + "/members", `{"member": "alt-project"}`, 403},
		{"list members of a private image", "demo", "GET", "/image/v2/images/" + private + "/members", "", 403},
		{"show member of a private image hides as 404", "demo", "GET", "/image/v2/images/" + private + "/members/alt-project", "", 404},
		{"member adds another member", "alt", "POST", members, `{"member": "third-project"}`, 403},
		{"outsider cannot see the image", "third", "GET", members, "", 404},
		{"pending member may show the image", "alt", "GET", "/image/v2/images/" + imageID, "", 200},
		{"owner cannot accept for the member", "demo", "PUT", members + "/alt-project", `{"status": "accepted"}`, 403},
		{"invalid status", "alt", "PUT", members + "/alt-project", `{"status": "notavalidstatus"}`, 400},
		{"status missing", "alt", "PUT", members + "/alt-project", `{}`, 400},
		{"unknown member", "demo", "GET", members + "/nobody", "", 404},
		{"member cannot remove itself", "alt", "DELETE", members + "/alt-project", "", 403},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ct := ""
			if st.body != "" {
				ct = jsonType
			}
			if resp, body := e.raw(st.token, st.method, st.path, ct, []byte(st.body)); resp.StatusCode != st.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, st.status, body)
			}
		})
	}

	if slices.Contains(e.listIDs("alt", ""), imageID) {
		t.Fatal("pending shared image in the member's default list")
	}
	if got := e.listIDs("alt", "?member_status=pending&visibility=shared"); !slices.Equal(got, []string{imageID}) {
		t.Fatalf("member_status=pending list: %v", got)
	}
	for _, status := range []string{"rejected", "accepted"} {
		code, m := e.json("alt", "PUT", members+"/alt-project", jsonType, `{"status": "`+status+`"}`)
		if code != 200 || m["status"] != status {
			t.Fatalf("%s: %d %v", status, code, m)
		}
		if listed := slices.Contains(e.listIDs("alt", ""), imageID); listed != (status == "accepted") {
			t.Fatalf("after %s: listed=%v", status, listed)
		}
	}
	if got := e.listIDs("alt", "?member_status=all"); !slices.Contains(got, imageID) {
		t.Fatalf("member_status=all: %v", got)
	}
	// The owner sees every member, a member only itself.
	e.json("demo", "POST", members, jsonType, `{"member": "third-project"}`)
	count := func(token string) int {
		_, body := e.json(token, "GET", members, "", "")
		return len(body["members"].([]any))
	}
	if count("demo") != 2 || count("alt") != 1 {
		t.Fatalf("member lists: owner %d, alt %d", count("demo"), count("alt"))
	}
	if code, _ := e.json("alt", "GET", members+"/third-project", "", ""); code != 404 {
		t.Fatalf("alt read third's membership: %d", code)
	}
	if resp, _ := e.raw("demo", "DELETE", members+"/alt-project", "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("remove member: %d", resp.StatusCode)
	}
	if code, _ := e.json("alt", "GET", "/image/v2/images/"+imageID, "", ""); code != 404 {
		t.Fatalf("removed member still sees the image: %d", code)
	}
	if slices.Contains(e.listIDs("alt", "?member_status=all"), imageID) {
		t.Fatal("removed member still lists the image")
	}
	// Deleting the image drops its members: a new image of the same id is
	// not shared with anyone.
	e.raw("demo", "DELETE", "/image/v2/images/"+imageID, "", nil)
	e.create("demo", `{"id": "`+imageID+`", "name": "reborn"}`)
	if code, _ := e.json("third", "GET", "/image/v2/images/"+imageID, "", ""); code != 404 {
		t.Fatalf("a recreated image inherited members: %d", code)
	}
}
