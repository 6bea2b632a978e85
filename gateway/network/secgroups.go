package network

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

var secGroupFilters = []string{"id", "name", "description", "project_id", "tenant_id", "revision_number", "created_at", "updated_at"}

var secGroupCreateAttrs = []string{"name", "description", "project_id", "tenant_id"}

var secGroupUpdateAttrs = []string{"name", "description"}

const defaultGroupName = "default"

func renderSecGroup(g *secGroup) map[string]any {
	rules := make([]map[string]any, 0, len(g.Rules))
	for i := range g.Rules {
		rules = append(rules, renderRule(g, &g.Rules[i]))
	}
	return map[string]any{
		"id": g.ID, "name": g.Name, "description": g.Description, "security_group_rules": rules,
		"tags": []string{}, "project_id": g.ProjectID, "tenant_id": g.ProjectID,
		"revision_number": g.Revision, "created_at": stamp(g.Created), "updated_at": stamp(g.Updated),
	}
}

func secGroupNotFound(id string) *wire.Error {
	return wire.NotFound("Security group %s does not exist", id).WithType("SecurityGroupNotFound")
}

// canSeeGroup is Neutron's get_security_group policy: owner or admin.
func canSeeGroup(p *wire.Principal, g *secGroup) bool {
	return p.IsAdmin() || g.ProjectID == p.ProjectID
}

// group reads a security group the caller may see.
func (s *Service) group(ctx context.Context, p *wire.Principal, id string) (*secGroup, error) {
	v, err := s.secGroups.Lookup(ctx, id)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && !canSeeGroup(p, v.Value)) {
		return nil, secGroupNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return v.Value, nil
}

// defaultGroupID is the id of a project's default group: derived from the
// project, so every replica that creates it on first need makes the same one.
func defaultGroupID(projectID string) string { return nameUUID("secgroup-default", projectID) }

// ensureDefaultGroup makes the project's default group with Neutron's
// default rules (ingress from the group itself, egress to anywhere, for
// IPv4 and IPv6) unless it exists, and returns its id. Concurrent calls
// converge on one group: the id is derived and the create is exclusive.
func (s *Service) ensureDefaultGroup(ctx context.Context, projectID string) (string, error) {
	id := defaultGroupID(projectID)
	if _, err := s.secGroups.Get(ctx, projectID, id); err == nil {
		return id, nil
	} else if !errors.Is(err, registry.ErrNotFound) {
		return "", err
	}
	now := s.now()
	g := &secGroup{ID: id, ProjectID: projectID, Name: defaultGroupName, Description: "Default security group",
		Default: true, Revision: 1, Created: now, Updated: now}
	for i, r := range []struct{ dir, eth string }{{"ingress", "IPv4"}, {"ingress", "IPv6"}, {"egress", "IPv4"}, {"egress", "IPv6"}} {
		rule := sgRule{ID: nameUUID("sgrule", id, string(rune('0'+i))), ProjectID: projectID, Direction: r.dir,
			Ethertype: r.eth, Revision: 0, Created: now, Updated: now}
		if r.dir == "ingress" {
			rule.RemoteGroupID = id
		}
		g.Rules = append(g.Rules, rule)
	}
	if err := s.createGroup(ctx, g); err != nil && !errors.Is(err, registry.ErrExists) {
		return "", err
	}
	return id, nil
}

// createGroup stores g: the rule references first, then the group, so a
// crash in between leaves references to nothing (read as not found).
func (s *Service) createGroup(ctx context.Context, g *secGroup) error {
	for _, r := range g.Rules {
		err := s.ruleRefs.Create(ctx, g.ProjectID, r.ID, r.Created, &sgRuleRef{ID: r.ID, GroupID: g.ID})
		if err != nil && !errors.Is(err, registry.ErrExists) {
			return err
		}
	}
	return s.secGroups.Create(ctx, g.ProjectID, g.ID, g.Created, g)
}

// egressRules are the rules Neutron gives every new non-default group.
func (s *Service) egressRules(projectID string, now time.Time) []sgRule {
	return []sgRule{
		{ID: s.opts.NewID(), ProjectID: projectID, Direction: "egress", Ethertype: "IPv4", Created: now, Updated: now},
		{ID: s.opts.NewID(), ProjectID: projectID, Direction: "egress", Ethertype: "IPv6", Created: now, Updated: now},
	}
}

