package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// The two JSON-patch media types Glance accepts on PATCH /v2/images/{id}.
const (
	patchV21 = "application/openstack-images-v2.1-json-patch"
	patchV20 = "application/openstack-images-v2.0-json-patch"
)

// patchOp is one decoded operation: op is add, replace or remove; attr is
// the top-level attribute the path names.
type patchOp struct {
	Op    string
	Attr  string
	Value json.RawMessage // nil for remove
}

var errNotPatch = errors.New("not a patch")

// decodePatch parses a Glance JSON patch document of mediaType. Only
// single-level paths are valid ("/name", "/tags", "/hw_disk_bus"), with
// JSON-pointer escapes (~0, ~1).
func decodePatch(mediaType string, body []byte) ([]patchOp, error) {
	if mediaType != patchV21 && mediaType != patchV20 {
		return nil, errNotPatch
	}
	var raw []map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return nil, wire.BadRequest("Malformed JSON in request body: a list of patch operations is required.")
	}
	if dec.More() {
		return nil, wire.BadRequest("Malformed JSON in request body: more than one document.")
	}
	ops := make([]patchOp, 0, len(raw))
	for _, m := range raw {
		var op, path string
		if mediaType == patchV21 {
			if err := json.Unmarshal(m["op"], &op); err != nil {
				return nil, wire.BadRequest("Unable to find '%s' in JSON Schema change", "op")
			}
			if err := json.Unmarshal(m["path"], &path); err != nil {
				return nil, wire.BadRequest("Unable to find '%s' in JSON Schema change", "path")
			}
		} else {
			for _, candidate := range []string{"add", "replace", "remove"} {
				if v, ok := m[candidate]; ok {
					if op != "" {
						return nil, wire.BadRequest("Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".")
					}
					op = candidate
					if err := json.Unmarshal(v, &path); err != nil {
						return nil, wire.BadRequest("Unable to find '%s' in JSON Schema change", candidate)
					}
				}
			}
			if op == "" {
				return nil, wire.BadRequest("Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".")
			}
		}
		if op != "add" && op != "replace" && op != "remove" {
			return nil, wire.BadRequest("Invalid operation: `%s`: it must be one of add, remove, replace.", op)
		}
		attr, err := pointerAttr(path)
		if err != nil {
			return nil, err
		}
		p := patchOp{Op: op, Attr: attr}
		if op != "remove" {
			v, ok := m["value"]
			if !ok {
				return nil, wire.BadRequest("Operation \"%s\" requires a member named \"value\".", op)
			}
			p.Value = v
		}
		ops = append(ops, p)
	}
	return ops, nil
}

// pointerAttr turns "/name" into "name"; deeper or malformed paths are 400.
func pointerAttr(path string) (string, error) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok || rest == "" {
		return "", wire.BadRequest("Json path should start with a '/', end with no '/', no 2 subsequent '/' are allowed.")
	}
	if strings.Contains(rest, "/") {
		return "", wire.BadRequest("Invalid JSON pointer for this resource: '%s'", path)
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] == '~' && (i+1 >= len(rest) || (rest[i+1] != '0' && rest[i+1] != '1')) {
			return "", wire.BadRequest("Pointer `%s` contains '~' not part of a recognized escape sequence.", path)
		}
	}
	return strings.ReplaceAll(strings.ReplaceAll(rest, "~1", "/"), "~0", "~"), nil
}

// baseAttrs cannot be removed; removing other attributes removes a property.
var baseAttrs = []string{"name", "visibility", "protected", "os_hidden", "disk_format", "container_format",
	"min_disk", "min_ram", "tags", "owner"}

// applyPatch applies ops to img as Glance does.
func applyPatch(p *wire.Principal, img *registry.Image, ops []patchOp) error {
	for _, op := range ops {
		isBase := contains(baseAttrs, op.Attr)
		_, hasProp := img.Properties[op.Attr]
		switch op.Op {
		case "remove":
			if contains(readOnly, op.Attr) {
				return wire.Forbidden("Attribute '%s' is read-only.", op.Attr)
			}
			if isReserved(op.Attr) {
				return wire.Forbidden("Attribute '%s' is reserved.", op.Attr)
			}
			if isBase {
				return wire.Forbidden("Properties %s cannot be removed.", op.Attr)
			}
			if !hasProp {
				return wire.Conflict("Property %s does not exist.", op.Attr)
			}
			delete(img.Properties, op.Attr)
		case "replace":
			if !isBase && !hasProp && !contains(readOnly, op.Attr) && !isReserved(op.Attr) {
				return wire.Conflict("Property %s does not exist.", op.Attr)
			}
			if err := setAttr(p, img, op.Attr, op.Value, false); err != nil {
				return err
			}
		case "add":
			if !isBase && hasProp {
				return wire.Conflict("Property %s already present.", op.Attr)
			}
			if err := setAttr(p, img, op.Attr, op.Value, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Service) updateImage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(io.LimitReader(r.Body, wire.MaxBodyBytes+1))
	if err != nil {
		return wire.BadRequest("could not read the request body")
	}
	if len(body) > wire.MaxBodyBytes {
		return wire.Errorf(http.StatusRequestEntityTooLarge, "Request is too large.")
	}
	ops, err := decodePatch(mt, body)
	if errors.Is(err, errNotPatch) {
		return wire.Errorf(http.StatusUnsupportedMediaType, "Unsupported Content-Type")
	}
	if err != nil {
		return err
	}
	img, project, err := s.image(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !canModify(p, img) {
		return wire.Forbidden("You are not authorized to complete modify_image action.")
	}
	updated, err := s.images.Update(ctx, project, img.ID, func(cur *registry.Image) error {
		if cur.Properties == nil {
			cur.Properties = map[string]string{}
		}
		if err := applyPatch(p, cur, ops); err != nil {
			return err
		}
		if err := checkQuotas(cur); err != nil {
			return err
		}
		cur.Updated = s.now()
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return imageNotFound(img.ID)
	}
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, render(updated))
	return nil
}
