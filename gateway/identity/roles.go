package identity

import (
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// listRoles is GET /v3/roles (admin), filtered by name.
func (s *Service) listRoles(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:list_roles"); err != nil {
		return err
	}
	all, err := s.allRoles(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	out := []map[string]any{}
	for _, role := range all {
		if q.Has("name") && role.Name != q.Get("name") {
			continue
		}
		out = append(out, s.roleView(role))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"roles": out, "links": s.listLinks(r)})
	return nil
}

// createRole is POST /v3/roles (admin). Domain-specific roles are not
// supported.
func (s *Service) createRole(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:create_role"); err != nil {
		return err
	}
	var b struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
		DomainID    *string `json:"domain_id"`
	}
	if err := decodeEntity(r, "role", &b); err != nil {
		return err
	}
	if b.Name == nil {
		return missing("name", "role")
	}
	if err := checkName("name", *b.Name); err != nil {
		return err
	}
	if b.DomainID != nil && *b.DomainID != "" {
		return wire.NotImplemented("Domain-specific roles are not supported by Canopy's identity service.")
	}
	role := &registry.Role{ID: newID(), Name: *b.Name, Created: s.now()}
	if b.Description != nil {
		role.Description = *b.Description
	}
	if err := s.roles.Create(r.Context(), registry.Global, role.ID, role.Created, role); err != nil {
		return conflict(err, "role", role.Name)
	}
	wire.WriteJSON(w, http.StatusCreated, map[string]any{"role": s.roleView(role)})
	return nil
}

// showRole is GET /v3/roles/{role_id} (admin).
func (s *Service) showRole(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:get_role"); err != nil {
		return err
	}
	id := r.PathValue("role_id")
	role, err := s.roles.Get(r.Context(), registry.Global, id)
	if err != nil {
		return notFound(err, "role", id)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"role": s.roleView(role)})
	return nil
}

// deleteRole is DELETE /v3/roles/{role_id} (admin): its assignments go and
// the tokens of every user who held it are revoked.
func (s *Service) deleteRole(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:delete_role"); err != nil {
		return err
	}
	ctx, id := r.Context(), r.PathValue("role_id")
	role, err := s.roles.Get(ctx, registry.Global, id)
	if err != nil {
		return notFound(err, "role", id)
	}
	if role.Name == "admin" || role.Name == "member" || role.Name == "reader" {
		return wire.Forbidden("You are not authorized to perform the requested action: the %s role is built in.", role.Name)
	}
	all, err := s.assigns.List(ctx, "*", registry.Page{})
	if err != nil {
		return err
	}
	for _, a := range all {
		if a.RoleID != id {
			continue
		}
		if err := s.revoke(ctx, revokeUser, a.UserID); err != nil {
			return err
		}
		if err := s.assigns.Delete(ctx, assignmentOwner(a.ProjectID), a.ID); err != nil && !isNotFound(err) {
			return err
		}
	}
	if err := s.roles.Delete(ctx, registry.Global, id); err != nil {
		return notFound(err, "role", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
