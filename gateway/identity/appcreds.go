package identity

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

type appCredBody struct {
	Name         *string `json:"name"`
	Description  *string `json:"description"`
	Secret       *string `json:"secret"`
	ExpiresAt    *string `json:"expires_at"`
	Unrestricted *bool   `json:"unrestricted"`
	Roles        []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"roles"`
	AccessRules []any `json:"access_rules"`
}

func (s *Service) appCredView(ac *registry.AppCredential, all []*registry.Role) map[string]any {
	roles := []map[string]any{}
	for _, id := range ac.RoleIDs {
		for _, r := range all {
			if r.ID == id {
				roles = append(roles, map[string]any{"id": r.ID, "name": r.Name, "domain_id": nil})
			}
		}
	}
	var exp any
	if ac.ExpiresAt != nil {
		exp = ac.ExpiresAt.UTC().Format(appCredTimeFormat)
	}
	return map[string]any{
		"id": ac.ID, "name": ac.Name, "description": nilIfEmpty(ac.Description), "user_id": ac.UserID,
		"project_id": ac.ProjectID, "roles": roles, "expires_at": exp, "unrestricted": ac.Unrestricted,
		"system": nil, "access_rules": []any{},
		"links": map[string]string{"self": s.selfURL("/users/" + ac.UserID + "/application_credentials/" + ac.ID)},
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// parseExpiry reads an ISO 8601 time; without a zone it is UTC (Keystone).
func parseExpiry(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Microsecond), nil
		}
	}
	return time.Time{}, wire.BadRequest("Invalid input for field 'expires_at': %q is not an ISO 8601 time.", s)
}

// createAppCred is POST /v3/users/{user_id}/application_credentials: only
// the user, with a project-scoped token; roles default to the token's.
func (s *Service) createAppCred(w http.ResponseWriter, r *http.Request) error {
	ctx, uid := r.Context(), r.PathValue("user_id")
	caller := wire.PrincipalFrom(ctx)
	if caller.UserID != uid {
		return forbidden("identity:create_application_credential")
	}
	if v, err := s.validate(caller.Token); err == nil && v.p.AppCredID != "" {
		return wire.Forbidden("Using method 'application_credential' is not allowed for managing additional application credentials.")
	}
	if caller.ProjectID == "" {
		return wire.Forbidden("You are not authorized to perform the requested action: an application credential needs a project-scoped token.")
	}
	var b appCredBody
	if err := decodeEntity(r, "application_credential", &b); err != nil {
		return err
	}
	if b.Name == nil {
		return missing("name", "application_credential")
	}
	if err := checkName("name", *b.Name); err != nil {
		return err
	}
	if len(b.AccessRules) > 0 {
		return wire.NotImplemented("Application credential access rules are not supported by Canopy's identity service.")
	}
	all, err := s.allRoles(ctx)
	if err != nil {
		return err
	}
	ac := &registry.AppCredential{ID: newID(), Name: *b.Name, UserID: uid, ProjectID: caller.ProjectID, Created: s.now()}
	if b.Description != nil {
		ac.Description = *b.Description
	}
	if b.Unrestricted != nil {
		ac.Unrestricted = *b.Unrestricted
	}
	if b.ExpiresAt != nil {
		t, err := parseExpiry(*b.ExpiresAt)
		if err != nil {
			return err
		}
		ac.ExpiresAt = &t
	}
	// Roles: those asked for, each of which the token must hold; else all
	// of the token's roles.
	held := func(r *registry.Role) bool { return slices.Contains(caller.Roles, r.Name) }
	for _, want := range b.Roles {
		i := slices.IndexFunc(all, func(r *registry.Role) bool {
			return (want.ID != "" && r.ID == want.ID) || (want.ID == "" && want.Name != "" && r.Name == want.Name)
		})
		if i < 0 || !held(all[i]) {
			return wire.Forbidden("You are not authorized to perform the requested action: the role %s%s is not held on the project.", want.ID, want.Name)
		}
		if !slices.Contains(ac.RoleIDs, all[i].ID) {
			ac.RoleIDs = append(ac.RoleIDs, all[i].ID)
		}
	}
	if len(b.Roles) == 0 {
		for _, r := range all {
			if held(r) {
				ac.RoleIDs = append(ac.RoleIDs, r.ID)
			}
		}
	}
	if len(ac.RoleIDs) == 0 {
		return wire.Forbidden("You are not authorized to perform the requested action: the token carries no role to delegate.")
	}
	secret := base64.RawURLEncoding.EncodeToString(randomBytes(64))
	if b.Secret != nil && *b.Secret != "" {
		secret = *b.Secret
	}
	if ac.SecretHash, err = s.hashSecret(secret); err != nil {
		return err
	}
	if err := s.appCreds.Create(ctx, registry.Global, ac.ID, ac.Created, ac); err != nil {
		return conflict(err, "application_credential", ac.Name)
	}
	v := s.appCredView(ac, all)
	v["secret"] = secret
	wire.WriteJSON(w, http.StatusCreated, map[string]any{"application_credential": v})
	return nil
}

// userAppCreds lists a user's application credentials.
func (s *Service) userAppCreds(ctx context.Context, userID string) ([]*registry.AppCredential, error) {
	all, err := s.appCreds.List(ctx, registry.Global, registry.Page{})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(a *registry.AppCredential) bool { return a.UserID != userID }), nil
}

// listAppCreds is GET /v3/users/{user_id}/application_credentials[?name=].
func (s *Service) listAppCreds(w http.ResponseWriter, r *http.Request) error {
	uid := r.PathValue("user_id")
	if _, err := requireSelfOrAdmin(r, uid, "identity:list_application_credentials"); err != nil {
		return err
	}
	acs, err := s.userAppCreds(r.Context(), uid)
	if err != nil {
		return err
	}
	all, err := s.allRoles(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	out := []map[string]any{}
	for _, ac := range acs {
		if q.Has("name") && ac.Name != q.Get("name") {
			continue
		}
		out = append(out, s.appCredView(ac, all))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"application_credentials": out, "links": s.listLinks(r)})
	return nil
}

func (s *Service) ownAppCred(r *http.Request, rule string) (*registry.AppCredential, error) {
	uid, id := r.PathValue("user_id"), r.PathValue("app_cred_id")
	if _, err := requireSelfOrAdmin(r, uid, rule); err != nil {
		return nil, err
	}
	ac, err := s.appCreds.Get(r.Context(), registry.Global, id)
	if err != nil || ac.UserID != uid {
		return nil, notFound(registry.ErrNotFound, "application credential", id)
	}
	return ac, nil
}

// showAppCred is GET /v3/users/{user_id}/application_credentials/{id}; the
// secret is never shown again.
func (s *Service) showAppCred(w http.ResponseWriter, r *http.Request) error {
	ac, err := s.ownAppCred(r, "identity:get_application_credential")
	if err != nil {
		return err
	}
	all, err := s.allRoles(r.Context())
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"application_credential": s.appCredView(ac, all)})
	return nil
}

// deleteAppCred is DELETE /v3/users/{user_id}/application_credentials/{id}:
// tokens issued with it are revoked.
func (s *Service) deleteAppCred(w http.ResponseWriter, r *http.Request) error {
	ac, err := s.ownAppCred(r, "identity:delete_application_credential")
	if err != nil {
		return err
	}
	if v, err := s.validate(wire.PrincipalFrom(r.Context()).Token); err == nil && v.p.AppCredID != "" {
		return wire.Forbidden("Using method 'application_credential' is not allowed for managing additional application credentials.")
	}
	if err := s.revoke(r.Context(), revokeAppCred, ac.ID); err != nil {
		return err
	}
	if err := s.appCreds.Delete(r.Context(), registry.Global, ac.ID); err != nil {
		return notFound(err, "application credential", ac.ID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
