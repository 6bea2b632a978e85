package network

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// Subnet pools (Neutron's subnet_allocation extension): named sets of
// prefixes with prefix-length bounds, from which subnets take their CIDRs
// (subnetalloc.go). One pool per family may be the default, used by subnet
// creates that ask for use_default_subnetpool.

var subnetPoolFilters = []string{"id", "name", "description", "ip_version", "default_prefixlen", "min_prefixlen",
	"max_prefixlen", "shared", "is_default", "address_scope_id", "project_id", "tenant_id", "revision_number",
	"created_at", "updated_at"}

var subnetPoolCreateAttrs = []string{"name", "description", "prefixes", "default_prefixlen", "min_prefixlen",
	"max_prefixlen", "shared", "is_default", "address_scope_id", "default_quota", "project_id", "tenant_id"}

var subnetPoolUpdateAttrs = []string{"name", "description", "prefixes", "default_prefixlen", "min_prefixlen",
	"max_prefixlen", "is_default", "address_scope_id", "default_quota"}

func renderSubnetPool(sp *subnetPool) map[string]any {
	return map[string]any{
		"id": sp.ID, "name": sp.Name, "description": sp.Description, "prefixes": sp.Prefixes,
		"ip_version": sp.IPVersion, "default_prefixlen": sp.DefaultPrefixLen, "min_prefixlen": sp.MinPrefixLen,
		"max_prefixlen": sp.MaxPrefixLen, "shared": sp.Shared, "is_default": sp.IsDefault,
		"address_scope_id": nil, "default_quota": nil, "tags": []string{},
		"project_id": sp.ProjectID, "tenant_id": sp.ProjectID,
		"revision_number": sp.Revision, "created_at": stamp(sp.Created), "updated_at": stamp(sp.Updated),
	}
}

func subnetPoolNotFound(id string) *wire.Error {
	return wire.NotFound("Subnet pool %s could not be found.", id).WithType("SubnetPoolNotFound")
}

func canSeeSubnetPool(p *wire.Principal, sp *subnetPool) bool {
	return p.IsAdmin() || sp.ProjectID == p.ProjectID || sp.Shared
}

// subnetPool reads a pool the caller may see; anything else is
// SubnetPoolNotFound.
func (s *Service) subnetPool(ctx context.Context, p *wire.Principal, id string) (*subnetPool, error) {
	v, err := s.subnetPools.Lookup(ctx, id)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && !canSeeSubnetPool(p, v.Value)) {
		return nil, subnetPoolNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return v.Value, nil
}

func (s *Service) listSubnetPools(w http.ResponseWriter, r *http.Request) error {
	lq, err := parseList(r, subnetPoolFilters)
	if err != nil {
		return err
	}
	p := wire.PrincipalFrom(r.Context())
	all, err := s.subnetPools.List(r.Context(), "*", registry.Page{})
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(all))
	for _, sp := range all {
		if canSeeSubnetPool(p, sp) {
			items = append(items, renderSubnetPool(sp))
		}
	}
	return respond(w, r, lq, "subnetpools", "SubnetPool", items)
}

func (s *Service) showSubnetPool(w http.ResponseWriter, r *http.Request) error {
	sp, err := s.subnetPool(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"subnetpool": project(renderSubnetPool(sp), showFields(r))})
	return nil
}

func (s *Service) createSubnetPool(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	if !p.CanWrite() {
		return policyDenied("create_subnetpool")
	}
	a, err := readBody(r, "subnetpool", subnetPoolCreateAttrs)
	if err != nil {
		return err
	}
	projectID, err := a.project(p, "create_subnetpool")
	if err != nil {
		return err
	}
	if !a.has("prefixes") {
		return required("prefixes")
	}
	now := s.now()
	sp := &subnetPool{ID: s.opts.NewID(), ProjectID: projectID, Revision: 1, Created: now, Updated: now}
	if err := applySubnetPoolNames(a, sp); err != nil {
		return err
	}
	if err := subnetPoolUnsupported(a); err != nil {
		return err
	}
	shared, err := a.boolean("shared")
	if err != nil {
		return err
	}
	if shared != nil && *shared && !p.IsAdmin() {
		return policyDenied("create_subnetpool:shared")
	}
	if shared != nil {
		sp.Shared = *shared
	}
	def, err := defaultPoolAttr(a, p, "create_subnetpool:is_default", true)
	if err != nil {
		return err
	}
	if err := applySubnetPoolPrefixes(a, sp, nil); err != nil {
		return err
	}
	if def != nil && *def {
		if err := s.checkNoOtherDefault(ctx, sp.ID, sp.IPVersion); err != nil {
			return err
		}
		sp.IsDefault = true
	}
	release, err := s.reserveQuota(ctx, projectID, quotaSubnetPool, sp.ID)
	if err != nil {
		return err
	}
	defer release()
	if err := s.subnetPools.Create(ctx, projectID, sp.ID, now, sp); err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusCreated, map[string]any{"subnetpool": renderSubnetPool(sp)})
	return nil
}

