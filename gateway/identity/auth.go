package identity

import (
	"context"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// authFailed is the one answer to every credential failure: it never says
// whether the user, the password or the scope was wrong.
func authFailed(cause error) *wire.Error {
	return &wire.Error{Status: http.StatusUnauthorized, Message: "The request you have made requires authentication.", Cause: cause}
}

// tokenNotFound is Keystone's answer for a subject token that does not
// validate (garbage, expired, revoked).
func tokenNotFound(cause error) *wire.Error {
	return &wire.Error{Status: http.StatusNotFound, Message: "Could not find token.", Cause: cause}
}

type authError string

func (e authError) Error() string { return string(e) }

// issueToken is POST /v3/auth/tokens.
func (s *Service) issueToken(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, wire.MaxBodyBytes+1))
	if err != nil {
		return wire.BadRequest("could not read the request body")
	}
	if len(body) > wire.MaxBodyBytes {
		return wire.Errorf(http.StatusRequestEntityTooLarge, "Request is too large.")
	}
	in, err := decodeAuthRequest(body)
	if err != nil {
		return err
	}
	p, err := s.authenticate(r.Context(), in)
	if err != nil {
		return err
	}
	tok, err := s.seal(p)
	if err != nil {
		return err
	}
	out, err := s.renderToken(r.Context(), p, !hasNoCatalog(r))
	if err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", tok)
	wire.WriteJSON(w, http.StatusCreated, out)
	return nil
}

func hasNoCatalog(r *http.Request) bool {
	_, ok := r.URL.Query()["nocatalog"]
	return ok
}

// authenticate checks every method of in (all must name the same user),
// resolves the scope and the roles, and returns the new token's payload.
func (s *Service) authenticate(ctx context.Context, in *authInput) (*payload, error) {
	now := s.now()
	p := &payload{IssuedAt: now.Truncate(time.Microsecond), ExpiresAt: now.Add(s.opts.TokenTTL).Truncate(time.Second)}
	p.AuditIDs = []string{newAuditID()}
	var user *registry.User
	var appCred *registry.AppCredential
	setUser := func(u *registry.User) error {
		if user != nil && user.ID != u.ID {
			return authFailed(authError("methods name different users"))
		}
		user = u
		return nil
	}
	if in.Token != "" {
		parent, err := s.validate(in.Token)
		if err != nil {
			return nil, tokenNotFound(err)
		}
		if parent.p.AppCredID != "" {
			return nil, wire.Forbidden("You are not authorized to perform the requested action: rescoping an application credential token.")
		}
		u, err := s.users.Get(ctx, registry.Global, parent.p.UserID)
		if err != nil {
			return nil, authFailed(err)
		}
		if err := setUser(u); err != nil {
			return nil, err
		}
		p.Methods |= methodToken
		// A rescoped token keeps its parent's expiry and audit chain.
		p.ExpiresAt = parent.p.ExpiresAt
		p.AuditIDs = append(p.AuditIDs, parent.p.AuditIDs[len(parent.p.AuditIDs)-1])
		for _, m := range parent.p.methodNames() {
			p.Methods |= methodBit(m)
		}
	}
	if in.Password != nil {
		u, err := s.findUser(ctx, in.Password.User)
		hash := ""
		if err == nil {
			hash = u.PasswordHash
		} else if !isNotFound(err) {
			return nil, err
		}
		if !s.checkSecret(hash, in.Password.Password) {
			return nil, authFailed(authError("wrong user or password"))
		}
		if err := setUser(u); err != nil {
			return nil, err
		}
		p.Methods |= methodPassword
	}
	if in.AppCred != nil {
		ac, u, err := s.checkAppCred(ctx, in, now)
		if err != nil {
			return nil, err
		}
		if err := setUser(u); err != nil {
			return nil, err
		}
		appCred = ac
		p.Methods |= methodAppCred
		p.AppCredID = ac.ID
	}
	if user == nil {
		return nil, authFailed(authError("no method identified a user"))
	}
	if !user.Enabled {
		return nil, authFailed(authError("user is disabled"))
	}
	ud, err := s.domains.Get(ctx, registry.Global, user.DomainID)
	if err != nil || !ud.Enabled {
		return nil, authFailed(authError("user's domain is missing or disabled"))
	}
	p.UserID, p.UserName, p.UserDomainID = user.ID, user.Name, user.DomainID
	if err := s.scopeToken(ctx, in, user, appCred, p); err != nil {
		return nil, err
	}
	return p, nil
}

