package blockstorage

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// DefaultTypeName is the type of a volume created without one, as Cinder's.
const DefaultTypeName = "__DEFAULT__"

// builtinTypes always exist: Cinder's default type and one backend-named
// type, as a devstack deployment has them.
var builtinTypes = []VolumeType{
	{ID: "5b0f7b45-5b3b-4f4a-9a5e-1d4c3a2b1c01", Name: DefaultTypeName, Description: strPtr("Default Volume Type"), IsPublic: true, ExtraSpecs: map[string]string{}},
	{ID: "5b0f7b45-5b3b-4f4a-9a5e-1d4c3a2b1c02", Name: "lvmdriver-1", IsPublic: true, ExtraSpecs: map[string]string{"volume_backend_name": "lvmdriver-1"}},
}

func strPtr(s string) *string { return &s }

// allTypes lists the built-in types and the ones admins made.
func (s *Service) allTypes(ctx context.Context) ([]VolumeType, error) {
	made, err := s.types.List(ctx, registry.Global, registry.Page{})
	if err != nil {
		return nil, err
	}
	out := append([]VolumeType(nil), builtinTypes...)
	for _, t := range made {
		out = append(out, *t)
	}
	return out, nil
}

// findType resolves a type by id or name; not found is Cinder's 404.
func (s *Service) findType(ctx context.Context, ref string) (*VolumeType, error) {
	all, err := s.allTypes(ctx)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].ID == ref || all[i].Name == ref {
			return &all[i], nil
		}
	}
	return nil, wire.NotFound("Volume type %s could not be found.", ref)
}

func typeView(t *VolumeType, admin bool) map[string]any {
	specs := t.ExtraSpecs
	if specs == nil || !admin {
		specs = map[string]string{} // extra specs are admin-only in Cinder's default policy
	}
	return map[string]any{"id": t.ID, "name": t.Name, "description": t.Description, "is_public": t.IsPublic,
		"os-volume-type-access:is_public": t.IsPublic, "extra_specs": specs}
}

func (s *Service) listTypes(w http.ResponseWriter, r *http.Request) error {
	all, err := s.allTypes(r.Context())
	if err != nil {
		return err
	}
	admin := wire.PrincipalFrom(r.Context()).IsAdmin()
	out := make([]any, 0, len(all))
	for i := range all {
		out = append(out, typeView(&all[i], admin))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"volume_types": out})
	return nil
}

func (s *Service) showType(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("id")
	if ref == "default" {
		ref = DefaultTypeName
	}
	t, err := s.findType(r.Context(), ref)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"volume_type": typeView(t, wire.PrincipalFrom(r.Context()).IsAdmin())})
	return nil
}

func adminOnly(r *http.Request, action string) error {
	if !wire.PrincipalFrom(r.Context()).IsAdmin() {
		return wire.Forbidden("Policy doesn't allow %s to be performed.", action)
	}
	return nil
}

// createType makes a volume type (admin). A name already taken is 409.
func (s *Service) createType(w http.ResponseWriter, r *http.Request) error {
	if err := adminOnly(r, "volume_extension:types_manage"); err != nil {
		return err
	}
	var req struct {
		VolumeType *struct {
			Name        *string           `json:"name"`
			Description *string           `json:"description"`
			IsPublic    *bool             `json:"os-volume-type-access:is_public"`
			ExtraSpecs  map[string]string `json:"extra_specs"`
		} `json:"volume_type"`
	}
	if err := wire.DecodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.VolumeType == nil {
		return wire.BadRequest("Missing required element 'volume_type' in request body.")
	}
	vt := req.VolumeType
	if vt.Name == nil || strings.TrimSpace(*vt.Name) == "" || len(*vt.Name) > 255 {
		return wire.BadRequest("Invalid input for field/attribute name. The volume type name must be 1 to 255 characters.")
	}
	t := &VolumeType{ID: newID(), Name: *vt.Name, Description: vt.Description, IsPublic: vt.IsPublic == nil || *vt.IsPublic, ExtraSpecs: vt.ExtraSpecs}
	if t.ExtraSpecs == nil {
		t.ExtraSpecs = map[string]string{}
	}
	if _, err := s.findType(r.Context(), t.Name); err == nil {
		return wire.Conflict("Volume Type %s already exists.", t.Name)
	}
	if err := s.types.Create(r.Context(), registry.Global, t.ID, s.opts.Now(), t); err != nil {
		if errors.Is(err, registry.ErrNameTaken) {
			return wire.Conflict("Volume Type %s already exists.", t.Name)
		}
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"volume_type": typeView(t, true)})
	return nil
}

func (s *Service) deleteType(w http.ResponseWriter, r *http.Request) error {
	if err := adminOnly(r, "volume_extension:types_manage"); err != nil {
		return err
	}
	id := r.PathValue("id")
	for _, b := range builtinTypes {
		if b.ID == id {
			return wire.BadRequest("Target volume type is still in use. The default volume type cannot be deleted.")
		}
	}
	if err := s.types.Delete(r.Context(), registry.Global, id); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return wire.NotFound("Volume type %s could not be found.", id)
		}
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) showExtraSpecs(w http.ResponseWriter, r *http.Request) error {
	if err := adminOnly(r, "volume_extension:types_extra_specs:index"); err != nil {
		return err
	}
	t, err := s.findType(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"extra_specs": t.ExtraSpecs})
	return nil
}

// setExtraSpecs merges extra specs into an admin-made type.
func (s *Service) setExtraSpecs(w http.ResponseWriter, r *http.Request) error {
	if err := adminOnly(r, "volume_extension:types_extra_specs:create"); err != nil {
		return err
	}
	var req struct {
		ExtraSpecs map[string]string `json:"extra_specs"`
	}
	if err := wire.DecodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.ExtraSpecs == nil {
		return wire.BadRequest("Missing required element 'extra_specs' in request body.")
	}
	id := r.PathValue("id")
	t, err := s.types.Update(r.Context(), registry.Global, id, func(t *VolumeType) error {
		if t.ExtraSpecs == nil {
			t.ExtraSpecs = map[string]string{}
		}
		for k, v := range req.ExtraSpecs {
			t.ExtraSpecs[k] = v
		}
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		if _, ferr := s.findType(r.Context(), id); ferr == nil {
			return wire.BadRequest("The built-in volume type %s cannot be changed.", id)
		}
		return wire.NotFound("Volume type %s could not be found.", id)
	}
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"extra_specs": t.ExtraSpecs})
	return nil
}

// listZones is Cinder's os-availability-zone.
func (s *Service) listZones(w http.ResponseWriter, r *http.Request) error {
	names := make([]string, 0, len(s.Zones()))
	for z := range s.Zones() {
		names = append(names, z)
	}
	sort.Strings(names)
	out := make([]any, 0, len(names))
	for _, z := range names {
		out = append(out, map[string]any{"zoneName": z, "zoneState": map[string]bool{"available": true}})
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"availabilityZoneInfo": out})
	return nil
}