// subnetPoolUnsupported refuses what this service does not implement:
// address scopes and per-pool quotas (default pools: refuseDefaultPool).
func subnetPoolUnsupported(a attrs) error {
	for _, name := range []string{"address_scope_id", "default_quota"} {
		if a.has(name) && !a.isNull(name) {
			return wire.NotImplemented("%s is not supported by this service.", name).WithType("NotImplementedError")
		}
	}
	return nil
}

// defaultPoolAttr reads is_default: only an admin may set it (Neutron's
// policy, which on create ignores the default value false).
func defaultPoolAttr(a attrs, p *wire.Principal, rule string, creating bool) (*bool, error) {
	def, err := a.boolean("is_default")
	if err != nil || def == nil || creating && !*def {
		return def, err
	}
	if !p.IsAdmin() {
		return nil, policyDenied(rule)
	}
	return def, nil
}

// checkNoOtherDefault refuses a second default pool of a family (Neutron's
// _check_default_subnetpool_exists). Like Neutron's, the check is not
// atomic with the write: two admins racing to set two defaults can both
// win, and use_default_subnetpool then takes the first listed.
func (s *Service) checkNoOtherDefault(ctx context.Context, id string, version int) error {
	all, err := s.subnetPools.List(ctx, "*", registry.Page{})
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.ID != id && o.IsDefault && o.IPVersion == version {
			return invalidInput("A default subnetpool for this IP family has already been set. Only one default may exist per IP family")
		}
	}
	return nil
}

func applySubnetPoolNames(a attrs, sp *subnetPool) error {
	if v, err := a.str("name", 255); err != nil {
		return err
	} else if v != nil {
		sp.Name = *v
	}
	if v, err := a.str("description", 255); err != nil {
		return err
	} else if v != nil {
		sp.Description = *v
	}
	return nil
}

func (s *Service) updateSubnetPool(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	id := r.PathValue("id")
	cur, err := s.subnetPool(ctx, p, id)
	if err != nil {
		return err
	}
	if cur.ProjectID != p.ProjectID && !p.IsAdmin() || !p.CanWrite() {
		return policyDenied("update_subnetpool")
	}
	a, err := readBody(r, "subnetpool", subnetPoolUpdateAttrs)
	if err != nil {
		return err
	}
	if err := subnetPoolUnsupported(a); err != nil {
		return err
	}
	def, err := defaultPoolAttr(a, p, "update_subnetpool:is_default", false)
	if err != nil {
		return err
	}
	if def != nil && *def {
		if err := s.checkNoOtherDefault(ctx, id, cur.IPVersion); err != nil {
			return err
		}
	}
	sp, err := s.subnetPools.Update(ctx, cur.ProjectID, id, func(sp *subnetPool) error {
		if err := applySubnetPoolNames(a, sp); err != nil {
			return err
		}
		if err := applySubnetPoolPrefixes(a, sp, sp.Prefixes); err != nil {
			return err
		}
		if def != nil {
			sp.IsDefault = *def
		}
		sp.Revision++
		sp.Updated = s.now()
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return subnetPoolNotFound(id)
	}
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"subnetpool": renderSubnetPool(sp)})
	return nil
}

func (s *Service) deleteSubnetPool(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	id := r.PathValue("id")
	cur, err := s.subnetPool(ctx, p, id)
	if err != nil {
		return err
	}
	if cur.ProjectID != p.ProjectID && !p.IsAdmin() || !p.CanWrite() {
		return policyDenied("delete_subnetpool")
	}
	// Mark the pool deleting in the same compare-and-set that finds it
	// unused, so no subnet can take a prefix between the check and the
	// delete (claimPoolPrefix refuses a pool so marked).
	_, err = s.subnetPools.Update(ctx, cur.ProjectID, id, func(sp *subnetPool) error {
		if len(sp.Allocations) > 0 {
			return wire.BadRequest("Unable to delete subnet pool: Subnet pool has existing allocations.").WithType("SubnetPoolDeleteError")
		}
		sp.Deleting = true
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return subnetPoolNotFound(id)
	} else if err != nil {
		return err
	}
	if err := s.subnetPools.Delete(ctx, cur.ProjectID, id); errors.Is(err, registry.ErrNotFound) {
		return subnetPoolNotFound(id)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stringList reads a list of strings (Neutron's type:list).
func (a attrs) stringList(name string) ([]string, error) {
	var v []string
	if err := json.Unmarshal(a[name], &v); err != nil || v == nil {
		return nil, invalidAttr(name, "'%s' is not a list", string(a[name]))
	}
	return v, nil
}
