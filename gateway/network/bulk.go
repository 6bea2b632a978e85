package network

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// Neutron's bulk create: POST /v2.0/<collection> with {"<collection>":
// [...]} makes every item or none. Items are created one by one with the
// single-create code; when one fails, the ones made before it are undone
// in reverse order and the failure is the answer.

// readBodies decodes a create body, single ({"network": {...}}) or bulk
// ({"networks": [{...}, ...]}, each item bare or wrapped as {"network":
// {...}}), and validates every item's attribute names.
func readBodies(r *http.Request, resource string, allowed []string) ([]attrs, bool, error) {
	var outer map[string]json.RawMessage
	if err := wire.DecodeJSON(r, &outer, false); err != nil {
		return nil, false, badRequest("%s", wire.FromError(err).Message)
	}
	collection := resource + "s"
	raw, bulk := outer[collection]
	if !bulk {
		one, ok := outer[resource]
		if !ok {
			return nil, false, badRequest("Unable to find '%s' in request body", resource)
		}
		a, err := parseAttrs(one, resource, allowed)
		return []attrs{a}, false, err
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, true, badRequest("Invalid input for %s. Reason: the body is not a list.", collection)
	}
	if len(list) == 0 {
		return nil, true, badRequest("Resources required")
	}
	items := make([]attrs, 0, len(list))
	for _, it := range list {
		var wrapped map[string]json.RawMessage
		if json.Unmarshal(it, &wrapped) == nil && len(wrapped) == 1 && wrapped[resource] != nil {
			it = wrapped[resource]
		}
		a, err := parseAttrs(it, resource, allowed)
		if err != nil {
			return nil, true, err
		}
		items = append(items, a)
	}
	return items, true, nil
}

// createFunc creates one item and returns its rendering and how to undo it.
type createFunc func(ctx context.Context, a attrs) (map[string]any, func(), error)

// createEach runs create over items, all or nothing, and writes 201 with
// {"<resource>": {...}} or, for a bulk request, {"<resource>s": [...]}.
func (s *Service) createEach(w http.ResponseWriter, r *http.Request, resource string, bulk bool, items []attrs, create createFunc) error {
	ctx := r.Context()
	out := make([]map[string]any, 0, len(items))
	var undo []func()
	for _, a := range items {
		body, u, err := create(ctx, a)
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
			return err
		}
		out = append(out, body)
		undo = append(undo, u)
	}
	if !bulk {
		wire.WriteJSON(w, http.StatusCreated, map[string]any{resource: out[0]})
		return nil
	}
	wire.WriteJSON(w, http.StatusCreated, map[string]any{resource + "s": out})
	return nil
}
