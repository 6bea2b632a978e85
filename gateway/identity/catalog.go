package identity

import (
	"net/http"
	"strings"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// The catalog is configuration (Options.Services), so regions, services and
// endpoints are read-only here: they list what tokens carry, and writes
// answer 501 rather than pretend.

func (s *Service) regionView() map[string]any {
	return map[string]any{
		"id": s.opts.Region, "description": "", "parent_region_id": nil,
		"links": map[string]string{"self": s.selfURL("/regions/" + s.opts.Region)},
	}
}

// listRegions is GET /v3/regions (any token).
func (s *Service) listRegions(w http.ResponseWriter, r *http.Request) error {
	out := []map[string]any{s.regionView()}
	if q := r.URL.Query(); q.Has("parent_region_id") && q.Get("parent_region_id") != "" {
		out = []map[string]any{}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"regions": out, "links": s.listLinks(r)})
	return nil
}

// showRegion is GET /v3/regions/{region_id}.
func (s *Service) showRegion(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("region_id")
	if id != s.opts.Region {
		return notFound(registry.ErrNotFound, "region", id)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"region": s.regionView()})
	return nil
}

func (s *Service) serviceView(cs gateway.CatalogService) map[string]any {
	return map[string]any{
		"id": cs.ID, "type": cs.Type, "name": cs.Name, "enabled": true, "description": "",
		"links": map[string]string{"self": s.selfURL("/services/" + cs.ID)},
	}
}

// listServices is GET /v3/services (admin), filtered by type and name.
func (s *Service) listServices(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:list_services"); err != nil {
		return err
	}
	q := r.URL.Query()
	out := []map[string]any{}
	for _, cs := range s.opts.Services {
		if (q.Has("type") && cs.Type != q.Get("type")) || (q.Has("name") && cs.Name != q.Get("name")) {
			continue
		}
		out = append(out, s.serviceView(cs))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"services": out, "links": s.listLinks(r)})
	return nil
}

// showService is GET /v3/services/{service_id} (admin).
func (s *Service) showService(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:get_service"); err != nil {
		return err
	}
	id := r.PathValue("service_id")
	for _, cs := range s.opts.Services {
		if cs.ID == id {
			wire.WriteJSON(w, http.StatusOK, map[string]any{"service": s.serviceView(cs)})
			return nil
		}
	}
	return notFound(registry.ErrNotFound, "service", id)
}

// endpoints lists the catalog's endpoints with their service ids. Project
// endpoints keep Keystone's template form "$(project_id)s".
func (s *Service) endpoints() []map[string]any {
	var out []map[string]any
	for _, e := range gateway.Catalog(s.opts.PublicURL, s.opts.Region, s.opts.Services, "\x00") {
		for _, ep := range e.Endpoints {
			out = append(out, map[string]any{
				"id": ep.ID, "interface": ep.Interface, "region": ep.Region, "region_id": ep.RegionID,
				"url": strings.ReplaceAll(ep.URL, "\x00", "$(project_id)s"), "service_id": e.ID, "enabled": true,
				"links": map[string]string{"self": s.selfURL("/endpoints/" + ep.ID)},
			})
		}
	}
	return out
}

// listEndpoints is GET /v3/endpoints (admin), filtered by service_id,
// interface and region_id.
func (s *Service) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:list_endpoints"); err != nil {
		return err
	}
	q := r.URL.Query()
	out := []map[string]any{}
	for _, ep := range s.endpoints() {
		if (q.Has("service_id") && ep["service_id"] != q.Get("service_id")) ||
			(q.Has("interface") && ep["interface"] != q.Get("interface")) ||
			(q.Has("region_id") && ep["region_id"] != q.Get("region_id")) {
			continue
		}
		out = append(out, ep)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"endpoints": out, "links": s.listLinks(r)})
	return nil
}

// showEndpoint is GET /v3/endpoints/{endpoint_id} (admin).
func (s *Service) showEndpoint(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:get_endpoint"); err != nil {
		return err
	}
	id := r.PathValue("endpoint_id")
	for _, ep := range s.endpoints() {
		if ep["id"] == id {
			wire.WriteJSON(w, http.StatusOK, map[string]any{"endpoint": ep})
			return nil
		}
	}
	return notFound(registry.ErrNotFound, "endpoint", id)
}

// catalogIsConfig answers writes to regions, services and endpoints.
func catalogIsConfig(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireAdmin(r, "identity:manage_catalog"); err != nil {
		return err
	}
	return wire.NotImplemented("The service catalog comes from Canopy's configuration; change canopy.yaml instead.")
}

// authCatalog is GET /v3/auth/catalog: the catalog of the caller's scope.
func (s *Service) authCatalog(w http.ResponseWriter, r *http.Request) error {
	c := wire.PrincipalFrom(r.Context())
	if c.ProjectID == "" && c.DomainID == "" {
		return wire.Forbidden("A project-scoped token is required to produce a service catalog.")
	}
	scope := c.ProjectID
	if scope == "" {
		scope = c.DomainID
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"catalog": s.catalog(scope, c.ProjectID != ""), "links": s.listLinks(r)})
	return nil
}

// authProjects is GET /v3/auth/projects: the enabled projects the caller
// can scope to.
func (s *Service) authProjects(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.projectsOf(r.Context(), wire.PrincipalFrom(r.Context()).UserID, true)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, p := range ps {
		out = append(out, s.projectView(p))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"projects": out, "links": s.listLinks(r)})
	return nil
}

// authDomains is GET /v3/auth/domains: the enabled domains the caller holds
// a role on.
func (s *Service) authDomains(w http.ResponseWriter, r *http.Request) error {
	as, err := s.userAssignments(r.Context(), wire.PrincipalFrom(r.Context()).UserID)
	if err != nil {
		return err
	}
	var ids []string
	for _, a := range as {
		if a.DomainID != "" {
			ids = append(ids, a.DomainID)
		}
	}
	ds, err := s.domains.GetMany(r.Context(), registry.Global, ids)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	seen := map[string]bool{}
	for _, d := range ds {
		if d.Enabled && !seen[d.ID] {
			seen[d.ID] = true
			out = append(out, s.domainView(d))
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"domains": out, "links": s.listLinks(r)})
	return nil
}
