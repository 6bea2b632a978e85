package network

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

var portFilters = []string{"id", "name", "description", "network_id", "mac_address", "admin_state_up", "status", "device_id",
	"device_owner", "project_id", "tenant_id", "binding:host_id", "binding:vnic_type", "fixed_ips", "revision_number",
	"created_at", "updated_at"}

var portCreateAttrs = []string{"name", "description", "network_id", "admin_state_up", "mac_address", "fixed_ips", "device_id",
	"device_owner", "binding:host_id", "binding:vnic_type", "binding:profile", "project_id", "tenant_id", "port_security_enabled",
	"security_groups", "allowed_address_pairs"}

var portUpdateAttrs = []string{"name", "description", "admin_state_up", "mac_address", "fixed_ips", "device_id", "device_owner",
	"binding:host_id", "binding:vnic_type", "binding:profile", "port_security_enabled", "security_groups", "allowed_address_pairs"}

var macRE = regexp.MustCompile(`^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$`)

func renderPort(pt *registry.Port, pairs []addressPair) map[string]any {
	ips := make([]map[string]any, 0, len(pt.FixedIPs))
	for _, f := range pt.FixedIPs {
		ips = append(ips, map[string]any{"subnet_id": f.SubnetID, "ip_address": f.IPAddress})
	}
	sgs := pt.SecurityGroups
	if sgs == nil {
		sgs = []string{}
	}
	tags := pt.Tags
	if tags == nil {
		tags = []string{}
	}
	vif := "unbound"
	if pt.BindingHost != "" {
		vif = "other"
	}
	return map[string]any{
		"id": pt.ID, "name": pt.Name, "description": pt.Description, "network_id": pt.NetworkID,
		"admin_state_up": pt.AdminStateUp, "mac_address": pt.MACAddress, "fixed_ips": ips,
		"device_id": pt.DeviceID, "device_owner": pt.DeviceOwner, "status": pt.Status,
		"security_groups": sgs, "tags": tags, "allowed_address_pairs": renderPairs(pt, pairs),
		"port_security_enabled": true,
		"binding:host_id":       pt.BindingHost, "binding:vif_type": vif, "binding:vif_details": map[string]any{},
		"binding:vnic_type": "normal", "binding:profile": map[string]any{},
		"project_id": pt.ProjectID, "tenant_id": pt.ProjectID,
		"revision_number": pt.Revision, "created_at": stamp(pt.Created), "updated_at": stamp(pt.Updated),
	}
}

// port reads a port of the caller's project (any, for an admin).
func (s *Service) port(ctx context.Context, p *wire.Principal, id string) (*registry.Port, error) {
	v, err := s.ports.Lookup(ctx, id)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && !p.IsAdmin() && v.Value.ProjectID != p.ProjectID) {
		return nil, portNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return v.Value, nil
}

func (s *Service) listPorts(w http.ResponseWriter, r *http.Request) error {
	lq, err := parseList(r, portFilters)
	if err != nil {
		return err
	}
	p := wire.PrincipalFrom(r.Context())
	scope := listScope(p)
	all, err := s.ports.List(r.Context(), scope, registry.Page{})
	if err != nil {
		return err
	}
	pairs, err := s.pairsOf(r.Context(), all)
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(all))
	for _, pt := range all {
		items = append(items, renderPort(pt, pairs[pt.ID]))
	}
	return respond(w, r, lq, "ports", "Port", items)
}

func (s *Service) showPort(w http.ResponseWriter, r *http.Request) error {
	pt, err := s.port(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	pairs, err := s.pairsOf(r.Context(), []*registry.Port{pt})
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"port": project(renderPort(pt, pairs[pt.ID]), showFields(r))})
	return nil
}

// portRequest is a validated port create.
type portRequest struct {
	projectID   string
	name, desc  string
	adminUp     bool
	mac         string
	fixedGiven  bool
	fixed       []fixedIPRequest
	deviceID    string
	deviceOwner string
	hostID      string
	groupsGiven bool
	groups      []string
}

