package compute_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/scheduler"
)

const (
	actionRebuild = `{"rebuild": {"imageRef": "` + imageID + `", "name": "rebuilt", "metadata": {"rebuild": "server"}, "adminPass": "rebuildPassw0rd"}}`
	actionResize  = `{"resize": {"flavorRef": "2"}}`
	actionConfirm = `{"confirmResize": null}`
	actionRevert  = `{"revertResize": null}`
)

// TestRebuildAndResizeFlows drives the flows tempest's ServerActionsTestJSON
// runs: rebuild keeps id and addresses; resize then confirm keeps the new
// flavor, resize then revert the old one, and the claim follows.
func TestRebuildAndResizeFlows(t *testing.T) {
	h := newHarness(t)
	id := h.boot(tokMember, createOSC)
	act := "/compute/v2.1/servers/" + id + "/action"
	before := h.do("GET", "/compute/v2.1/servers/"+id, tokMember, "", "").json(t)["server"].(map[string]any)

	r := h.do("POST", act, tokMember, "2.79", actionRebuild)
	if r.status != http.StatusAccepted {
		t.Fatalf("rebuild: %d %s", r.status, r.body)
	}
	got := r.json(t)["server"].(map[string]any)
	if got["id"] != id || got["adminPass"] != "rebuildPassw0rd" || got["status"] != "REBUILD" || got["name"] != "rebuilt" {
		t.Errorf("rebuild response: %s", r.body)
	}
	h.waitStatus(tokMember, id, "ACTIVE")
	after := h.do("GET", "/compute/v2.1/servers/"+id, tokMember, "", "").json(t)["server"].(map[string]any)
	if after["name"] != "rebuilt" || after["metadata"].(map[string]any)["rebuild"] != "server" {
		t.Errorf("after rebuild: %v", after)
	}
	if a, b := mustJSON(t, before["addresses"]), mustJSON(t, after["addresses"]); a != b {
		t.Errorf("rebuild changed addresses: %s -> %s", a, b)
	}

	for _, tc := range []struct {
		name, body     string
		status         int
		thenStatus     string
		flavor, claimF string
	}{
		{"resize", actionResize, 202, "VERIFY_RESIZE", "m1.small", "2"},
		{"resize again while verifying", actionResize, 409, "", "", ""},
		{"revert", actionRevert, 202, "ACTIVE", "m1.tiny", "1"},
		{"confirm without resize", actionConfirm, 409, "", "", ""},
		{"resize for confirm", actionResize, 202, "VERIFY_RESIZE", "m1.small", "2"},
		{"confirm", actionConfirm, 204, "ACTIVE", "m1.small", "2"},
	} {
		r := h.do("POST", act, tokMember, "", tc.body)
		if r.status != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
		}
		if tc.thenStatus == "" {
			continue
		}
		h.waitStatus(tokMember, id, tc.thenStatus)
		srv := h.do("GET", "/compute/v2.1/servers/"+id, tokMember, "2.47", "").json(t)["server"].(map[string]any)
		if name := srv["flavor"].(map[string]any)["original_name"]; name != tc.flavor {
			t.Errorf("%s: flavor %v, want %s", tc.name, name, tc.flavor)
		}
		if f := h.placer.ClaimedFlavor(id); f.ID != tc.claimF {
			t.Errorf("%s: claim holds flavor %q, want %q", tc.name, f.ID, tc.claimF)
		}
	}
	if got := h.cloud.Count("resize " + id + " 1"); got != 1 {
		t.Errorf("backend saw %d resizes back to flavor 1, want 1 (the revert)", got)
	}
	u, _ := h.b.Usage(context.Background(), projectA)
	if u.RAM != 2048 || u.Cores != 1 {
		t.Errorf("quota usage after confirm %+v, want the new flavor's", u)
	}
}

