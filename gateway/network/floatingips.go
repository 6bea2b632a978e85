package network

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/redis/go-redis/v9"
)

var floatingIPFilters = []string{"id", "description", "floating_network_id", "port_id", "router_id", "fixed_ip_address",
	"floating_ip_address", "status", "project_id", "tenant_id", "revision_number", "created_at", "updated_at"}

var floatingIPCreateAttrs = []string{"floating_network_id", "port_id", "fixed_ip_address", "floating_ip_address", "subnet_id",
	"description", "project_id", "tenant_id"}

var floatingIPUpdateAttrs = []string{"port_id", "fixed_ip_address", "description"}

// ownerFloatingIP is the device owner of the hidden port that holds a
// floating IP's address on the external network.
const ownerFloatingIP = "network:floatingip"

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func renderFloatingIP(f *floatingIP) map[string]any {
	status := "DOWN"
	if f.PortID != "" {
		status = "ACTIVE"
	}
	return map[string]any{
		"id": f.ID, "floating_ip_address": f.Address, "floating_network_id": f.NetworkID,
		"router_id": nullable(f.RouterID), "port_id": nullable(f.PortID), "fixed_ip_address": nullable(f.FixedIP),
		"status": status, "description": f.Description, "tags": []string{},
		"project_id": f.ProjectID, "tenant_id": f.ProjectID,
		"revision_number": f.Revision, "created_at": stamp(f.Created), "updated_at": stamp(f.Updated),
	}
}

func floatingIPNotFound(id string) *wire.Error {
	return wire.NotFound("Floating IP %s could not be found", id).WithType("FloatingIPNotFound")
}

// floatingIP reads a floating IP of the caller's project (any, for an admin).
func (s *Service) floatingIP(ctx context.Context, p *wire.Principal, id string) (*floatingIP, error) {
	v, err := s.fips.Lookup(ctx, id)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && !p.IsAdmin() && v.Value.ProjectID != p.ProjectID) {
		return nil, floatingIPNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return v.Value, nil
}

func (s *Service) listFloatingIPs(w http.ResponseWriter, r *http.Request) error {
	lq, err := parseList(r, floatingIPFilters)
	if err != nil {
		return err
	}
	p := wire.PrincipalFrom(r.Context())
	scope := listScope(p)
	all, err := s.fips.List(r.Context(), scope, registry.Page{})
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(all))
	for _, f := range all {
		items = append(items, renderFloatingIP(f))
	}
	return respond(w, r, lq, "floatingips", "FloatingIP", items)
}

func (s *Service) showFloatingIP(w http.ResponseWriter, r *http.Request) error {
	f, err := s.floatingIP(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"floatingip": project(renderFloatingIP(f), showFields(r))})
	return nil
}

// fipTarget is the port_id/fixed_ip_address part of a body.
type fipTarget struct {
	portGiven bool   // port_id present (null: disassociate)
	portID    string // "" when null
	fixedIP   string
}

func parseFIPTarget(a attrs) (fipTarget, error) {
	var t fipTarget
	if a.has("port_id") {
		t.portGiven = true
		if !a.isNull("port_id") {
			v, err := a.uuid("port_id")
			if err != nil {
				return t, err
			}
			t.portID = *v
		}
	}
	if a.has("fixed_ip_address") && !a.isNull("fixed_ip_address") {
		ip, err := parseIP(a, "fixed_ip_address")
		if err != nil {
			return t, err
		}
		t.fixedIP = ip.String()
	}
	if t.fixedIP != "" && t.portID == "" {
		return t, badFloatingIP("fixed_ip_address cannot be specified without a port_id")
	}
	return t, nil
}

func (s *Service) createFloatingIP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	if !p.CanWrite() {
		return policyDenied("create_floatingip")
	}
	a, err := readBody(r, "floatingip", floatingIPCreateAttrs)
	if err != nil {
		return err
	}
	netID, err := a.uuid("floating_network_id")
	if err != nil {
		return err
	}
	if netID == nil {
		return required("floating_network_id")
	}
	projectID, err := a.project(p, "create_floatingip")
	if err != nil {
		return err
	}
	target, err := parseFIPTarget(a)
	if err != nil {
		return err
	}
	desc, err := a.str("description", 255)
	if err != nil {
		return err
	}
	var want fixedIPRequest
	if v, err := a.uuid("subnet_id"); err != nil {
		return err
	} else if v != nil {
		want.subnetID = *v
	}
	if a.has("floating_ip_address") && !a.isNull("floating_ip_address") {
		if want.ip, err = parseIP(a, "floating_ip_address"); err != nil {
			return err
		}
		if !p.IsAdmin() {
			return policyDenied("create_floatingip:floating_ip_address")
		}
	}
	n, err := s.network(ctx, p, *netID)
	if err != nil {
		return err
	}
	if !n.External {
		return badFloatingIP("Network %s is not a valid external network", n.ID)
	}
	subs, err := s.subnets.GetMany(ctx, "*", n.Subnets)
	if err != nil {
		return err
	}
	if !hasIPv4(subs) {
		return badFloatingIP("Network %s does not contain any IPv4 subnet", n.ID)
	}
	f := &floatingIP{ID: s.opts.NewID(), ProjectID: projectID, NetworkID: n.ID}
	if desc != nil {
		f.Description = *desc
	}
	var next association
	if target.portID != "" {
		if next, err = s.resolveAssociation(ctx, p, f, target.portID, target.fixedIP); err != nil {
			return err
		}
	}
	release, err := s.reserveQuota(ctx, projectID, quotaFloatingIP, f.ID)
	if err != nil {
		return err
	}
	defer release()
	if err := s.allocateFloatingAddress(ctx, n, f, want); err != nil {
		return err
	}
	if next.PortID != "" {
		if err := s.claim(ctx, f, next); err != nil {
			s.dropExternalPort(ctx, f)
			return err
		}
		f.setAssociation(next)
	}
	now := s.now()
	f.Revision, f.Created, f.Updated = 1, now, now
	if err := s.fips.Create(ctx, projectID, f.ID, now, f); err != nil {
		s.unclaim(ctx, f, next)
		s.dropExternalPort(ctx, f)
		return err
	}
	if next.PortID != "" {
		if _, err := s.ports.Get(ctx, next.PortProject, next.PortID); errors.Is(err, registry.ErrNotFound) {
			if f, err = s.associate(ctx, f, association{}, nil); err != nil {
				return err
			}
		}
		s.floatingIPChanged(ctx, f.ProjectID, f.ID)
	}
	wire.WriteJSON(w, http.StatusCreated, map[string]any{"floatingip": renderFloatingIP(f)})
	return nil
}