type fixedIPRequest struct {
	subnetID string
	ip       netip.Addr // invalid when only a subnet is asked for
}

func (s *Service) createPort(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	if !p.CanWrite() {
		return policyDenied("create_port")
	}
	items, bulk, err := readBodies(r, "port", portCreateAttrs)
	if err != nil {
		return err
	}
	return s.createEach(w, r, "port", bulk, items, func(ctx context.Context, a attrs) (map[string]any, func(), error) {
		pt, pairs, err := s.createPortFrom(ctx, p, a)
		if err != nil {
			return nil, nil, err
		}
		return renderPort(pt, pairs), func() { _ = s.removePort(context.WithoutCancel(ctx), pt) }, nil
	})
}

// createPortFrom creates one port from its body.
func (s *Service) createPortFrom(ctx context.Context, p *wire.Principal, a attrs) (*registry.Port, []addressPair, error) {
	netID, err := a.uuid("network_id")
	if err != nil {
		return nil, nil, err
	}
	if netID == nil {
		return nil, nil, required("network_id")
	}
	n, err := s.network(ctx, p, *netID)
	if err != nil {
		return nil, nil, err
	}
	req := portRequest{adminUp: true}
	if req.projectID, err = a.project(p, "create_port"); err != nil {
		return nil, nil, err
	}
	if err := parsePortCommon(a, p, &req.name, &req.desc, &req.adminUp, &req.deviceID, &req.deviceOwner, &req.hostID, "create_port"); err != nil {
		return nil, nil, err
	}
	if v, err := a.str("mac_address", 0); err != nil {
		return nil, nil, err
	} else if v != nil {
		if !macRE.MatchString(*v) {
			return nil, nil, invalidAttr("mac_address", "'%s' is not a valid MAC address", *v)
		}
		if n.ProjectID != p.ProjectID && !p.IsAdmin() {
			return nil, nil, policyDenied("create_port:mac_address")
		}
		req.mac = strings.ToLower(*v)
	}
	if raw, ok := a["fixed_ips"]; ok {
		req.fixedGiven = true
		if req.fixed, err = parseFixedIPs(raw); err != nil {
			return nil, nil, err
		}
	}
	var pairs []addressPair
	if a.has("allowed_address_pairs") {
		if pairs, err = parseAddressPairs(a); err != nil {
			return nil, nil, err
		}
	}
	if a.has("security_groups") {
		req.groupsGiven = true
		if req.groups, err = parseGroupIDs(a); err != nil {
			return nil, nil, err
		}
	}
	id := s.opts.NewID()
	release, err := s.reserveQuota(ctx, req.projectID, quotaPort, id)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	pt, err := s.makePort(ctx, id, p.IsAdmin() || n.ProjectID == p.ProjectID, n, req)
	if err != nil {
		return nil, nil, err
	}
	if err := s.storePairs(ctx, pt, pairs); err != nil {
		_ = s.removePort(context.WithoutCancel(ctx), pt)
		return nil, nil, err
	}
	return pt, pairs, nil
}

// parsePortCommon reads the attributes create and update share.
func parsePortCommon(a attrs, p *wire.Principal, name, desc *string, up *bool, deviceID, deviceOwner, host *string, rule string) error {
	for _, f := range []struct {
		name string
		dst  *string
	}{{"name", name}, {"description", desc}, {"device_id", deviceID}, {"device_owner", deviceOwner}} {
		if v, err := a.str(f.name, 255); err != nil {
			return err
		} else if v != nil {
			*f.dst = *v
		}
	}
	if v, err := a.boolean("admin_state_up"); err != nil {
		return err
	} else if v != nil {
		*up = *v
	}
	if v, err := a.str("binding:host_id", 255); err != nil {
		return err
	} else if v != nil {
		if !p.IsAdmin() {
			return policyDenied(rule + ":binding:host_id")
		}
		*host = *v
	}
	if v, err := a.str("binding:vnic_type", 0); err != nil {
		return err
	} else if v != nil && *v != "normal" {
		return invalidInput("binding:vnic_type %s is not supported by this cloud; only normal is.", *v)
	}
	if raw, ok := a["binding:profile"]; ok && string(raw) != "{}" && string(raw) != "null" {
		return invalidInput("binding:profile is not supported by this cloud.")
	}
	if v, err := a.boolean("port_security_enabled"); err != nil {
		return err
	} else if v != nil && !*v {
		return invalidInput("port_security_enabled=false is not supported by this cloud.")
	}
	return nil
}