// TestRebuildResizeFaults checks the refusals: Nova's status and text.
func TestRebuildResizeFaults(t *testing.T) {
	h := newHarness(t)
	id := h.boot(tokMember, createOSC)
	act := "/compute/v2.1/servers/" + id + "/action"
	missing := "/compute/v2.1/servers/9d9a4e2a-0000-4000-8000-000000000000/action"
	cases := []struct {
		name, path, token, version, body string
		status                           int
		text                             string
	}{
		{"rebuild missing server", missing, tokMember, "", actionRebuild, 404, "could not be found"},
		{"rebuild other project", act, tokOther, "", actionRebuild, 404, "could not be found"},
		{"rebuild without imageRef", act, tokMember, "", `{"rebuild": {"name": "x"}}`, 400, "'imageRef' is a required property"},
		{"rebuild bad imageRef", act, tokMember, "", `{"rebuild": {"imageRef": "nope"}}`, 400, "Invalid imageRef provided."},
		{"rebuild unknown image", act, tokMember, "", `{"rebuild": {"imageRef": "9d9a4e2a-0000-4000-8000-000000000001"}}`, 400, "Cannot find image for rebuild"},
		{"rebuild unknown field", act, tokMember, "", `{"rebuild": {"imageRef": "` + imageID + `", "bogus": 1}}`, 400, "bogus"},
		{"rebuild empty name", act, tokMember, "", `{"rebuild": {"imageRef": "` + imageID + `", "name": ""}}`, 400, "name"},
		{"rebuild by reader", act, tokReader, "", actionRebuild, 403, ""},
		{"resize missing server", missing, tokMember, "", actionResize, 404, "could not be found"},
		{"resize null flavor", act, tokMember, "", `{"resize": {"flavorRef": null}}`, 400, "flavorRef"},
		{"resize empty flavor", act, tokMember, "", `{"resize": {"flavorRef": ""}}`, 400, "flavorRef"},
		{"resize no flavorRef", act, tokMember, "", `{"resize": {}}`, 400, "'flavorRef' is a required property"},
		{"resize unknown flavor", act, tokMember, "", `{"resize": {"flavorRef": "999"}}`, 400, "Unable to find flavor"},
		{"resize same flavor", act, tokMember, "", `{"resize": {"flavorRef": "1"}}`, 400, "must change flavor"},
		{"revert not resized", act, tokMember, "", actionRevert, 409, "vm_state active"},
		{"confirm not resized", act, tokMember, "", actionConfirm, 409, "vm_state active"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("POST", tc.path, tc.token, tc.version, tc.body)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.text) {
				t.Errorf("%d %s, want %d with %q", r.status, r.body, tc.status, tc.text)
			}
		})
	}
}

// TestResizeRefusals: a full host, a locked server and a backend without
// the optional interfaces leave the server as it was.
func TestResizeRefusals(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(h *harness, id string)
		body   string
		status int
		text   string
	}{
		{"host full", func(h *harness, id string) { h.placer.ResizeErr = scheduler.ErrNoValidHost }, actionResize, 500, "No valid host"},
		{"locked", func(h *harness, id string) {
			h.do("POST", "/compute/v2.1/servers/"+id+"/action", tokMember, "", `{"lock": null}`)
		}, actionResize, 409, "is locked"},
		{"locked rebuild", func(h *harness, id string) {
			h.do("POST", "/compute/v2.1/servers/"+id+"/action", tokMember, "", `{"lock": null}`)
		}, actionRebuild, 409, "is locked"},
		{"backend cannot rebuild", func(h *harness, id string) { h.hideOptional() }, actionRebuild, 501, "does not support 'rebuild'"},
		{"backend cannot resize", func(h *harness, id string) { h.hideOptional() }, actionResize, 501, "does not support 'resize'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.boot(tokMember, createOSC)
			tc.setup(h, id)
			r := h.do("POST", "/compute/v2.1/servers/"+id+"/action", tokMember, "", tc.body)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.text) {
				t.Fatalf("%d %s, want %d with %q", r.status, r.body, tc.status, tc.text)
			}
			srv := h.do("GET", "/compute/v2.1/servers/"+id, tokMember, "", "").json(t)["server"].(map[string]any)
			if srv["status"] != "ACTIVE" || srv["flavor"].(map[string]any)["id"] != "1" {
				t.Errorf("refused action changed the server: %v", srv)
			}
			if f := h.placer.ClaimedFlavor(id); f.ID != "1" {
				t.Errorf("claim moved to %q", f.ID)
			}
			if u, _ := h.b.Usage(context.Background(), projectA); u.RAM != 512 {
				t.Errorf("quota RAM %d, want 512", u.RAM)
			}
		})
	}
}

// plainBackend hides the fake's optional Rebuilder and Resizer.
type plainBackend struct{ proxies.Backend }

var _ proxies.Backend = plainBackend{}

// hideOptional swaps the harness's cloud for one without optional interfaces.
func (h *harness) hideOptional() { h.swapBackend(plainBackend{h.cloud}) }

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConcurrentResizesChargeOnce races resizes of one server: one wins,
// the others answer 409, and quota and claim move exactly once.
func TestConcurrentResizesChargeOnce(t *testing.T) {
	h := newHarness(t)
	id := h.boot(tokMember, createOSC)
	statuses := make([]int, 6)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = h.do("POST", "/compute/v2.1/servers/"+id+"/action", tokMember, "", actionResize).status
		})
	}
	wg.Wait()
	won := 0
	for _, s := range statuses {
		switch s {
		case http.StatusAccepted:
			won++
		case http.StatusConflict:
		default:
			t.Errorf("resize answered %d", s)
		}
	}
	h.waitStatus(tokMember, id, "VERIFY_RESIZE")
	u, _ := h.b.Usage(context.Background(), projectA)
	if won != 1 || u.RAM != 2048 || h.placer.ClaimedFlavor(id).RAMMB != 2048 {
		t.Errorf("%d resizes won; quota RAM %d, claim %+v; want 1, 2048, 2048", won, u.RAM, h.placer.ClaimedFlavor(id))
	}
}
