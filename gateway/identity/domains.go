package identity

import (
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

type domainBody struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Enabled     *bool   `json:"enabled"`
}

// listDomains is GET /v3/domains (admin), filtered by name and enabled.
func (s *Service) listDomains(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:list_domains"); err != nil {
		return err
	}
	enabled, err := boolQuery(r, "enabled")
	if err != nil {
		return err
	}
	all, err := s.domains.List(r.Context(), registry.Global, registry.Page{})
	if err != nil {
		return err
	}
	q := r.URL.Query()
	out := []map[string]any{}
	for _, d := range all {
		if (q.Has("name") && d.Name != q.Get("name")) || (enabled != nil && d.Enabled != *enabled) {
			continue
		}
		out = append(out, s.domainView(d))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"domains": out, "links": s.listLinks(r)})
	return nil
}

// createDomain is POST /v3/domains (admin).
func (s *Service) createDomain(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:create_domain"); err != nil {
		return err
	}
	var b domainBody
	if err := decodeEntity(r, "domain", &b); err != nil {
		return err
	}
	if b.Name == nil {
		return missing("name", "domain")
	}
	if err := checkName("name", *b.Name); err != nil {
		return err
	}
	d := &registry.Domain{ID: newID(), Name: *b.Name, Enabled: true, Created: s.now()}
	if b.Description != nil {
		d.Description = *b.Description
	}
	if b.Enabled != nil {
		d.Enabled = *b.Enabled
	}
	if err := s.domains.Create(r.Context(), registry.Global, d.ID, d.Created, d); err != nil {
		return conflict(err, "domain", d.Name)
	}
	wire.WriteJSON(w, http.StatusCreated, map[string]any{"domain": s.domainView(d)})
	return nil
}

// showDomain is GET /v3/domains/{domain_id}: admin, or a token scoped to the
// domain or to a project in it (so a member sees the Default domain).
func (s *Service) showDomain(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("domain_id")
	c := wire.PrincipalFrom(r.Context())
	if !c.IsAdmin() && c.DomainID != id && (c.ProjectID == "" || c.ProjectDomain != id) {
		return forbidden("identity:get_domain")
	}
	d, err := s.domains.Get(r.Context(), registry.Global, id)
	if err != nil {
		return notFound(err, "domain", id)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"domain": s.domainView(d)})
	return nil
}

// updateDomain is PATCH /v3/domains/{domain_id} (admin).
func (s *Service) updateDomain(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:update_domain"); err != nil {
		return err
	}
	id := r.PathValue("domain_id")
	var b domainBody
	if err := decodeEntity(r, "domain", &b); err != nil {
		return err
	}
	if b.Name != nil {
		if err := checkName("name", *b.Name); err != nil {
			return err
		}
	}
	if id == DefaultDomainID && b.Enabled != nil && !*b.Enabled {
		return wire.Forbidden("You are not authorized to perform the requested action: the Default domain cannot be disabled.")
	}
	name := ""
	d, err := s.domains.Update(r.Context(), registry.Global, id, func(d *registry.Domain) error {
		if b.Name != nil {
			d.Name = *b.Name
		}
		if b.Description != nil {
			d.Description = *b.Description
		}
		if b.Enabled != nil {
			d.Enabled = *b.Enabled
		}
		name = d.Name
		return nil
	})
	if err != nil {
		return conflict(notFound(err, "domain", id), "domain", name)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"domain": s.domainView(d)})
	return nil
}

// deleteDomain is DELETE /v3/domains/{domain_id} (admin): only a disabled,
// empty domain goes.
func (s *Service) deleteDomain(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:delete_domain"); err != nil {
		return err
	}
	ctx, id := r.Context(), r.PathValue("domain_id")
	d, err := s.domains.Get(ctx, registry.Global, id)
	if err != nil {
		return notFound(err, "domain", id)
	}
	if d.Enabled {
		return wire.Forbidden("Cannot delete a domain that is enabled, please disable it first.")
	}
	ps, err := s.projects.List(ctx, registry.Global, registry.Page{})
	if err != nil {
		return err
	}
	us, err := s.users.List(ctx, registry.Global, registry.Page{})
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.DomainID == id {
			return wire.Conflict("Cannot delete domain %s: it still holds projects.", id)
		}
	}
	for _, u := range us {
		if u.DomainID == id {
			return wire.Conflict("Cannot delete domain %s: it still holds users.", id)
		}
	}
	if err := s.domains.Delete(ctx, registry.Global, id); err != nil {
		return notFound(err, "domain", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