func parseFixedIPs(raw json.RawMessage) ([]fixedIPRequest, error) {
	var in []map[string]any
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, invalidAttr("fixed_ips", "'%s' is not a list of subnet_id/ip_address objects", string(raw))
	}
	out := make([]fixedIPRequest, 0, len(in))
	seen := map[netip.Addr]bool{}
	for _, f := range in {
		var fr fixedIPRequest
		for k, v := range f {
			sv, ok := v.(string)
			if !ok {
				return nil, invalidAttr("fixed_ips", "'%v' is not a valid value for %s", v, k)
			}
			switch k {
			case "subnet_id":
				if !uuidRE.MatchString(sv) {
					return nil, invalidAttr("fixed_ips", "'%s' is not a valid UUID", sv)
				}
				fr.subnetID = sv
			case "ip_address":
				ip, err := netip.ParseAddr(sv)
				if err != nil || ip.Zone() != "" {
					return nil, invalidAttr("fixed_ips", "'%s' is not a valid IP address", sv)
				}
				fr.ip = ip
			default:
				return nil, invalidAttr("fixed_ips", "Unrecognized attribute(s) '%s'", k)
			}
		}
		if fr.subnetID == "" && !fr.ip.IsValid() {
			return nil, invalidAttr("fixed_ips", "each entry needs a subnet_id or an ip_address")
		}
		if fr.ip.IsValid() {
			if seen[fr.ip] {
				return nil, invalidInput("Duplicate IP address '%s'", fr.ip)
			}
			seen[fr.ip] = true
		}
		out = append(out, fr)
	}
	return out, nil
}

// makePort creates port id on n: a MAC unique on the network, its addresses
// from the subnets' allocators, then the record. Anything taken is given
// back when a later step fails. ownerOrAdmin is Neutron's network-owner
// policy for choosing addresses.
func (s *Service) makePort(ctx context.Context, id string, ownerOrAdmin bool, n *registry.Network, req portRequest) (pt *registry.Port, err error) {
	rdb := s.reg.Client()
	subs, err := s.subnets.GetMany(ctx, "*", n.Subnets)
	if err != nil {
		return nil, err
	}
	mac, err := s.claimMAC(ctx, n, id, req.mac)
	if err != nil {
		return nil, err
	}
	groups, err := s.portGroups(ctx, req)
	if err != nil {
		return nil, err
	}
	var taken []registry.FixedIP
	defer func() {
		if err != nil {
			s.unbindGroups(ctx, req.projectID, id, groups)
			s.releaseIPs(ctx, id, taken)
			rdb.HDel(context.WithoutCancel(ctx), netMACsKey(n), mac)
			rdb.SRem(context.WithoutCancel(ctx), netPortsKey(n), id)
		}
	}()
	if err = s.joinNetwork(ctx, n, id); err != nil {
		return nil, err
	}
	if err = s.attachGroups(ctx, req.projectID, id, groups); err != nil {
		return nil, err
	}
	who := addressee{mac: mac, owner: req.deviceOwner}
	if req.fixedGiven {
		taken, err = s.allocateRequested(ctx, ownerOrAdmin, n, subs, id, who, req.fixed)
	} else {
		taken, err = s.allocateDefault(ctx, n, subs, id)
	}
	if err != nil {
		return nil, err
	}
	auto, err := s.assignAutoAddresses(ctx, subs, id, who, taken)
	if err != nil {
		return nil, err
	}
	taken = append(taken, auto...)
	now := s.now()
	pt = &registry.Port{
		ID: id, ProjectID: req.projectID, NetworkID: n.ID, Name: req.name, Description: req.desc,
		AdminStateUp: req.adminUp, MACAddress: mac, FixedIPs: taken, DeviceID: req.deviceID, DeviceOwner: req.deviceOwner,
		Status: "DOWN", SecurityGroups: groups, BindingHost: req.hostID, Tags: []string{},
		Revision: 1, Created: now, Updated: now,
	}
	if pt.FixedIPs == nil {
		pt.FixedIPs = []registry.FixedIP{}
	}
	if pt.DeviceID != "" {
		pt.Status = "ACTIVE"
	}
	if err = s.ports.Create(ctx, req.projectID, id, now, pt); err != nil {
		return nil, err
	}
	return pt, nil
}

