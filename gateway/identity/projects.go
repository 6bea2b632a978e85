package identity

import (
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

type projectBody struct {
	Name        *string  `json:"name"`
	DomainID    *string  `json:"domain_id"`
	ParentID    *string  `json:"parent_id"`
	Description *string  `json:"description"`
	Enabled     *bool    `json:"enabled"`
	IsDomain    *bool    `json:"is_domain"`
	Tags        []string `json:"tags"`
}

// listProjects is GET /v3/projects (admin), filtered by name, domain_id,
// enabled.
func (s *Service) listProjects(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:list_projects"); err != nil {
		return err
	}
	enabled, err := boolQuery(r, "enabled")
	if err != nil {
		return err
	}
	all, err := s.projects.List(r.Context(), registry.Global, registry.Page{})
	if err != nil {
		return err
	}
	q := r.URL.Query()
	out := []map[string]any{}
	for _, p := range all {
		if (q.Has("name") && p.Name != q.Get("name")) || (q.Has("domain_id") && p.DomainID != q.Get("domain_id")) ||
			(enabled != nil && p.Enabled != *enabled) {
			continue
		}
		out = append(out, s.projectView(p))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"projects": out, "links": s.listLinks(r)})
	return nil
}

// createProject is POST /v3/projects (admin).
func (s *Service) createProject(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:create_project"); err != nil {
		return err
	}
	var b projectBody
	if err := decodeEntity(r, "project", &b); err != nil {
		return err
	}
	if b.Name == nil {
		return missing("name", "project")
	}
	if err := checkName("name", *b.Name); err != nil {
		return err
	}
	if b.IsDomain != nil && *b.IsDomain {
		return wire.NotImplemented("Projects acting as domains are not supported by Canopy's identity service.")
	}
	p := &registry.IdentityProject{ID: newID(), Name: *b.Name, DomainID: DefaultDomainID, Enabled: true, Tags: b.Tags, Created: s.now()}
	if b.DomainID != nil {
		p.DomainID = *b.DomainID
	}
	if _, err := s.domains.Get(r.Context(), registry.Global, p.DomainID); err != nil {
		return notFound(err, "domain", p.DomainID)
	}
	if b.ParentID != nil && *b.ParentID != "" && *b.ParentID != p.DomainID {
		parent, err := s.projects.Get(r.Context(), registry.Global, *b.ParentID)
		if err != nil {
			return notFound(err, "project", *b.ParentID)
		}
		if parent.DomainID != p.DomainID {
			return wire.BadRequest("Invalid input for field 'parent_id': the parent project is in another domain.")
		}
		p.ParentID = parent.ID
	}
	if b.Description != nil {
		p.Description = *b.Description
	}
	if b.Enabled != nil {
		p.Enabled = *b.Enabled
	}
	if err := s.projects.Create(r.Context(), registry.Global, p.ID, p.Created, p); err != nil {
		return conflict(err, "project", p.Name)
	}
	wire.WriteJSON(w, http.StatusCreated, map[string]any{"project": s.projectView(p)})
	return nil
}

// showProject is GET /v3/projects/{project_id}: admin, or a token scoped to it.
func (s *Service) showProject(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("project_id")
	caller := wire.PrincipalFrom(r.Context())
	if !caller.IsAdmin() && caller.ProjectID != id {
		return forbidden("identity:get_project")
	}
	p, err := s.projects.Get(r.Context(), registry.Global, id)
	if err != nil {
		return notFound(err, "project", id)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"project": s.projectView(p)})
	return nil
}

// updateProject is PATCH /v3/projects/{project_id} (admin). Disabling a
// project revokes the tokens scoped to it.
func (s *Service) updateProject(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:update_project"); err != nil {
		return err
	}
	id := r.PathValue("project_id")
	var b projectBody
	if err := decodeEntity(r, "project", &b); err != nil {
		return err
	}
	if b.Name != nil {
		if err := checkName("name", *b.Name); err != nil {
			return err
		}
	}
	if b.DomainID != nil || b.ParentID != nil {
		cur, err := s.projects.Get(r.Context(), registry.Global, id)
		if err != nil {
			return notFound(err, "project", id)
		}
		if (b.DomainID != nil && *b.DomainID != cur.DomainID) || (b.ParentID != nil && *b.ParentID != cur.ParentID && *b.ParentID != cur.DomainID) {
			return wire.BadRequest("Invalid input for field 'project': domain_id and parent_id cannot be changed.")
		}
	}
	name := ""
	p, err := s.projects.Update(r.Context(), registry.Global, id, func(p *registry.IdentityProject) error {
		if b.Name != nil {
			p.Name = *b.Name
		}
		if b.Description != nil {
			p.Description = *b.Description
		}
		if b.Enabled != nil {
			p.Enabled = *b.Enabled
		}
		if b.Tags != nil {
			p.Tags = b.Tags
		}
		name = p.Name
		return nil
	})
	if err != nil {
		return conflict(notFound(err, "project", id), "project", name)
	}
	if b.Enabled != nil && !*b.Enabled {
		if err := s.revoke(r.Context(), revokeProject, id); err != nil {
			return err
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"project": s.projectView(p)})
	return nil
}

// deleteProject is DELETE /v3/projects/{project_id} (admin): its tokens are
// revoked and its role assignments removed.
func (s *Service) deleteProject(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:delete_project"); err != nil {
		return err
	}
	ctx, id := r.Context(), r.PathValue("project_id")
	if _, err := s.projects.Get(ctx, registry.Global, id); err != nil {
		return notFound(err, "project", id)
	}
	if err := s.revoke(ctx, revokeProject, id); err != nil {
		return err
	}
	as, err := s.assigns.List(ctx, id, registry.Page{})
	if err != nil {
		return err
	}
	for _, a := range as {
		if err := s.assigns.Delete(ctx, id, a.ID); err != nil && !isNotFound(err) {
			return err
		}
	}
	if err := s.projects.Delete(ctx, registry.Global, id); err != nil {
		return notFound(err, "project", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
