package compute

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// EnsureFlavor creates flavor f unless a flavor with its id exists
// (bootstrap; idempotent).
func (s *Service) EnsureFlavor(ctx context.Context, f registry.Flavor) error {
	if f.Created.IsZero() {
		f.Created = s.opts.Now()
	}
	if f.RxTxFactor == 0 {
		f.RxTxFactor = 1
	}
	err := s.flavors.Create(ctx, registry.Global, f.ID, f.Created, &f)
	if errors.Is(err, registry.ErrExists) {
		return nil
	}
	return err
}

func renderFlavor(base string, f *registry.Flavor, v wire.Version, detail bool) map[string]any {
	m := map[string]any{"id": f.ID, "name": f.Name, "links": selfLinks(base, "flavors", f.ID)}
	if v.AtLeast(2, 55) {
		if f.Description != nil {
			m["description"] = *f.Description
		} else {
			m["description"] = nil
		}
	}
	if !detail {
		return m
	}
	m["ram"], m["vcpus"], m["disk"] = f.RAMMB, f.VCPUs, f.DiskGB
	m["OS-FLV-EXT-DATA:ephemeral"] = f.EphemeralGB
	m["OS-FLV-DISABLED:disabled"] = f.Disabled
	m["os-flavor-access:is_public"] = f.IsPublic
	m["rxtx_factor"] = f.RxTxFactor
	if f.SwapMB == 0 && !v.AtLeast(2, 75) {
		m["swap"] = ""
	} else {
		m["swap"] = f.SwapMB
	}
	if v.AtLeast(2, 61) {
		specs := f.ExtraSpecs
		if specs == nil {
			specs = map[string]string{}
		}
		m["extra_specs"] = specs
	}
	return m
}

// visibleFlavor reads flavor id as the caller may see it.
func (s *Service) visibleFlavor(ctx context.Context, r *http.Request, id string) (*registry.Flavor, error) {
	f, err := s.flavors.Get(ctx, registry.Global, id)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && !f.IsPublic && !isAdmin(r) && !slices.Contains(f.Projects, caller(r).ProjectID)) {
		return nil, wire.NotFound("Flavor %s could not be found.", id)
	}
	return f, err
}

// listFlavors answers GET /flavors and /flavors/detail, sorted by id as
// Nova sorts (flavorid, ascending), with is_public, minRam, minDisk,
// limit and marker.
func (s *Service) listFlavors(detail bool) handler {
	return func(w http.ResponseWriter, r *http.Request, v wire.Version) error {
		q := r.URL.Query()
		admin := isAdmin(r)
		all, err := s.flavors.List(r.Context(), registry.Global, registry.Page{})
		if err != nil {
			return err
		}
		pub := strings.ToLower(q.Get("is_public"))
		minRAM, minDisk := 0, 0
		for param, dst := range map[string]*int{"minRam": &minRAM, "minDisk": &minDisk} {
			if s := q.Get(param); s != "" {
				n, perr := strconv.Atoi(s)
				if perr != nil || n < 0 {
					return wire.BadRequest("Invalid %s filter [%s]", param, s)
				}
				*dst = n
			}
		}
		project := caller(r).ProjectID
		list := all[:0]
		for _, f := range all {
			access := f.IsPublic || slices.Contains(f.Projects, project)
			switch {
			case f.RAMMB < minRAM || f.DiskGB < minDisk:
				continue
			case !admin && !access:
				continue
			case admin && (pub == "" || pub == "true" || pub == "t" || pub == "1" || pub == "yes") && !f.IsPublic:
				continue
			case admin && (pub == "false" || pub == "f" || pub == "0" || pub == "no") && f.IsPublic:
				continue
			}
			list = append(list, f)
		}
		slices.SortFunc(list, func(a, b *registry.Flavor) int { return strings.Compare(a.ID, b.ID) })
		page, werr := wire.ParsePaging(r, s.opts.MaxLimit)
		if werr != nil {
			return werr
		}
		if page.Marker != "" {
			i := slices.IndexFunc(list, func(f *registry.Flavor) bool { return f.ID == page.Marker })
			if i < 0 {
				return wire.BadRequest("marker [%s] not found", page.Marker)
			}
			list = list[i+1:]
		}
		if page.Limit > 0 && len(list) > page.Limit {
			list = list[:page.Limit]
		}
		base := wire.BaseURL(r)
		out := make([]map[string]any, 0, len(list))
		for _, f := range list {
			out = append(out, renderFlavor(base, f, v, detail))
		}
		body := map[string]any{"flavors": out}
		if page.Limit > 0 && len(list) == page.Limit && q.Get("limit") != "" {
			body["flavors_links"] = nextLink(r, base, list[len(list)-1].ID)
		}
		wire.WriteJSON(w, http.StatusOK, body)
		return nil
	}
}

