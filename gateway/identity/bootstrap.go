package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/canopy-cloud/canopy/registry"
)

// BootstrapUser is a user Bootstrap makes sure exists, with Roles on Project
// (in the Default domain).
type BootstrapUser struct {
	Name, Password, Project string
	Roles                   []string
}

// BootstrapResult names what Bootstrap found or made for one user.
type BootstrapResult struct {
	UserID, ProjectID string
}

// BuiltinRoles are the roles `keystone-manage bootstrap` creates.
var BuiltinRoles = []string{"admin", "member", "reader"}

// Bootstrap is `keystone-manage bootstrap`: it creates the Default domain,
// the roles admin, member and reader, and each user with its project and
// role assignments. It is idempotent: what exists is left as it is (an
// existing user's password is not reset), so re-running changes nothing.
// Results are keyed by user name.
func (s *Service) Bootstrap(ctx context.Context, users []BootstrapUser) (map[string]BootstrapResult, error) {
	now := s.now()
	def := &registry.Domain{ID: DefaultDomainID, Name: "Default", Description: "The default domain", Enabled: true, Created: now}
	if err := s.domains.Create(ctx, registry.Global, def.ID, now, def); err != nil && !errors.Is(err, registry.ErrExists) {
		return nil, fmt.Errorf("identity: bootstrap Default domain: %w", err)
	}
	roleIDs := map[string]string{}
	for _, name := range BuiltinRoles {
		id, err := s.ensureRole(ctx, name)
		if err != nil {
			return nil, err
		}
		roleIDs[name] = id
	}
	out := map[string]BootstrapResult{}
	for _, bu := range users {
		if bu.Name == "" || bu.Project == "" {
			return nil, fmt.Errorf("identity: bootstrap user needs a name and a project (got %q, %q)", bu.Name, bu.Project)
		}
		proj, err := s.projects.ByName(ctx, registry.Global, DefaultDomainID+"/"+bu.Project)
		if isNotFound(err) {
			proj = &registry.IdentityProject{ID: newID(), Name: bu.Project, DomainID: DefaultDomainID, Enabled: true, Created: now}
			err = s.projects.Create(ctx, registry.Global, proj.ID, now, proj)
			if errors.Is(err, registry.ErrNameTaken) { // a concurrent bootstrap won
				proj, err = s.projects.ByName(ctx, registry.Global, DefaultDomainID+"/"+bu.Project)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("identity: bootstrap project %s: %w", bu.Project, err)
		}
		user, err := s.users.ByName(ctx, registry.Global, DefaultDomainID+"/"+bu.Name)
		if isNotFound(err) {
			user = &registry.User{ID: newID(), Name: bu.Name, DomainID: DefaultDomainID, Enabled: true, Created: now}
			if user.PasswordHash, err = s.hashSecret(bu.Password); err != nil {
				return nil, err
			}
			err = s.users.Create(ctx, registry.Global, user.ID, now, user)
			if errors.Is(err, registry.ErrNameTaken) {
				user, err = s.users.ByName(ctx, registry.Global, DefaultDomainID+"/"+bu.Name)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("identity: bootstrap user %s: %w", bu.Name, err)
		}
		for _, rn := range bu.Roles {
			rid, ok := roleIDs[rn]
			if !ok {
				if rid, err = s.ensureRole(ctx, rn); err != nil {
					return nil, err
				}
				roleIDs[rn] = rid
			}
			a := &registry.RoleAssignment{ID: assignmentID(user.ID, "project", proj.ID, rid), UserID: user.ID, ProjectID: proj.ID, RoleID: rid, Created: now}
			if err := s.assigns.Create(ctx, proj.ID, a.ID, now, a); err != nil && !errors.Is(err, registry.ErrExists) {
				return nil, fmt.Errorf("identity: bootstrap role %s for %s: %w", rn, bu.Name, err)
			}
		}
		out[bu.Name] = BootstrapResult{UserID: user.ID, ProjectID: proj.ID}
	}
	return out, nil
}

// ensureRole returns the id of the role named name, creating it if needed.
func (s *Service) ensureRole(ctx context.Context, name string) (string, error) {
	r, err := s.roles.ByName(ctx, registry.Global, name)
	if err == nil {
		return r.ID, nil
	}
	if !isNotFound(err) {
		return "", err
	}
	now := s.now()
	r = &registry.Role{ID: newID(), Name: name, Created: now}
	err = s.roles.Create(ctx, registry.Global, r.ID, now, r)
	if errors.Is(err, registry.ErrNameTaken) {
		r, err = s.roles.ByName(ctx, registry.Global, name)
	}
	if err != nil {
		return "", fmt.Errorf("identity: bootstrap role %s: %w", name, err)
	}
	return r.ID, nil
}
