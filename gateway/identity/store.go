package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"

	"github.com/canopy-cloud/canopy/registry"
	"golang.org/x/crypto/bcrypt"
)

// DefaultDomainID is the id of Keystone's Default domain.
const DefaultDomainID = "default"

// impliedRoles are the implications `keystone-manage bootstrap` creates:
// admin implies member, member implies reader. Tokens list effective roles.
var impliedRoles = map[string][]string{"admin": {"member"}, "member": {"reader"}}

// findUser resolves a user by id or by name in a domain (by id or name).
func (s *Service) findUser(ctx context.Context, spec userSpec) (*registry.User, error) {
	if spec.ID != "" {
		return s.users.Get(ctx, registry.Global, spec.ID)
	}
	d, err := s.findDomain(ctx, spec.DomainID, spec.DomainName)
	if err != nil {
		return nil, err
	}
	return s.users.ByName(ctx, registry.Global, d.ID+"/"+spec.Name)
}

func (s *Service) findDomain(ctx context.Context, id, name string) (*registry.Domain, error) {
	if id != "" {
		return s.domains.Get(ctx, registry.Global, id)
	}
	return s.domains.ByName(ctx, registry.Global, name)
}

func (s *Service) findProject(ctx context.Context, id, name, domainID, domainName string) (*registry.IdentityProject, error) {
	if id != "" {
		return s.projects.Get(ctx, registry.Global, id)
	}
	d, err := s.findDomain(ctx, domainID, domainName)
	if err != nil {
		return nil, err
	}
	return s.projects.ByName(ctx, registry.Global, d.ID+"/"+name)
}

// assignmentID derives a role assignment's id from what it grants, so that a
// repeated grant (PUT) finds the record it made before.
func assignmentID(userID, targetKind, targetID, roleID string) string {
	sum := sha256.Sum256([]byte(userID + "\x00" + targetKind + "\x00" + targetID + "\x00" + roleID))
	return hex.EncodeToString(sum[:16])
}

// assignmentOwner is where an assignment lives: under its project, or global
// for a domain assignment.
func assignmentOwner(projectID string) string {
	if projectID != "" {
		return projectID
	}
	return registry.Global
}

func (s *Service) allRoles(ctx context.Context) ([]*registry.Role, error) {
	return s.roles.List(ctx, registry.Global, registry.Page{})
}

// directRoles returns the roles assigned to userID on a project (or domain,
// when projectID is empty): one round trip for the role list and one for the
// candidate assignments.
func (s *Service) directRoles(ctx context.Context, userID, projectID, domainID string, all []*registry.Role) ([]*registry.Role, error) {
	kind, target := "project", projectID
	if projectID == "" {
		kind, target = "domain", domainID
	}
	ids := make([]string, len(all))
	for i, r := range all {
		ids[i] = assignmentID(userID, kind, target, r.ID)
	}
	found, err := s.assigns.GetMany(ctx, assignmentOwner(projectID), ids)
	if err != nil {
		return nil, err
	}
	var out []*registry.Role
	for _, a := range found {
		for _, r := range all {
			if r.ID == a.RoleID {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// effectiveRoles adds implied roles to direct ones and sorts by name.
func effectiveRoles(direct, all []*registry.Role) []*registry.Role {
	byName := map[string]*registry.Role{}
	for _, r := range all {
		byName[r.Name] = r
	}
	seen := map[string]bool{}
	var out []*registry.Role
	var add func(r *registry.Role)
	add = func(r *registry.Role) {
		if r == nil || seen[r.ID] {
			return
		}
		seen[r.ID] = true
		out = append(out, r)
		for _, n := range impliedRoles[r.Name] {
			add(byName[n])
		}
	}
	for _, r := range direct {
		add(r)
	}
	slices.SortFunc(out, func(a, b *registry.Role) int { return compareStrings(a.Name, b.Name) })
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// userAssignments lists every assignment of a user (a scan: identity record
// counts are small, and only listing calls need it).
func (s *Service) userAssignments(ctx context.Context, userID string) ([]*registry.RoleAssignment, error) {
	all, err := s.assigns.List(ctx, "*", registry.Page{})
	if err != nil {
		return nil, err
	}
	var out []*registry.RoleAssignment
	for _, a := range all {
		if a.UserID == userID {
			out = append(out, a)
		}
	}
	return out, nil
}

// bcryptInput truncates to bcrypt's 72 bytes, as Keystone's passlib does.
func bcryptInput(secret string) []byte {
	b := []byte(secret)
	if len(b) > 72 {
		b = b[:72]
	}
	return b
}

func (s *Service) hashSecret(secret string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(bcryptInput(secret), s.opts.PasswordHashCost)
	return string(h), err
}

// checkSecret compares in constant time for the hash; an empty hash (no
// password set, or unknown user) still costs one bcrypt comparison.
func (s *Service) checkSecret(hash, secret string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, bcryptInput(secret))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), bcryptInput(secret)) == nil
}

func isNotFound(err error) bool { return errors.Is(err, registry.ErrNotFound) }
