package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

var networkFilters = []string{"id", "name", "description", "admin_state_up", "status", "shared", "router:external",
	"mtu", "project_id", "tenant_id", "revision_number", "created_at", "updated_at"}

var networkCreateAttrs = []string{"name", "description", "admin_state_up", "shared", "router:external", "mtu",
	"project_id", "tenant_id", "port_security_enabled", "availability_zone_hints"}

var networkUpdateAttrs = []string{"name", "description", "admin_state_up", "shared", "router:external", "mtu", "port_security_enabled"}

func (s *Service) renderNetwork(n *registry.Network) map[string]any {
	subnets := n.Subnets
	if subnets == nil {
		subnets = []string{}
	}
	tags := n.Tags
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{
		"id": n.ID, "name": n.Name, "description": n.Description,
		"admin_state_up": n.AdminStateUp, "status": n.Status,
		"shared": n.Shared, "router:external": n.External, "mtu": n.MTU,
		"subnets": subnets, "tags": tags,
		"project_id": n.ProjectID, "tenant_id": n.ProjectID,
		"availability_zone_hints": []string{}, "availability_zones": []string{s.opts.AvailabilityZone},
		"ipv4_address_scope": nil, "ipv6_address_scope": nil,
		"port_security_enabled": true, "l2_adjacency": true, "is_default": false,
		"revision_number": n.Revision, "created_at": stamp(n.Created), "updated_at": stamp(n.Updated),
	}
}

// canSeeNetwork is Neutron's get_network policy: owner, shared, external or admin.
func canSeeNetwork(p *wire.Principal, n *registry.Network) bool {
	return p.IsAdmin() || n.ProjectID == p.ProjectID || n.Shared || n.External
}

// network reads a network the caller may see; anything else is NetworkNotFound.
func (s *Service) network(ctx context.Context, p *wire.Principal, id string) (*registry.Network, error) {
	v, err := s.networks.Lookup(ctx, id)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && !canSeeNetwork(p, v.Value)) {
		return nil, networkNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return v.Value, nil
}

func (s *Service) listNetworks(w http.ResponseWriter, r *http.Request) error {
	lq, err := parseList(r, networkFilters)
	if err != nil {
		return err
	}
	p := wire.PrincipalFrom(r.Context())
	all, err := s.networks.List(r.Context(), "*", registry.Page{})
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(all))
	for _, n := range all {
		if canSeeNetwork(p, n) {
			items = append(items, s.renderNetwork(n))
		}
	}
	return respond(w, r, lq, "networks", "Network", items)
}

func (s *Service) showNetwork(w http.ResponseWriter, r *http.Request) error {
	n, err := s.network(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"network": project(s.renderNetwork(n), showFields(r))})
	return nil
}

func (s *Service) createNetwork(w http.ResponseWriter, r *http.Request) error {
	p := wire.PrincipalFrom(r.Context())
	if !p.CanWrite() {
		return policyDenied("create_network")
	}
	items, bulk, err := readBodies(r, "network", networkCreateAttrs)
	if err != nil {
		return err
	}
	return s.createEach(w, r, "network", bulk, items, func(ctx context.Context, a attrs) (map[string]any, func(), error) {
		n, err := s.createNetworkFrom(ctx, p, a)
		if err != nil {
			return nil, nil, err
		}
		return s.renderNetwork(n), func() { s.undoNetwork(ctx, n) }, nil
	})
}

// createNetworkFrom creates one network from a validated-to-be body.
func (s *Service) createNetworkFrom(ctx context.Context, p *wire.Principal, a attrs) (*registry.Network, error) {
	projectID, err := a.project(p, "create_network")
	if err != nil {
		return nil, err
	}
	now := s.now()
	n := &registry.Network{ID: s.opts.NewID(), ProjectID: projectID, AdminStateUp: true, MTU: s.opts.MTU,
		Status: "ACTIVE", Subnets: []string{}, Tags: []string{}, Revision: 1, Created: now, Updated: now}
	if err := s.applyNetworkAttrs(p, a, n, "create_network"); err != nil {
		return nil, err
	}
	if hints, ok := a["availability_zone_hints"]; ok {
		var hs []string
		if err := json.Unmarshal(hints, &hs); err != nil {
			return nil, invalidAttr("availability_zone_hints", "'%s' is not a list", string(hints))
		}
		for _, h := range hs {
			if h != s.opts.AvailabilityZone {
				return nil, wire.NotFound("AvailabilityZone %s could not be found.", h).WithType("AvailabilityZoneNotFound")
			}
		}
	}
	release, err := s.reserveQuota(ctx, projectID, quotaNetwork, n.ID)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.networks.Create(ctx, projectID, n.ID, now, n); err != nil {
		return nil, err
	}
	return n, nil
}