// claimMAC reserves want (or a random fa:16:3e address) on n for port id.
func (s *Service) claimMAC(ctx context.Context, n *registry.Network, id, want string) (string, error) {
	rdb := s.reg.Client()
	if want != "" {
		ok, err := rdb.HSetNX(ctx, netMACsKey(n), want, id).Result()
		if err != nil {
			return "", err
		}
		if !ok {
			return "", conflict("MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use.", n.ID, want)
		}
		return want, nil
	}
	for range 16 {
		var b [3]byte
		_, _ = rand.Read(b[:])
		mac := fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
		ok, err := rdb.HSetNX(ctx, netMACsKey(n), mac, id).Result()
		if err != nil {
			return "", err
		}
		if ok {
			return mac, nil
		}
	}
	return "", conflict("MacAddressGenerationFailure", "Unable to generate unique mac on network %s.", n.ID)
}

// allocateRequested takes the addresses fixed_ips asks for. A subnet-only
// entry for an automatic IPv6 subnet takes nothing here (the port gets its
// EUI-64 address there anyway, see slaac.go), and an explicit address on
// one is refused, both unless who is a router interface.
func (s *Service) allocateRequested(ctx context.Context, ownerOrAdmin bool, n *registry.Network, subs []*registry.Subnet, portID string, who addressee, want []fixedIPRequest) ([]registry.FixedIP, error) {
	var taken []registry.FixedIP
	fail := func(err error) ([]registry.FixedIP, error) {
		s.releaseIPs(ctx, portID, taken)
		return nil, err
	}
	for _, f := range want {
		var sub *registry.Subnet
		for _, c := range subs {
			pfx, _ := netip.ParsePrefix(c.CIDR)
			if (f.subnetID == "" || c.ID == f.subnetID) && (!f.ip.IsValid() || pfx.Contains(f.ip)) {
				sub = c
				break
			}
		}
		if sub == nil {
			switch {
			case f.subnetID != "" && f.ip.IsValid() && containsID(subs, f.subnetID):
				return fail(invalidInput("IP address %s is not a valid IP for the specified subnet.", f.ip))
			case f.subnetID != "":
				return fail(invalidInput("Failed to create port on network %s, because fixed_ips included invalid subnet %s.", n.ID, f.subnetID))
			default:
				return fail(invalidInput("IP address %s is not a valid IP for any of the subnets on the specified network.", f.ip))
			}
		}
		if err := autoAddressOnly(sub, f.ip, who); err != nil {
			return fail(err)
		}
		if autoAddress(sub) && !who.routerInterface() {
			continue
		}
		ips, err := s.allocator(sub)
		if err != nil {
			return fail(err)
		}
		ip := f.ip
		if ip.IsValid() {
			if !ownerOrAdmin {
				return fail(policyDenied("create_port:fixed_ips:ip_address"))
			}
			if err := ips.Reserve(ctx, ip, portID); errors.Is(err, registry.ErrIPInUse) {
				return fail(conflict("IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", ip, sub.ID))
			} else if err != nil {
				return fail(err)
			}
		} else {
			ip, err = ips.Allocate(ctx, portID)
			if errors.Is(err, registry.ErrIPExhausted) {
				return fail(conflict("IpAddressGenerationFailure", "No more IP addresses available for subnet %s.", sub.ID))
			} else if err != nil {
				return fail(err)
			}
		}
		if err := s.keepAllocation(ctx, sub, ips, ip, portID); err != nil {
			return fail(err)
		}
		taken = append(taken, registry.FixedIP{SubnetID: sub.ID, IPAddress: ip.String()})
	}
	return taken, nil
}