func (s *Service) listSecGroups(w http.ResponseWriter, r *http.Request) error {
	lq, err := parseList(r, secGroupFilters)
	if err != nil {
		return err
	}
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	ensureFor := p.ProjectID
	if pids := append(lq.filters["project_id"], lq.filters["tenant_id"]...); len(pids) > 0 {
		ensureFor = pids[0]
	}
	if ensureFor != "" && (ensureFor == p.ProjectID || p.IsAdmin()) {
		if _, err := s.ensureDefaultGroup(ctx, ensureFor); err != nil {
			return err
		}
	}
	scope := listScope(p)
	all, err := s.secGroups.List(ctx, scope, registry.Page{})
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(all))
	for _, g := range all {
		items = append(items, renderSecGroup(g))
	}
	return respond(w, r, lq, "security_groups", "SecurityGroup", items)
}

func (s *Service) showSecGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := s.group(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"security_group": project(renderSecGroup(g), showFields(r))})
	return nil
}

// groupName validates a group name: a string of at most 255 characters that
// is not "default" in any case (Neutron's name_not_default validator).
func groupName(a attrs) (*string, error) {
	v, err := a.str("name", 255)
	if err != nil || v == nil {
		return v, err
	}
	if strings.EqualFold(*v, defaultGroupName) {
		return nil, conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
	}
	return v, nil
}

func (s *Service) createSecGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	if !p.CanWrite() {
		return policyDenied("create_security_group")
	}
	a, err := readBody(r, "security_group", secGroupCreateAttrs)
	if err != nil {
		return err
	}
	projectID, err := a.project(p, "create_security_group")
	if err != nil {
		return err
	}
	name, err := groupName(a)
	if err != nil {
		return err
	}
	desc, err := a.str("description", 255)
	if err != nil {
		return err
	}
	if _, err := s.ensureDefaultGroup(ctx, projectID); err != nil {
		return err
	}
	now := s.now()
	g := &secGroup{ID: s.opts.NewID(), ProjectID: projectID, Revision: 1, Created: now, Updated: now}
	g.Rules = s.egressRules(projectID, now)
	if name != nil {
		g.Name = *name
	}
	if desc != nil {
		g.Description = *desc
	}
	release, err := s.reserveQuota(ctx, projectID, quotaSecGroup, g.ID)
	if err != nil {
		return err
	}
	defer release()
	var ruleIDs []string
	for _, rule := range g.Rules {
		ruleIDs = append(ruleIDs, rule.ID)
	}
	releaseRules, err := s.reserveQuota(ctx, projectID, quotaSecGroupRule, ruleIDs...)
	if err != nil {
		return err
	}
	defer releaseRules()
	if err := s.createGroup(ctx, g); err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusCreated, map[string]any{"security_group": renderSecGroup(g)})
	return nil
}

