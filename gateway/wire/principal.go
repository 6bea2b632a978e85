package wire

import (
	"context"
	"slices"
)

// Principal is who a request acts as, taken from a validated token.
type Principal struct {
	UserID        string
	UserName      string
	UserDomainID  string
	ProjectID     string // empty for domain- or un-scoped tokens
	ProjectName   string
	ProjectDomain string
	DomainID      string // set for domain-scoped tokens
	Roles         []string
	Token         string
	AuditID       string
}

// IsAdmin reports whether the principal holds the admin role.
func (p *Principal) IsAdmin() bool { return p != nil && slices.Contains(p.Roles, "admin") }

// CanWrite reports whether the principal may change resources (member or admin;
// reader is read-only).
func (p *Principal) CanWrite() bool {
	return p != nil && (slices.Contains(p.Roles, "admin") || slices.Contains(p.Roles, "member"))
}

// HasRole reports whether the principal holds role.
func (p *Principal) HasRole(role string) bool { return p != nil && slices.Contains(p.Roles, role) }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the request's principal, or nil when unauthenticated.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
