package identity

import (
	"context"
	"errors"
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// grantTarget reads {project_id|domain_id}, {user_id} and {role_id} from the
// path and checks that all three exist.
type grantTarget struct {
	kind, targetID, userID, roleID string
}

func (s *Service) resolveGrant(ctx context.Context, r *http.Request) (grantTarget, error) {
	g := grantTarget{kind: "project", targetID: r.PathValue("project_id"), userID: r.PathValue("user_id"), roleID: r.PathValue("role_id")}
	if g.targetID == "" {
		g.kind, g.targetID = "domain", r.PathValue("domain_id")
	}
	var err error
	if g.kind == "project" {
		_, err = s.projects.Get(ctx, registry.Global, g.targetID)
	} else {
		_, err = s.domains.Get(ctx, registry.Global, g.targetID)
	}
	if err != nil {
		return g, notFound(err, g.kind, g.targetID)
	}
	if _, err := s.users.Get(ctx, registry.Global, g.userID); err != nil {
		return g, notFound(err, "user", g.userID)
	}
	if g.roleID != "" {
		if _, err := s.roles.Get(ctx, registry.Global, g.roleID); err != nil {
			return g, notFound(err, "role", g.roleID)
		}
	}
	return g, nil
}

func (g grantTarget) owner() string {
	if g.kind == "project" {
		return g.targetID
	}
	return registry.Global
}

func (g grantTarget) id() string { return assignmentID(g.userID, g.kind, g.targetID, g.roleID) }

// grantRole is PUT .../users/{user_id}/roles/{role_id} (admin); granting an
// existing assignment again succeeds and changes nothing.
func (s *Service) grantRole(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:create_grant"); err != nil {
		return err
	}
	g, err := s.resolveGrant(r.Context(), r)
	if err != nil {
		return err
	}
	a := &registry.RoleAssignment{ID: g.id(), UserID: g.userID, RoleID: g.roleID, Created: s.now()}
	if g.kind == "project" {
		a.ProjectID = g.targetID
	} else {
		a.DomainID = g.targetID
	}
	if err := s.assigns.Create(r.Context(), g.owner(), a.ID, a.Created, a); err != nil && !errors.Is(err, registry.ErrExists) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkGrant is HEAD and GET .../users/{user_id}/roles/{role_id}: 204 when
// the assignment exists.
func (s *Service) checkGrant(w http.ResponseWriter, r *http.Request) error {
	g, err := s.resolveGrant(r.Context(), r)
	if err != nil {
		return err
	}
	if c := wire.PrincipalFrom(r.Context()); !c.IsAdmin() && c.UserID != g.userID {
		return forbidden("identity:check_grant")
	}
	if _, err := s.assigns.Get(r.Context(), g.owner(), g.id()); err != nil {
		return notFound(err, "role assignment", g.roleID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeGrant is DELETE .../users/{user_id}/roles/{role_id} (admin): the
// user's tokens are revoked, so the lost role stops working at once.
func (s *Service) revokeGrant(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:revoke_grant"); err != nil {
		return err
	}
	g, err := s.resolveGrant(r.Context(), r)
	if err != nil {
		return err
	}
	if err := s.assigns.Delete(r.Context(), g.owner(), g.id()); err != nil {
		return notFound(err, "role assignment", g.roleID)
	}
	if err := s.revoke(r.Context(), revokeUser, g.userID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listGrants is GET .../users/{user_id}/roles (admin or self).
func (s *Service) listGrants(w http.ResponseWriter, r *http.Request) error {
	g, err := s.resolveGrant(r.Context(), r)
	if err != nil {
		return err
	}
	if c := wire.PrincipalFrom(r.Context()); !c.IsAdmin() && c.UserID != g.userID {
		return forbidden("identity:list_grants")
	}
	all, err := s.allRoles(r.Context())
	if err != nil {
		return err
	}
	pid, did := g.targetID, ""
	if g.kind == "domain" {
		pid, did = "", g.targetID
	}
	roles, err := s.directRoles(r.Context(), g.userID, pid, did, all)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, role := range roles {
		out = append(out, s.roleView(role))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"roles": out, "links": s.listLinks(r)})
	return nil
}

// listRoleAssignments is GET /v3/role_assignments: admin, or a user asking
// about themselves (user.id=<own id>). Filters: user.id, role.id,
// scope.project.id, scope.domain.id; effective adds implied roles;
// include_names adds names.
func (s *Service) listRoleAssignments(w http.ResponseWriter, r *http.Request) error {
	ctx, q := r.Context(), r.URL.Query()
	c := wire.PrincipalFrom(ctx)
	if !c.IsAdmin() && q.Get("user.id") != c.UserID {
		return forbidden("identity:list_role_assignments")
	}
	for _, unsupported := range []string{"group.id", "scope.system", "scope.OS-INHERIT:inherited_to"} {
		if q.Has(unsupported) {
			return wire.NotImplemented("Filtering role assignments by %s is not supported by Canopy's identity service.", unsupported)
		}
	}
	list, err := s.assigns.List(ctx, "*", registry.Page{})
	if err != nil {
		return err
	}
	all, err := s.allRoles(ctx)
	if err != nil {
		return err
	}
	byID := map[string]*registry.Role{}
	for _, role := range all {
		byID[role.ID] = role
	}
	_, effective := q["effective"]
	_, names := q["include_names"]
	if v := q.Get("include_names"); v == "false" || v == "0" {
		names = false
	}
	out := []map[string]any{}
	for _, a := range list {
		if (q.Has("user.id") && a.UserID != q.Get("user.id")) ||
			(q.Has("scope.project.id") && a.ProjectID != q.Get("scope.project.id")) ||
			(q.Has("scope.domain.id") && a.DomainID != q.Get("scope.domain.id")) {
			continue
		}
		roles := []*registry.Role{byID[a.RoleID]}
		if effective {
			roles = effectiveRoles(roles, all)
		}
		for _, role := range roles {
			if role == nil || (q.Has("role.id") && role.ID != q.Get("role.id")) {
				continue
			}
			out = append(out, s.assignmentView(ctx, a, role, names))
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"role_assignments": out, "links": s.listLinks(r)})
	return nil
}

func (s *Service) assignmentView(ctx context.Context, a *registry.RoleAssignment, role *registry.Role, names bool) map[string]any {
	roleRef := map[string]any{"id": role.ID}
	userRef := map[string]any{"id": a.UserID}
	scope := map[string]any{}
	kind, target := "projects", a.ProjectID
	if a.ProjectID == "" {
		kind, target = "domains", a.DomainID
	}
	targetRef := map[string]any{"id": target}
	if names {
		roleRef["name"] = role.Name
		if u, err := s.users.Get(ctx, registry.Global, a.UserID); err == nil {
			userRef["name"] = u.Name
			userRef["domain"] = s.domainRef(ctx, u.DomainID)
		}
		if a.ProjectID != "" {
			if p, err := s.projects.Get(ctx, registry.Global, a.ProjectID); err == nil {
				targetRef["name"] = p.Name
				targetRef["domain"] = s.domainRef(ctx, p.DomainID)
			}
		} else if d, err := s.domains.Get(ctx, registry.Global, a.DomainID); err == nil {
			targetRef["name"] = d.Name
		}
	}
	if a.ProjectID != "" {
		scope["project"] = targetRef
	} else {
		scope["domain"] = targetRef
	}
	return map[string]any{
		"role": roleRef, "user": userRef, "scope": scope,
		"links": map[string]string{"assignment": s.selfURL("/" + kind + "/" + target + "/users/" + a.UserID + "/roles/" + role.ID)},
	}
}

func (s *Service) domainRef(ctx context.Context, id string) map[string]any {
	ref := map[string]any{"id": id}
	if d, err := s.domains.Get(ctx, registry.Global, id); err == nil {
		ref["name"] = d.Name
	}
	return ref
}