func (s *Service) updateSecGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	id := r.PathValue("id")
	cur, err := s.group(ctx, p, id)
	if err != nil {
		return err
	}
	if !p.CanWrite() {
		return policyDenied("update_security_group")
	}
	a, err := readBody(r, "security_group", secGroupUpdateAttrs)
	if err != nil {
		return err
	}
	name, err := groupName(a)
	if err != nil {
		return err
	}
	desc, err := a.str("description", 255)
	if err != nil {
		return err
	}
	g, err := s.secGroups.Update(ctx, cur.ProjectID, id, func(g *secGroup) error {
		if g.Default && a.has("name") {
			return conflict("SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
		}
		if name != nil {
			g.Name = *name
		}
		if desc != nil {
			g.Description = *desc
		}
		g.Revision++
		g.Updated = s.now()
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return secGroupNotFound(id)
	}
	if err != nil {
		return err
	}
	s.groupChanged(ctx, g.ProjectID, g.ID)
	wire.WriteJSON(w, http.StatusOK, map[string]any{"security_group": renderSecGroup(g)})
	return nil
}

func (s *Service) deleteSecGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	id := r.PathValue("id")
	g, err := s.group(ctx, p, id)
	if err != nil {
		return err
	}
	if !p.CanWrite() {
		return policyDenied("delete_security_group")
	}
	if g.Default && !p.IsAdmin() {
		return conflict("SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group.")
	}
	if err := s.dropGroup(ctx, g); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dropGroup deletes g unless a port uses it. The in-use check and port
// binds are arbitrated in Redis (see sgbind.go), so a port created at the
// same moment either lands before (409) or is refused after.
func (s *Service) dropGroup(ctx context.Context, g *secGroup) error {
	release, err := s.lockGroupForDelete(ctx, g)
	if err != nil {
		return err
	}
	defer release()
	if err := s.secGroups.Delete(ctx, g.ProjectID, g.ID); errors.Is(err, registry.ErrNotFound) {
		return secGroupNotFound(g.ID)
	} else if err != nil {
		return err
	}
	s.groupDeleted(ctx, g.ProjectID, g.ID)
	for _, rule := range g.Rules {
		if err := s.ruleRefs.Delete(ctx, g.ProjectID, rule.ID); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
	}
	return s.dropRemoteRules(ctx, g)
}

// dropRemoteRules removes the rules of g's project that name g as their
// remote group, as Neutron's foreign key cascades them.
func (s *Service) dropRemoteRules(ctx context.Context, g *secGroup) error {
	others, err := s.secGroups.List(ctx, g.ProjectID, registry.Page{})
	if err != nil {
		return err
	}
	for _, o := range others {
		var gone []string
		for _, rule := range o.Rules {
			if rule.RemoteGroupID == g.ID {
				gone = append(gone, rule.ID)
			}
		}
		if len(gone) == 0 {
			continue
		}
		if _, err := s.secGroups.Update(ctx, o.ProjectID, o.ID, func(cur *secGroup) error {
			kept := cur.Rules[:0]
			for _, rule := range cur.Rules {
				if rule.RemoteGroupID != g.ID {
					kept = append(kept, rule)
				}
			}
			cur.Rules = kept
			return nil
		}); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		for _, rid := range gone {
			_ = s.ruleRefs.Delete(ctx, o.ProjectID, rid)
		}
		s.groupChanged(ctx, o.ProjectID, o.ID)
	}
	return nil
}

// parseGroupIDs reads a port's security_groups: a list of UUIDs (null is
// the empty list), without duplicates.
func parseGroupIDs(a attrs) ([]string, error) {
	if a.isNull("security_groups") {
		return []string{}, nil
	}
	var ids []string
	if err := json.Unmarshal(a["security_groups"], &ids); err != nil {
		return nil, invalidAttr("security_groups", "'%s' is not a list", string(a["security_groups"]))
	}
	out := []string{}
	for _, id := range ids {
		if !uuidRE.MatchString(id) {
			return nil, invalidAttr("security_groups", "'%s' is not a valid UUID", id)
		}
		if slices.Contains(out, id) {
			return nil, invalidAttr("security_groups", "Duplicate items in the list: '%s'", id)
		}
		out = append(out, id)
	}
	return out, nil
}

// portGroups is the groups a new port gets: the ones asked for, else the
// project's default group, except for the network's own service ports
// (router interfaces, DHCP), which Neutron leaves without groups.
func (s *Service) portGroups(ctx context.Context, req portRequest) ([]string, error) {
	if req.groupsGiven {
		return req.groups, nil
	}
	if strings.HasPrefix(req.deviceOwner, "network:") {
		return []string{}, nil
	}
	id, err := s.ensureDefaultGroup(ctx, req.projectID)
	if err != nil {
		return nil, err
	}
	return []string{id}, nil
}

// attachGroups binds a port of projectID to groups, which must exist and
// belong to that project. Nothing stays bound when it fails.
func (s *Service) attachGroups(ctx context.Context, projectID, portID string, groups []string) error {
	if err := s.bindGroups(ctx, projectID, portID, groups); err != nil {
		return err
	}
	found, err := s.secGroups.GetMany(ctx, projectID, groups)
	if err != nil {
		s.unbindGroups(ctx, projectID, portID, groups)
		return err
	}
	if len(found) != len(groups) {
		var missing []string
		for _, id := range groups {
			if !slices.ContainsFunc(found, func(g *secGroup) bool { return g.ID == id }) {
				missing = append(missing, id)
			}
		}
		s.unbindGroups(ctx, projectID, portID, groups)
		return secGroupNotFound(strings.Join(missing, ", "))
	}
	return nil
}

// without returns the items of a that are not in b.
func without(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
