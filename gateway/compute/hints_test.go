package compute

import (
	"slices"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// TestSchedulerHints: same_host/different_host (a uuid or a list) and
// Canopy's cloud hint reach the broker's request; bad ones are 400s that
// name the hint.
func TestSchedulerHints(t *testing.T) {
	const a, b = "3f1c2b4e-8a9d-4c1e-9f2a-0b1c2d3e4f50", "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
	body := func(hints string) []byte {
		return []byte(`{"server": {"name": "s", "imageRef": "` + a + `", "flavorRef": "1", "networks": "none"}, "os:scheduler_hints": ` + hints + `}`)
	}
	v := wire.Version{Major: 2, Minor: 37}
	pc, err := parseCreate(body(`{"same_host": "`+a+`", "different_host": ["`+a+`", "`+b+`"], "cloud": "aws-eu"}`), v)
	if err != nil {
		t.Fatal(err)
	}
	h := pc.req.SchedulerHints
	if !slices.Equal(h.SameHost, []string{a}) || !slices.Equal(h.DifferentHost, []string{a, b}) || h.Cloud != "aws-eu" {
		t.Fatalf("hints = %+v", h)
	}
	for _, bad := range []struct{ hints, field string }{
		{`{"same_host": "nope"}`, "same_host"},
		{`{"different_host": ["` + a + `", 7]}`, "different_host"},
		{`{"cloud": ""}`, "cloud"},
		{`{"cloud": 3}`, "cloud"},
	} {
		_, err := parseCreate(body(bad.hints), v)
		if err == nil || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("hints %s: err = %v, want a 400 naming %s", bad.hints, err, bad.field)
		}
	}
}
