package compute

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// Server groups are recorded with their members. The scheduler does not
// enforce (anti-)affinity yet: servers join their group's member list only.

var groupPolicies = []string{"affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"}

func renderGroup(g *registry.ServerGroup, v wire.Version) map[string]any {
	members := g.Members
	if members == nil {
		members = []string{}
	}
	m := map[string]any{"id": g.ID, "name": g.Name, "members": members}
	if v.AtLeast(2, 13) {
		m["project_id"], m["user_id"] = g.ProjectID, g.UserID
	}
	if v.AtLeast(2, 64) {
		rules := map[string]int{}
		for k, n := range g.Rules {
			rules[k] = n
		}
		m["policy"], m["rules"] = g.Policy, rules
	} else {
		md := g.Metadata
		if md == nil {
			md = map[string]string{}
		}
		m["policies"], m["metadata"] = []string{g.Policy}, md
	}
	return m
}

func (s *Service) listServerGroups(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	scope := caller(r).ProjectID
	if r.URL.Query().Get("all_projects") != "" && isAdmin(r) {
		scope = "*"
	}
	list, err := s.groups.List(r.Context(), scope, registry.Page{})
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, g := range list {
		out = append(out, renderGroup(g, v))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"server_groups": out})
	return nil
}

func (s *Service) createServerGroup(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireWriter(r); err != nil {
		return err
	}
	var body struct {
		Group *struct {
			Name     *string        `json:"name"`
			Policies []string       `json:"policies"`
			Policy   *string        `json:"policy"`
			Rules    map[string]int `json:"rules"`
		} `json:"server_group"`
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	g := body.Group
	if g == nil || g.Name == nil {
		return wire.BadRequest("Invalid input for field/attribute server_group. 'name' is a required property")
	}
	if err := checkName("name", *g.Name); err != nil {
		return err
	}
	policy := ""
	if v.AtLeast(2, 64) {
		if g.Policies != nil {
			return wire.BadRequest("Additional properties are not allowed ('policies' was unexpected)")
		}
		if g.Policy == nil {
			return wire.BadRequest("Invalid input for field/attribute server_group. 'policy' is a required property")
		}
		policy = *g.Policy
		if len(g.Rules) > 0 && policy != "anti-affinity" {
			return wire.BadRequest("Only anti-affinity policy supports rules.")
		}
	} else {
		if g.Policy != nil || g.Rules != nil {
			return wire.BadRequest("Additional properties are not allowed ('policy' was unexpected)")
		}
		if len(g.Policies) != 1 {
			return invalidField("policies", "", "exactly one policy is required")
		}
		policy = g.Policies[0]
	}
	if !slices.Contains(groupPolicies, policy) {
		return invalidField("policies", policy, "'"+policy+"' is not one of "+`['affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity']`)
	}
	c := caller(r)
	if limit := s.b.Quota().ServerGroups; limit >= 0 {
		n, err := s.groups.Count(r.Context(), c.ProjectID)
		if err != nil {
			return err
		}
		if int(n) >= limit {
			return wire.Forbidden("Quota exceeded, too many server groups.")
		}
	}
	rec := registry.ServerGroup{ID: s.opts.NewID(), ProjectID: c.ProjectID, UserID: c.UserID, Name: *g.Name,
		Policy: policy, Rules: g.Rules, Members: []string{}, Created: s.opts.Now()}
	if err := s.groups.Create(r.Context(), c.ProjectID, rec.ID, rec.Created, &rec); err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"server_group": renderGroup(&rec, v)})
	return nil
}

func (s *Service) getGroup(r *http.Request) (*registry.ServerGroup, error) {
	id := r.PathValue("id")
	v, err := s.groups.Lookup(r.Context(), id)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && v.Project != caller(r).ProjectID && !isAdmin(r)) {
		return nil, wire.NotFound("Instance group %s could not be found.", id)
	}
	if err != nil {
		return nil, err
	}
	return v.Value, nil
}

func (s *Service) showServerGroup(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	g, err := s.getGroup(r)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"server_group": renderGroup(g, v)})
	return nil
}

func (s *Service) deleteServerGroup(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireWriter(r); err != nil {
		return err
	}
	g, err := s.getGroup(r)
	if err != nil {
		return err
	}
	if err := s.groups.Delete(r.Context(), g.ProjectID, g.ID); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// joinGroup adds new servers to their server group's members.
func (s *Service) joinGroup(ctx context.Context, groupID string, servers []*registry.Server) {
	if len(servers) == 0 {
		return
	}
	_, _ = s.groups.Update(ctx, servers[0].ProjectID, groupID, func(g *registry.ServerGroup) error {
		for _, srv := range servers {
			if !slices.Contains(g.Members, srv.ID) {
				g.Members = append(g.Members, srv.ID)
			}
		}
		return nil
	})
}
