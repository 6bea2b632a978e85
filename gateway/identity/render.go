package identity

import (
	"context"
	"time"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/registry"
)

// tokenTimeFormat is Keystone's token timestamp format: microseconds are
// always zero because Fernet carries seconds.
const tokenTimeFormat = "2006-01-02T15:04:05.000000Z"

// appCredTimeFormat is how Keystone echoes an application credential's
// expires_at (oslo's PERFECT_TIME_FORMAT, no zone).
const appCredTimeFormat = "2006-01-02T15:04:05.000000"

func tokenTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(tokenTimeFormat) }

type nameRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type tokenUser struct {
	Domain            nameRef `json:"domain"`
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	PasswordExpiresAt *string `json:"password_expires_at"`
}

type tokenProject struct {
	Domain nameRef `json:"domain"`
	ID     string  `json:"id"`
	Name   string  `json:"name"`
}

type tokenAppCred struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Restricted bool   `json:"restricted"`
}

type tokenBody struct {
	Methods   []string               `json:"methods"`
	User      tokenUser              `json:"user"`
	AuditIDs  []string               `json:"audit_ids"`
	ExpiresAt string                 `json:"expires_at"`
	IssuedAt  string                 `json:"issued_at"`
	Project   *tokenProject          `json:"project,omitempty"`
	Domain    *nameRef               `json:"domain,omitempty"`
	IsDomain  *bool                  `json:"is_domain,omitempty"`
	Roles     []nameRef              `json:"roles,omitzero"`
	Catalog   []gateway.CatalogEntry `json:"catalog,omitzero"`
	AppCred   *tokenAppCred          `json:"application_credential,omitempty"`
}

// renderToken builds Keystone's token document from a payload. Domain names
// and role ids are read from the registry (the payload carries ids and role
// names); the answer is the same for the issue and every later validation.
func (s *Service) renderToken(ctx context.Context, p *payload, includeCatalog bool) (map[string]tokenBody, error) {
	domIDs := []string{p.UserDomainID}
	if p.Scope == scopeProject {
		domIDs = append(domIDs, p.ScopeDomainID)
	}
	doms, err := s.domains.GetMany(ctx, registry.Global, domIDs)
	if err != nil {
		return nil, err
	}
	domName := func(id string) string {
		for _, d := range doms {
			if d.ID == id {
				return d.Name
			}
		}
		return id
	}
	b := tokenBody{
		Methods:   p.methodNames(),
		User:      tokenUser{Domain: nameRef{p.UserDomainID, domName(p.UserDomainID)}, ID: p.UserID, Name: p.UserName},
		AuditIDs:  p.AuditIDs,
		ExpiresAt: tokenTime(p.ExpiresAt),
		IssuedAt:  tokenTime(p.IssuedAt),
	}
	if p.Scope != scopeNone {
		all, err := s.allRoles(ctx)
		if err != nil {
			return nil, err
		}
		b.Roles = make([]nameRef, 0, len(p.Roles))
		for _, name := range p.Roles {
			for _, r := range all {
				if r.Name == name {
					b.Roles = append(b.Roles, nameRef{r.ID, r.Name})
				}
			}
		}
		if includeCatalog {
			b.Catalog = s.catalog(p.ScopeID, p.Scope == scopeProject)
		}
	}
	switch p.Scope {
	case scopeProject:
		b.Project = &tokenProject{Domain: nameRef{p.ScopeDomainID, domName(p.ScopeDomainID)}, ID: p.ScopeID, Name: p.ScopeName}
		f := false
		b.IsDomain = &f
	case scopeDomain:
		b.Domain = &nameRef{p.ScopeID, p.ScopeName}
	}
	if p.AppCredID != "" {
		if v, err := s.appCreds.Lookup(ctx, p.AppCredID); err == nil {
			b.AppCred = &tokenAppCred{ID: v.Value.ID, Name: v.Value.Name, Restricted: !v.Value.Unrestricted}
		}
	}
	return map[string]tokenBody{"token": b}, nil
}

// catalog is the service catalog for a scope; only a project scope gets the
// endpoints whose URL carries a project id.
func (s *Service) catalog(scopeID string, project bool) []gateway.CatalogEntry {
	pid := ""
	if project {
		pid = scopeID
	}
	c := gateway.Catalog(s.opts.PublicURL, s.opts.Region, s.opts.Services, pid)
	if c == nil {
		c = []gateway.CatalogEntry{}
	}
	return c
}