// undoNetwork removes a network a failed bulk create made (it has no
// subnets or ports yet).
func (s *Service) undoNetwork(ctx context.Context, n *registry.Network) {
	_ = s.networks.Delete(context.WithoutCancel(ctx), n.ProjectID, n.ID)
}

// applyNetworkAttrs validates and applies the writable attributes of a
// network body (create and update share them).
func (s *Service) applyNetworkAttrs(p *wire.Principal, a attrs, n *registry.Network, rule string) error {
	if v, err := a.str("name", 255); err != nil {
		return err
	} else if v != nil {
		n.Name = *v
	}
	if v, err := a.str("description", 255); err != nil {
		return err
	} else if v != nil {
		n.Description = *v
	}
	if v, err := a.boolean("admin_state_up"); err != nil {
		return err
	} else if v != nil {
		n.AdminStateUp = *v
	}
	if v, err := a.boolean("shared"); err != nil {
		return err
	} else if v != nil {
		if *v != n.Shared && !p.IsAdmin() {
			return policyDenied(rule + ":shared")
		}
		n.Shared = *v
	}
	if v, err := a.boolean("router:external"); err != nil {
		return err
	} else if v != nil {
		if *v != n.External && !p.IsAdmin() {
			return policyDenied(rule + ":router:external")
		}
		n.External = *v
	}
	if v, err := a.integer("mtu"); err != nil {
		return err
	} else if v != nil {
		if *v < 68 || *v > 9000 {
			return invalidAttr("mtu", "'%d' is not in range 68 through 9000", *v)
		}
		n.MTU = *v
	}
	if v, err := a.boolean("port_security_enabled"); err != nil {
		return err
	} else if v != nil && !*v {
		return invalidInput("port_security_enabled=false is not supported by this cloud.")
	}
	return nil
}

func (s *Service) updateNetwork(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	id := r.PathValue("id")
	cur, err := s.network(ctx, p, id)
	if err != nil {
		return err
	}
	if cur.ProjectID != p.ProjectID && !p.IsAdmin() || !p.CanWrite() {
		return policyDenied("update_network")
	}
	a, err := readBody(r, "network", networkUpdateAttrs)
	if err != nil {
		return err
	}
	n, err := s.networks.Update(ctx, cur.ProjectID, id, func(n *registry.Network) error {
		if err := s.applyNetworkAttrs(p, a, n, "update_network"); err != nil {
			return err
		}
		n.Revision++
		n.Updated = s.now()
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return networkNotFound(id)
	}
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"network": s.renderNetwork(n)})
	return nil
}

// isServicePort reports device owners whose ports Neutron removes together
// with their network (AUTO_DELETE_PORT_OWNERS: DHCP and distributed ports).
// Router interfaces and gateways keep the network in use.
func isServicePort(owner string) bool {
	return owner == "network:dhcp" || owner == "network:distributed"
}

func (s *Service) deleteNetwork(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	id := r.PathValue("id")
	n, err := s.network(ctx, p, id)
	if err != nil {
		return err
	}
	if n.ProjectID != p.ProjectID && !p.IsAdmin() || !p.CanWrite() {
		return policyDenied("delete_network")
	}
	ids, unlock, err := s.lockNetworkForDelete(ctx, n)
	if err != nil {
		return err
	}
	slices.Sort(ids)
	ports, err := s.ports.GetMany(ctx, "*", ids)
	if err != nil {
		unlock()
		return err
	}
	inUse := len(ports) < len(ids) // a port create in flight
	for _, pt := range ports {
		inUse = inUse || !isServicePort(pt.DeviceOwner)
	}
	if inUse {
		unlock()
		return conflict("NetworkInUse", "Unable to complete operation on network %s. There are one or more ports still in use on the network.", id)
	}
	for _, pt := range ports {
		if err := s.removePort(ctx, pt); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
	}
	for _, sid := range n.Subnets {
		sub, err := s.subnets.Lookup(ctx, sid)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := s.dropSubnet(ctx, sub.Project, sub.Value); err != nil {
			return err
		}
	}
	if err := s.networks.Delete(ctx, n.ProjectID, id); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	if err := s.reg.Client().Del(ctx, netPortsKey(n), netMACsKey(n)).Err(); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// netPortsKey is the set of a network's port ids, in the network's slot.
func netPortsKey(n *registry.Network) string {
	return registry.Key(n.ProjectID, "net", n.ID, "ports")
}

// netMACsKey maps the MAC addresses in use on a network to their ports.
func netMACsKey(n *registry.Network) string {
	return registry.Key(n.ProjectID, "net", n.ID, "macs")
}

// networkPorts reads every port on n (any project's).
func (s *Service) networkPorts(ctx context.Context, n *registry.Network) ([]*registry.Port, error) {
	ids, err := s.reg.Client().SMembers(ctx, netPortsKey(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("network ports: %w", err)
	}
	slices.Sort(ids)
	return s.ports.GetMany(ctx, "*", ids)
}