func methodBit(name string) uint8 {
	switch name {
	case "password":
		return methodPassword
	case "token":
		return methodToken
	case "application_credential":
		return methodAppCred
	}
	return 0
}

// checkAppCred verifies an application credential and its secret.
func (s *Service) checkAppCred(ctx context.Context, in *authInput, now time.Time) (*registry.AppCredential, *registry.User, error) {
	var ac *registry.AppCredential
	var err error
	if in.AppCred.ID != "" {
		var v registry.Versioned[registry.AppCredential]
		if v, err = s.appCreds.Lookup(ctx, in.AppCred.ID); err == nil {
			ac = v.Value
		}
	} else {
		var u *registry.User
		if u, err = s.findUser(ctx, in.AppCred.User); err == nil {
			ac, err = s.appCreds.ByName(ctx, registry.Global, u.ID+"/"+in.AppCred.Name)
		}
	}
	hash := ""
	if err == nil {
		hash = ac.SecretHash
	} else if !isNotFound(err) {
		return nil, nil, err
	}
	if !s.checkSecret(hash, in.AppCred.Secret) {
		return nil, nil, authFailed(authError("wrong application credential or secret"))
	}
	if ac.ExpiresAt != nil && !now.Before(*ac.ExpiresAt) {
		return nil, nil, authFailed(authError("application credential has expired"))
	}
	u, err := s.users.Get(ctx, registry.Global, ac.UserID)
	if err != nil {
		return nil, nil, authFailed(err)
	}
	return ac, u, nil
}

// scopeToken resolves the requested (or default) scope and the roles the
// user holds there.
func (s *Service) scopeToken(ctx context.Context, in *authInput, user *registry.User, ac *registry.AppCredential, p *payload) error {
	sc := in.Scope
	if ac != nil {
		if sc.Kind != scopeNone && !(sc.Kind == scopeProject && sc.ID == ac.ProjectID) {
			return authFailed(authError("application credentials cannot request another scope"))
		}
		sc.Kind, sc.ID = scopeProject, ac.ProjectID
	} else if !sc.Explicit && user.DefaultProjectID != "" {
		// Keystone scopes to the default project when no scope is asked for
		// and the user still has a role there; otherwise the token is unscoped.
		if _, err := s.scopeToProject(ctx, user, user.DefaultProjectID, p, nil); err == nil {
			return nil
		}
		*p = payload{Methods: p.Methods, UserID: p.UserID, UserName: p.UserName, UserDomainID: p.UserDomainID,
			AuditIDs: p.AuditIDs, AppCredID: p.AppCredID, IssuedAt: p.IssuedAt, ExpiresAt: p.ExpiresAt}
		return nil
	}
	switch sc.Kind {
	case scopeProject:
		proj, err := s.findProject(ctx, sc.ID, sc.Name, sc.DomainID, sc.DomainName)
		if err != nil {
			if isNotFound(err) {
				return authFailed(err)
			}
			return err
		}
		var allowed []string
		if ac != nil {
			allowed = ac.RoleIDs
		}
		_, err = s.scopeToProject(ctx, user, proj.ID, p, allowed)
		return err
	case scopeDomain:
		d, err := s.findDomain(ctx, sc.ID, sc.Name)
		if err != nil {
			if isNotFound(err) {
				return authFailed(err)
			}
			return err
		}
		if !d.Enabled {
			return authFailed(authError("domain is disabled"))
		}
		all, err := s.allRoles(ctx)
		if err != nil {
			return err
		}
		direct, err := s.directRoles(ctx, user.ID, "", d.ID, all)
		if err != nil {
			return err
		}
		roles := effectiveRoles(direct, all)
		if len(roles) == 0 {
			return authFailed(authError("user has no role on the domain"))
		}
		p.Scope, p.ScopeID, p.ScopeName = scopeDomain, d.ID, d.Name
		p.Roles = roleNames(roles)
	}
	return nil
}