// showFlavor answers GET /flavors/{id}; a name is not an id (404).
func (s *Service) showFlavor(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	f, err := s.visibleFlavor(r.Context(), r, r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"flavor": renderFlavor(wire.BaseURL(r), f, v, true)})
	return nil
}

// createFlavor answers POST /flavors (admin).
func (s *Service) createFlavor(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireAdmin(r, "os_compute_api:os-flavor-manage:create"); err != nil {
		return err
	}
	var body struct {
		Flavor *struct {
			Name        *string          `json:"name"`
			ID          *json.RawMessage `json:"id"`
			RAM         *int             `json:"ram"`
			VCPUs       *int             `json:"vcpus"`
			Disk        *int             `json:"disk"`
			Ephemeral   int              `json:"OS-FLV-EXT-DATA:ephemeral"`
			Swap        int              `json:"swap"`
			RxTx        *float64         `json:"rxtx_factor"`
			IsPublic    *bool            `json:"os-flavor-access:is_public"`
			Description *string          `json:"description"`
		} `json:"flavor"`
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	fb := body.Flavor
	if fb == nil {
		return wire.BadRequest("Invalid input for field/attribute flavor. 'flavor' is a required property")
	}
	for field, p := range map[string]*int{"ram": fb.RAM, "vcpus": fb.VCPUs, "disk": fb.Disk} {
		if p == nil {
			return wire.BadRequest("Invalid input for field/attribute flavor. '%s' is a required property", field)
		}
		if minimum := map[string]int{"ram": 1, "vcpus": 1, "disk": 0}[field]; *p < minimum {
			return invalidField(field, strconv.Itoa(*p), strconv.Itoa(*p)+" is less than the minimum of "+strconv.Itoa(minimum))
		}
	}
	if fb.Ephemeral < 0 || fb.Swap < 0 {
		return wire.BadRequest("Invalid input for field/attribute swap/ephemeral: must be >= 0")
	}
	if fb.Name == nil {
		return wire.BadRequest("Invalid input for field/attribute flavor. 'name' is a required property")
	}
	if err := checkName("name", *fb.Name); err != nil {
		return err
	}
	if fb.Description != nil && !v.AtLeast(2, 55) {
		return wire.BadRequest("Additional properties are not allowed ('description' was unexpected)")
	}
	id := s.opts.NewID()
	if fb.ID != nil && string(*fb.ID) != "null" {
		sid, err := stringOrInt("id", *fb.ID)
		if err != nil {
			return err
		}
		if sid == "" || len(sid) > 255 || strings.ContainsAny(sid, "/ ") {
			return invalidField("id", sid, "'"+sid+"' does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'")
		}
		id = sid
	}
	f := registry.Flavor{ID: id, Name: *fb.Name, Description: fb.Description, VCPUs: *fb.VCPUs, RAMMB: *fb.RAM, DiskGB: *fb.Disk,
		EphemeralGB: fb.Ephemeral, SwapMB: fb.Swap, RxTxFactor: 1, IsPublic: true, Created: s.opts.Now()}
	if fb.RxTx != nil {
		f.RxTxFactor = *fb.RxTx
	}
	if fb.IsPublic != nil {
		f.IsPublic = *fb.IsPublic
	}
	switch err := s.flavors.Create(r.Context(), registry.Global, f.ID, f.Created, &f); {
	case errors.Is(err, registry.ErrExists):
		return wire.Conflict("Flavor with ID %s already exists.", f.ID)
	case errors.Is(err, registry.ErrNameTaken):
		return wire.Conflict("Flavor with name %s already exists.", f.Name)
	case err != nil:
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"flavor": renderFlavor(wire.BaseURL(r), &f, v, true)})
	return nil
}

