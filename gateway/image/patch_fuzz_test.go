package image

import (
	"encoding/json"
	"testing"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// FuzzDecodePatch: no input makes the decoder or applyPatch panic, and every
// accepted document yields operations a patch can be applied with.
func FuzzDecodePatch(f *testing.F) {
	for _, seed := range []string{
		`[{"op": "replace", "path": "/name", "value": "x"}]`,
		`[{"op": "add", "path": "/hw~1disk~0bus", "value": "scsi"}, {"op": "remove", "path": "/foo"}]`,
		`[{"replace": "/tags", "value": ["a", "b"]}]`,
		`[{"op": "add", "path": "/a/b", "value": 1}]`,
		`[{"op": "move", "path": "/a"}]`, `{}`, `[`, `[null]`, `[{"op": 1}]`,
	} {
		f.Add(patchV21, []byte(seed))
		f.Add(patchV20, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, mt string, body []byte) {
		ops, err := decodePatch(mt, body)
		if err != nil {
			return
		}
		for _, op := range ops {
			if op.Op != "add" && op.Op != "replace" && op.Op != "remove" {
				t.Fatalf("accepted op %q", op.Op)
			}
			if (op.Op == "remove") != (op.Value == nil) {
				t.Fatalf("op %q with value %s", op.Op, op.Value)
			}
			if op.Value != nil && !json.Valid(op.Value) {
				t.Fatalf("invalid JSON value %q", op.Value)
			}
		}
		img := &registry.Image{ID: "x", Owner: "p", Status: "queued", Visibility: "private", Properties: map[string]string{}}
		_ = applyPatch(&wire.Principal{ProjectID: "p", Roles: []string{"member"}}, img, ops)
		if img.Visibility == "public" {
			t.Fatal("a member made an image public")
		}
	})
}

func TestDecodePatch(t *testing.T) {
	cases := []struct {
		name, mt, body string
		want           string // JSON of the ops, or "error"
	}{
		{"v2.1 replace", patchV21, `[{"op": "replace", "path": "/name", "value": "n"}]`, `[{"Op":"replace","Attr":"name","Value":"n"}]`},
		{"v2.0 add", patchV20, `[{"add": "/tags", "value": ["t"]}]`, `[{"Op":"add","Attr":"tags","Value":["t"]}]`},
		{"escapes", patchV21, `[{"op": "remove", "path": "/a~1b~0c"}]`, `[{"Op":"remove","Attr":"a/b~c","Value":null}]`},
		{"nested path", patchV21, `[{"op": "add", "path": "/a/b", "value": "1"}]`, "error"},
		{"bad escape", patchV21, `[{"op": "add", "path": "/a~2", "value": "1"}]`, "error"},
		{"unknown op", patchV21, `[{"op": "move", "path": "/a"}]`, "error"},
		{"value missing", patchV21, `[{"op": "add", "path": "/a"}]`, "error"},
		{"two ops in v2.0", patchV20, `[{"add": "/a", "remove": "/b", "value": "1"}]`, "error"},
		{"not a list", patchV21, `{"op": "add"}`, "error"},
		{"wrong media type", "application/json", `[]`, "error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := decodePatch(tc.mt, []byte(tc.body))
			if tc.want == "error" {
				if err == nil {
					t.Fatalf("accepted: %+v", ops)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := json.Marshal(ops); string(got) != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}