// scopeToProject fills p's project scope and roles. allowed, when not nil,
// limits the roles to an application credential's.
func (s *Service) scopeToProject(ctx context.Context, user *registry.User, projectID string, p *payload, allowed []string) (*registry.IdentityProject, error) {
	proj, err := s.projects.Get(ctx, registry.Global, projectID)
	if err != nil {
		if isNotFound(err) {
			return nil, authFailed(err)
		}
		return nil, err
	}
	if !proj.Enabled {
		return nil, authFailed(authError("project is disabled"))
	}
	pd, err := s.domains.Get(ctx, registry.Global, proj.DomainID)
	if err != nil || !pd.Enabled {
		return nil, authFailed(authError("project's domain is missing or disabled"))
	}
	all, err := s.allRoles(ctx)
	if err != nil {
		return nil, err
	}
	direct, err := s.directRoles(ctx, user.ID, proj.ID, "", all)
	if err != nil {
		return nil, err
	}
	roles := effectiveRoles(direct, all)
	if allowed != nil {
		roles = slices.DeleteFunc(roles, func(r *registry.Role) bool { return !slices.Contains(allowed, r.ID) })
	}
	if len(roles) == 0 {
		return nil, authFailed(authError("user has no role on the project"))
	}
	p.Scope, p.ScopeID, p.ScopeName, p.ScopeDomainID = scopeProject, proj.ID, proj.Name, proj.DomainID
	p.Roles = roleNames(roles)
	return proj, nil
}

func roleNames(roles []*registry.Role) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = r.Name
	}
	return out
}

// subjectToken validates X-Subject-Token for GET/HEAD/DELETE /v3/auth/tokens.
// Only the token's own user or an admin may look at it.
func (s *Service) subjectToken(r *http.Request) (*validated, error) {
	caller := wire.PrincipalFrom(r.Context())
	tok := r.Header.Get("X-Subject-Token")
	if tok == "" {
		return nil, missing("X-Subject-Token", "the request headers")
	}
	v, err := s.validate(tok)
	if err != nil {
		return nil, tokenNotFound(err)
	}
	if !caller.IsAdmin() && caller.UserID != v.p.UserID {
		return nil, forbidden("identity:validate_token")
	}
	return v, nil
}

// showToken is GET /v3/auth/tokens.
func (s *Service) showToken(w http.ResponseWriter, r *http.Request) error {
	v, err := s.subjectToken(r)
	if err != nil {
		return err
	}
	out, err := s.renderToken(r.Context(), v.p, !hasNoCatalog(r))
	if err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", r.Header.Get("X-Subject-Token"))
	wire.WriteJSON(w, http.StatusOK, out)
	return nil
}

// checkToken is HEAD /v3/auth/tokens.
func (s *Service) checkToken(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.subjectToken(r); err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", r.Header.Get("X-Subject-Token"))
	w.WriteHeader(http.StatusOK)
	return nil
}

// revokeToken is DELETE /v3/auth/tokens: the token and every token rescoped
// from it stop validating on every replica.
func (s *Service) revokeToken(w http.ResponseWriter, r *http.Request) error {
	v, err := s.subjectToken(r)
	if err != nil {
		return err
	}
	if err := s.revoke(r.Context(), revokeAudit, v.p.AuditIDs[0]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