func hasIPv4(subs []*registry.Subnet) bool {
	for _, sub := range subs {
		if sub.IPVersion == 4 {
			return true
		}
	}
	return false
}

// allocateFloatingAddress makes f's hidden port on the external network
// and takes its first IPv4 address (from want's subnet or address when
// given).
func (s *Service) allocateFloatingAddress(ctx context.Context, n *registry.Network, f *floatingIP, want fixedIPRequest) error {
	req := portRequest{adminUp: true, deviceID: f.ID, deviceOwner: ownerFloatingIP}
	if want.subnetID != "" || want.ip.IsValid() {
		req.fixedGiven, req.fixed = true, []fixedIPRequest{want}
	} else {
		subs, err := s.subnets.GetMany(ctx, "*", n.Subnets)
		if err != nil {
			return err
		}
		for _, sub := range subs {
			if sub.IPVersion == 4 && len(sub.AllocationPools) > 0 {
				req.fixedGiven, req.fixed = true, []fixedIPRequest{{subnetID: sub.ID}}
				break
			}
		}
	}
	pt, err := s.makePort(ctx, s.opts.NewID(), true, n, req)
	var apiErr *wire.Error
	if errors.As(err, &apiErr) && apiErr.Type == "IpAddressGenerationFailure" {
		return conflict("ExternalIpAddressExhausted", "Unable to find any IP address on external network %s.", n.ID)
	}
	if err != nil {
		return err
	}
	f.ExternalPort = pt.ID
	for _, ip := range pt.FixedIPs {
		if a, err := netip.ParseAddr(ip.IPAddress); err == nil && a.Is4() {
			f.Address = ip.IPAddress
			return nil
		}
	}
	s.dropExternalPort(ctx, f)
	return conflict("ExternalIpAddressExhausted", "Unable to find any IP address on external network %s.", n.ID)
}

// dropExternalPort removes f's hidden port, giving its address back.
func (s *Service) dropExternalPort(ctx context.Context, f *floatingIP) {
	if f.ExternalPort == "" {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if pt, err := s.ports.Get(ctx, "", f.ExternalPort); err == nil {
		_ = s.removePort(ctx, pt)
	}
}

func (s *Service) updateFloatingIP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	cur, err := s.floatingIP(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !p.CanWrite() {
		return policyDenied("update_floatingip")
	}
	a, err := readBody(r, "floatingip", floatingIPUpdateAttrs)
	if err != nil {
		return err
	}
	target, err := parseFIPTarget(a)
	if err != nil {
		return err
	}
	desc, err := a.str("description", 255)
	if err != nil {
		return err
	}
	next := cur.association()
	switch {
	case target.portID != "":
		if next, err = s.resolveAssociation(ctx, p, cur, target.portID, target.fixedIP); err != nil {
			return err
		}
	case target.portGiven:
		next = association{}
	}
	f, err := s.associate(ctx, cur, next, desc)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"floatingip": renderFloatingIP(f)})
	return nil
}

func (s *Service) deleteFloatingIP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	f, err := s.floatingIP(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !p.CanWrite() {
		return policyDenied("delete_floatingip")
	}
	if err := s.fips.Delete(ctx, f.ProjectID, f.ID); errors.Is(err, registry.ErrNotFound) {
		return floatingIPNotFound(f.ID)
	} else if err != nil {
		return err
	}
	s.unclaim(ctx, f, f.association())
	s.dropExternalPort(ctx, f)
	s.floatingIPDeleted(ctx, f.ProjectID, f.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// FloatingIPsOfPorts returns the floating addresses that point at each of
// portIDs (ports of projectID), for the broker to show a server's
// OS-EXT-IPS:type "floating" addresses. Ports without one are absent.
func (s *Service) FloatingIPsOfPorts(ctx context.Context, projectID string, portIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(portIDs) == 0 {
		return out, nil
	}
	pipe := s.reg.Client().Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(portIDs))
	for i, id := range portIDs {
		cmds[i] = pipe.HVals(ctx, fipClaimsKey(projectID, id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range cmds {
		for _, id := range c.Val() {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	fips, err := s.fips.GetMany(ctx, "*", ids)
	if err != nil {
		return nil, err
	}
	for _, f := range fips {
		if f.PortID != "" && f.PortProject == projectID {
			out[f.PortID] = append(out[f.PortID], f.Address)
		}
	}
	return out, nil
}
