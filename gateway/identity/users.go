package identity

import (
	"context"
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

type userBody struct {
	Name             *string `json:"name"`
	DomainID         *string `json:"domain_id"`
	Password         *string `json:"password"`
	Enabled          *bool   `json:"enabled"`
	DefaultProjectID *string `json:"default_project_id"`
	Description      *string `json:"description"`
	Email            *string `json:"email"`
}

// listUsers is GET /v3/users (admin), filtered by name, domain_id, enabled.
func (s *Service) listUsers(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:list_users"); err != nil {
		return err
	}
	enabled, err := boolQuery(r, "enabled")
	if err != nil {
		return err
	}
	all, err := s.users.List(r.Context(), registry.Global, registry.Page{})
	if err != nil {
		return err
	}
	q := r.URL.Query()
	out := []map[string]any{}
	for _, u := range all {
		if (q.Has("name") && u.Name != q.Get("name")) || (q.Has("domain_id") && u.DomainID != q.Get("domain_id")) ||
			(enabled != nil && u.Enabled != *enabled) {
			continue
		}
		out = append(out, s.userView(u))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"users": out, "links": s.listLinks(r)})
	return nil
}

// createUser is POST /v3/users (admin).
func (s *Service) createUser(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:create_user"); err != nil {
		return err
	}
	var b userBody
	if err := decodeEntity(r, "user", &b); err != nil {
		return err
	}
	if b.Name == nil {
		return missing("name", "user")
	}
	if err := checkName("name", *b.Name); err != nil {
		return err
	}
	u := &registry.User{ID: newID(), Name: *b.Name, DomainID: DefaultDomainID, Enabled: true, Created: s.now()}
	if err := s.applyUserBody(r.Context(), u, &b); err != nil {
		return err
	}
	if err := s.users.Create(r.Context(), registry.Global, u.ID, u.Created, u); err != nil {
		return conflict(err, "user", u.Name)
	}
	wire.WriteJSON(w, http.StatusCreated, map[string]any{"user": s.userView(u)})
	return nil
}

// applyUserBody validates and copies the optional fields of a user body.
func (s *Service) applyUserBody(ctx context.Context, u *registry.User, b *userBody) error {
	if b.DomainID != nil {
		if _, err := s.domains.Get(ctx, registry.Global, *b.DomainID); err != nil {
			return notFound(err, "domain", *b.DomainID)
		}
		u.DomainID = *b.DomainID
	}
	if b.Enabled != nil {
		u.Enabled = *b.Enabled
	}
	if b.DefaultProjectID != nil {
		if *b.DefaultProjectID != "" {
			if _, err := s.projects.Get(ctx, registry.Global, *b.DefaultProjectID); err != nil {
				return notFound(err, "project", *b.DefaultProjectID)
			}
		}
		u.DefaultProjectID = *b.DefaultProjectID
	}
	if b.Description != nil {
		u.Description = *b.Description
	}
	if b.Email != nil {
		u.Email = *b.Email
	}
	if b.Password != nil {
		h, err := s.hashSecret(*b.Password)
		if err != nil {
			return err
		}
		u.PasswordHash = h
	}
	return nil
}

// showUser is GET /v3/users/{user_id} (self or admin).
func (s *Service) showUser(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("user_id")
	if _, err := requireSelfOrAdmin(r, id, "identity:get_user"); err != nil {
		return err
	}
	u, err := s.users.Get(r.Context(), registry.Global, id)
	if err != nil {
		return notFound(err, "user", id)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"user": s.userView(u)})
	return nil
}

// updateUser is PATCH /v3/users/{user_id} (admin). Disabling a user or
// setting a password revokes the user's tokens.
func (s *Service) updateUser(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:update_user"); err != nil {
		return err
	}
	id := r.PathValue("user_id")
	var b userBody
	if err := decodeEntity(r, "user", &b); err != nil {
		return err
	}
	if b.Name != nil {
		if err := checkName("name", *b.Name); err != nil {
			return err
		}
	}
	cur, err := s.users.Get(r.Context(), registry.Global, id)
	if err != nil {
		return notFound(err, "user", id)
	}
	// Validate and hash outside the compare-and-set loop (bcrypt is slow).
	next := *cur
	if err := s.applyUserBody(r.Context(), &next, &b); err != nil {
		return err
	}
	if b.Name != nil {
		next.Name = *b.Name
	}
	u, err := s.users.Update(r.Context(), registry.Global, id, func(u *registry.User) error {
		hist := u.PasswordHistory
		if b.Password != nil && u.PasswordHash != "" {
			hist = append(hist, u.PasswordHash)
		}
		*u = next
		u.PasswordHistory = trimHistory(hist, s.opts.UniqueLastPasswordCount)
		return nil
	})
	if err != nil {
		return conflict(notFound(err, "user", id), "user", next.Name)
	}
	if b.Password != nil || (b.Enabled != nil && !*b.Enabled) {
		if err := s.revoke(r.Context(), revokeUser, id); err != nil {
			return err
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"user": s.userView(u)})
	return nil
}

