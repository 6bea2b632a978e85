package admin_test

import (
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/registry"
)

// TestProjectResidency: admin only; PUT normalises and answers what it
// stored, GET reads it back, bad codes are Nova-shaped 400s that change
// nothing, empty lists lift it; explain then names the ResidencyFilter.
func TestProjectResidency(t *testing.T) {
	srv, reg := setup(t)
	flavors := registry.NewCollection(reg, registry.KindFlavor, func(f *registry.Flavor) string { return f.Name })
	if err := flavors.Create(t.Context(), "_", "1", time.Unix(1, 0), &registry.Flavor{ID: "1", Name: "m1.tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1}); err != nil {
		t.Fatal(err)
	}
	const path = "/admin/v1/projects/p1/residency"
	call(t, srv, "member", "GET", path, "", 403)
	call(t, srv, "member", "PUT", path, `{"residency": {"countries": ["DE"]}}`, 403)
	v := call(t, srv, "admin", "GET", path, "", 200)
	r := v["residency"].(map[string]any)
	if r["project_id"] != "p1" || len(r["countries"].([]any)) != 0 || len(r["regions"].([]any)) != 0 {
		t.Errorf("no residency yet: %v", r)
	}
	v = call(t, srv, "admin", "PUT", path, `{"residency": {"countries": ["fr", "DE", "DE"], "regions": ["eu-west"]}}`, 200)
	r = v["residency"].(map[string]any)
	if c := r["countries"].([]any); len(c) != 2 || c[0] != "DE" || c[1] != "FR" {
		t.Errorf("countries = %v, want [DE FR]", c)
	}
	// A retry is the same answer (PUT is idempotent).
	call(t, srv, "admin", "PUT", path, `{"residency": {"countries": ["fr", "DE"], "regions": ["eu-west"]}}`, 200)
	for _, body := range []string{`{}`, `{"residency": {"countries": ["Germany"]}}`, `{"residency": {"countries": "DE"}}`,
		`{"residency": {"regions": [""]}}`, `{"residency": {"countries": ["DE"], "colour": 1}}`} {
		f := call(t, srv, "admin", "PUT", path, body, 400)
		if _, ok := f["badRequest"]; !ok {
			t.Errorf("PUT %s: body %v is not Nova's fault shape", body, f)
		}
	}
	v = call(t, srv, "admin", "GET", path, "", 200)
	if c := v["residency"].(map[string]any)["countries"].([]any); len(c) != 2 {
		t.Errorf("a refused PUT changed the residency: %v", c)
	}
	// No cloud of the harness has a country: explain names the filter for
	// every host that is up.
	v = call(t, srv, "admin", "POST", "/admin/v1/scheduler/explain", `{"explain": {"flavor_id": "1", "project_id": "p1"}}`, 200)
	hosts := v["explanation"].(map[string]any)["hosts"].([]any)
	if len(hosts) == 0 {
		t.Fatal("explain shows no host")
	}
	for _, h := range hosts {
		h := h.(map[string]any)
		if h["host"] == "west-h1" {
			continue // down: the ComputeFilter drops it first
		}
		if h["rejected_by"] != "ResidencyFilter" || h["reason"] == "" || h["reason"] == nil {
			t.Errorf("explain verdict %v, want ResidencyFilter with a reason", h)
		}
	}
	v = call(t, srv, "admin", "PUT", path, `{"residency": {"countries": [], "regions": []}}`, 200)
	if c := v["residency"].(map[string]any)["countries"].([]any); len(c) != 0 {
		t.Errorf("lifting left %v", c)
	}
}