// deleteFlavor answers DELETE /flavors/{id} (admin): 202.
func (s *Service) deleteFlavor(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireAdmin(r, "os_compute_api:os-flavor-manage:delete"); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.flavors.Delete(r.Context(), registry.Global, id); errors.Is(err, registry.ErrNotFound) {
		return wire.NotFound("Flavor %s could not be found.", id)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) listExtraSpecs(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	f, err := s.visibleFlavor(r.Context(), r, r.PathValue("id"))
	if err != nil {
		return err
	}
	specs := f.ExtraSpecs
	if specs == nil {
		specs = map[string]string{}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"extra_specs": specs})
	return nil
}

func (s *Service) showExtraSpec(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	f, err := s.visibleFlavor(r.Context(), r, r.PathValue("id"))
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	val, ok := f.ExtraSpecs[key]
	if !ok {
		return wire.NotFound("Flavor %s has no extra specs with key %s.", f.ID, key)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]string{key: val})
	return nil
}

// changeSpecs applies fn to a flavor's extra specs (admin).
func (s *Service) changeSpecs(r *http.Request, fn func(map[string]string) error) (*registry.Flavor, error) {
	if err := requireAdmin(r, "os_compute_api:os-flavor-extra-specs:update"); err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	f, err := s.flavors.Update(r.Context(), registry.Global, id, func(f *registry.Flavor) error {
		specs := maps.Clone(f.ExtraSpecs)
		if specs == nil {
			specs = map[string]string{}
		}
		if err := fn(specs); err != nil {
			return err
		}
		f.ExtraSpecs = specs
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return nil, wire.NotFound("Flavor %s could not be found.", id)
	}
	return f, err
}

func decodeSpecs(r *http.Request, field string) (map[string]string, error) {
	var body map[string]map[string]string
	if err := wire.DecodeJSON(r, &body, false); err != nil {
		return nil, err
	}
	specs, ok := body[field]
	if !ok || len(body) != 1 {
		return nil, wire.BadRequest("Invalid input for field/attribute %s. '%s' is a required property", field, field)
	}
	for k, val := range specs {
		if k == "" || len(k) > 255 || len(val) > 255 {
			return nil, invalidField(field, k, "extra spec keys and values must be 1-255 characters")
		}
	}
	return specs, nil
}

func (s *Service) setExtraSpecs(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	specs, err := decodeSpecs(r, "extra_specs")
	if err != nil {
		return err
	}
	if _, err := s.changeSpecs(r, func(cur map[string]string) error { maps.Copy(cur, specs); return nil }); err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"extra_specs": specs})
	return nil
}

func (s *Service) putExtraSpec(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	var body map[string]string
	if err := wire.DecodeJSON(r, &body, false); err != nil {
		return err
	}
	key := r.PathValue("key")
	if _, ok := body[key]; !ok || len(body) != 1 {
		return wire.BadRequest("Request body and URI mismatch")
	}
	if _, err := s.changeSpecs(r, func(cur map[string]string) error { cur[key] = body[key]; return nil }); err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, body)
	return nil
}

func (s *Service) deleteExtraSpec(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	key := r.PathValue("key")
	if _, err := s.changeSpecs(r, func(cur map[string]string) error {
		if _, ok := cur[key]; !ok {
			return wire.NotFound("Flavor %s has no extra specs with key %s.", r.PathValue("id"), key)
		}
		delete(cur, key)
		return nil
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