// trimHistory keeps the hashes of the last keep-1 earlier passwords (the
// current one is the keep-th).
func trimHistory(h []string, keep int) []string {
	if keep-1 <= 0 {
		return nil
	}
	if len(h) > keep-1 {
		h = h[len(h)-(keep-1):]
	}
	return h
}

// deleteUser is DELETE /v3/users/{user_id} (admin): the user's tokens are
// revoked and their assignments and application credentials removed.
func (s *Service) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:delete_user"); err != nil {
		return err
	}
	ctx, id := r.Context(), r.PathValue("user_id")
	if _, err := s.users.Get(ctx, registry.Global, id); err != nil {
		return notFound(err, "user", id)
	}
	// Revoke first: a crash halfway leaves a user without working tokens,
	// never tokens of a half-deleted user.
	if err := s.revoke(ctx, revokeUser, id); err != nil {
		return err
	}
	as, err := s.userAssignments(ctx, id)
	if err != nil {
		return err
	}
	for _, a := range as {
		if err := s.assigns.Delete(ctx, assignmentOwner(a.ProjectID), a.ID); err != nil && !isNotFound(err) {
			return err
		}
	}
	acs, err := s.userAppCreds(ctx, id)
	if err != nil {
		return err
	}
	for _, ac := range acs {
		if err := s.appCreds.Delete(ctx, registry.Global, ac.ID); err != nil && !isNotFound(err) {
			return err
		}
	}
	if err := s.users.Delete(ctx, registry.Global, id); err != nil {
		return notFound(err, "user", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// changePassword is POST /v3/users/{user_id}/password: self-service, proven
// by the original password (no token needed, as in Keystone). Every token of
// the user is revoked.
func (s *Service) changePassword(w http.ResponseWriter, r *http.Request) error {
	ctx, id := r.Context(), r.PathValue("user_id")
	var b struct {
		Password         *string `json:"password"`
		OriginalPassword *string `json:"original_password"`
	}
	if err := decodeEntity(r, "user", &b); err != nil {
		return err
	}
	if b.OriginalPassword == nil {
		return missing("original_password", "user")
	}
	if b.Password == nil {
		return missing("password", "user")
	}
	u, err := s.users.Get(ctx, registry.Global, id)
	hash := ""
	if err == nil {
		hash = u.PasswordHash
	} else if !isNotFound(err) {
		return err
	}
	if !s.checkSecret(hash, *b.OriginalPassword) || !u.Enabled {
		return authFailed(authError("wrong original password"))
	}
	for _, old := range append([]string{u.PasswordHash}, trimHistory(u.PasswordHistory, s.opts.UniqueLastPasswordCount)...) {
		if s.checkSecret(old, *b.Password) {
			return wire.BadRequest("The new password cannot be identical to a previous password. The total number which includes the new password that must be unique is %d.", s.opts.UniqueLastPasswordCount)
		}
	}
	h, err := s.hashSecret(*b.Password)
	if err != nil {
		return err
	}
	_, err = s.users.Update(ctx, registry.Global, id, func(u *registry.User) error {
		if u.PasswordHash != hash {
			return wire.Conflict("The password was changed concurrently; try again.")
		}
		u.PasswordHistory = trimHistory(append(u.PasswordHistory, u.PasswordHash), s.opts.UniqueLastPasswordCount)
		u.PasswordHash = h
		return nil
	})
	if err != nil {
		return notFound(err, "user", id)
	}
	if err := s.revoke(ctx, revokeUser, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listUserProjects is GET /v3/users/{user_id}/projects (self or admin): the
// projects the user holds a role on.
func (s *Service) listUserProjects(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("user_id")
	if _, err := requireSelfOrAdmin(r, id, "identity:list_user_projects"); err != nil {
		return err
	}
	if _, err := s.users.Get(r.Context(), registry.Global, id); err != nil {
		return notFound(err, "user", id)
	}
	projects, err := s.projectsOf(r.Context(), id, false)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, p := range projects {
		out = append(out, s.projectView(p))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"projects": out, "links": s.listLinks(r)})
	return nil
}

// projectsOf lists the projects userID has a role on (enabled only, when asked).
func (s *Service) projectsOf(ctx context.Context, userID string, enabledOnly bool) ([]*registry.IdentityProject, error) {
	as, err := s.userAssignments(ctx, userID)
	if err != nil {
		return nil, err
	}
	var ids []string
	seen := map[string]bool{}
	for _, a := range as {
		if a.ProjectID != "" && !seen[a.ProjectID] {
			seen[a.ProjectID] = true
			ids = append(ids, a.ProjectID)
		}
	}
	ps, err := s.projects.GetMany(ctx, registry.Global, ids)
	if err != nil {
		return nil, err
	}
	out := ps[:0]
	for _, p := range ps {
		if !enabledOnly || p.Enabled {
			out = append(out, p)
		}
	}
	return out, nil
}