func containsID(subs []*registry.Subnet, id string) bool {
	for _, s := range subs {
		if s.ID == id {
			return true
		}
	}
	return false
}

// allocateDefault gives a port one address per IP version, from the first
// subnet of that version with room, as Neutron does for a port without
// fixed_ips. Automatic IPv6 subnets are not among them: their addresses
// come from assignAutoAddresses.
func (s *Service) allocateDefault(ctx context.Context, n *registry.Network, subs []*registry.Subnet, portID string) ([]registry.FixedIP, error) {
	var taken []registry.FixedIP
	for _, ver := range []int{4, 6} {
		tried, done := false, false
		for _, sub := range subs {
			if sub.IPVersion != ver || len(sub.AllocationPools) == 0 || autoAddress(sub) {
				continue
			}
			tried = true
			ips, err := s.allocator(sub)
			if err != nil {
				s.releaseIPs(ctx, portID, taken)
				return nil, err
			}
			ip, err := ips.Allocate(ctx, portID)
			if errors.Is(err, registry.ErrIPExhausted) {
				continue
			}
			if err != nil {
				s.releaseIPs(ctx, portID, taken)
				return nil, err
			}
			if s.keepAllocation(ctx, sub, ips, ip, portID) != nil {
				continue // the subnet is being deleted
			}
			taken = append(taken, registry.FixedIP{SubnetID: sub.ID, IPAddress: ip.String()})
			done = true
			break
		}
		if tried && !done {
			s.releaseIPs(ctx, portID, taken)
			return nil, conflict("IpAddressGenerationFailure", "No more IP addresses available on network %s.", n.ID)
		}
	}
	return taken, nil
}

// releaseIPs gives a port's addresses back; it runs on cleanup paths, so it
// ignores cancellation and logs nothing itself (a leak is safe, a double
// allocation is not).
func (s *Service) releaseIPs(ctx context.Context, portID string, ips []registry.FixedIP) {
	ctx = context.WithoutCancel(ctx)
	for _, f := range ips {
		sub, err := s.subnets.Lookup(ctx, f.SubnetID)
		if err != nil {
			continue
		}
		a, err := s.allocator(sub.Value)
		ip, perr := netip.ParseAddr(f.IPAddress)
		if err != nil || perr != nil {
			continue
		}
		_ = a.Release(ctx, ip, portID)
	}
}

func (s *Service) deletePort(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	pt, err := s.port(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !p.CanWrite() {
		return policyDenied("delete_port")
	}
	if err := s.removePort(ctx, pt); errors.Is(err, registry.ErrNotFound) {
		return portNotFound(pt.ID)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// removePort deletes a port's record, then gives back its addresses and MAC
// (in that order: a crash in between leaks an address, never hands one out
// twice).
func (s *Service) removePort(ctx context.Context, pt *registry.Port) error {
	if err := s.ports.Delete(ctx, pt.ProjectID, pt.ID); err != nil {
		return err
	}
	if err := s.disassociatePort(ctx, pt); err != nil {
		return err
	}
	if err := s.storePairs(ctx, pt, nil); err != nil {
		return err
	}
	s.releaseIPs(ctx, pt.ID, pt.FixedIPs)
	s.unbindGroups(ctx, pt.ProjectID, pt.ID, pt.SecurityGroups)
	n, err := s.networks.Lookup(ctx, pt.NetworkID)
	if err != nil {
		return nil // the network is gone, and its keys with it
	}
	rdb := s.reg.Client()
	if owner, _ := rdb.HGet(ctx, netMACsKey(n.Value), pt.MACAddress).Result(); owner == pt.ID {
		rdb.HDel(ctx, netMACsKey(n.Value), pt.MACAddress)
	}
	return rdb.SRem(ctx, netPortsKey(n.Value), pt.ID).Err()
}
