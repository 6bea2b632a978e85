package network

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// A port update takes everything new first (addresses from the allocators,
// the new MAC on the network, new security groups), then changes the record
// with a compare-and-set, then gives back what the port no longer holds.
// A failure at any step gives back only what was taken, so the port keeps
// its old addresses and MAC.

func (s *Service) updatePort(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	id := r.PathValue("id")
	cur, err := s.port(ctx, p, id)
	if err != nil {
		return err
	}
	if !p.CanWrite() {
		return policyDenied("update_port")
	}
	a, err := readBody(r, "port", portUpdateAttrs)
	if err != nil {
		return err
	}
	var pairs []addressPair
	if a.has("allowed_address_pairs") {
		if pairs, err = parseAddressPairs(a); err != nil {
			return err
		}
	}
	var groups []string
	if a.has("security_groups") {
		if groups, err = parseGroupIDs(a); err != nil {
			return err
		}
	}
	ch, err := s.takePortChanges(ctx, p, cur, a)
	if err != nil {
		return err
	}
	if a.has("security_groups") {
		if err := s.checkPortGroups(ctx, cur, groups); err != nil {
			ch.giveBack(ctx, s, cur)
			return err
		}
		if err := s.attachGroups(ctx, cur.ProjectID, id, without(groups, cur.SecurityGroups)); err != nil {
			ch.giveBack(ctx, s, cur)
			return err
		}
	}
	var before []string
	pt, err := s.ports.Update(ctx, cur.ProjectID, id, func(pt *registry.Port) error {
		before = pt.SecurityGroups
		if ch.fixedGiven {
			if !slices.Equal(pt.FixedIPs, cur.FixedIPs) {
				return conflict("IpAddressAlreadyAllocated", "The fixed IPs of port %s changed during the update; retry it.", id)
			}
			pt.FixedIPs = ch.fixed
		}
		if ch.mac != "" {
			pt.MACAddress = ch.mac
		}
		if a.has("security_groups") {
			pt.SecurityGroups = groups
		}
		if err := parsePortCommon(a, p, &pt.Name, &pt.Description, &pt.AdminStateUp, &pt.DeviceID, &pt.DeviceOwner, &pt.BindingHost, "update_port"); err != nil {
			return err
		}
		pt.Status = "DOWN"
		if pt.DeviceID != "" {
			pt.Status = "ACTIVE"
		}
		pt.Revision++
		pt.Updated = s.now()
		return nil
	})
	if err != nil {
		s.unbindGroups(ctx, cur.ProjectID, id, without(groups, cur.SecurityGroups))
		ch.giveBack(ctx, s, cur)
		if errors.Is(err, registry.ErrNotFound) {
			return portNotFound(id)
		}
		return err
	}
	if a.has("security_groups") {
		s.unbindGroups(ctx, cur.ProjectID, id, without(before, groups))
		s.portGroupsChanged(ctx, cur.ProjectID, id)
	}
	ch.dropOld(ctx, s, cur)
	if a.has("allowed_address_pairs") {
		if err := s.storePairs(ctx, pt, pairs); err != nil {
			return err
		}
	} else {
		got, err := s.pairsOf(ctx, []*registry.Port{pt})
		if err != nil {
			return err
		}
		pairs = got[pt.ID]
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"port": renderPort(pt, pairs)})
	return nil
}

// portChanges is what an update took before changing the record.
type portChanges struct {
	n          *registry.Network
	fixedGiven bool
	fixed      []registry.FixedIP // the new list, when fixedGiven
	added      []registry.FixedIP // addresses taken for it
	removed    []registry.FixedIP // addresses to give back after
	mac        string             // the new MAC, claimed ("" unchanged)
}

// takePortChanges validates fixed_ips and mac_address and takes the new
// addresses and MAC.
func (s *Service) takePortChanges(ctx context.Context, p *wire.Principal, cur *registry.Port, a attrs) (*portChanges, error) {
	ch := &portChanges{}
	if !a.has("fixed_ips") && !a.has("mac_address") {
		return ch, nil
	}
	n, err := s.networks.Lookup(ctx, cur.NetworkID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, networkNotFound(cur.NetworkID)
	}
	if err != nil {
		return nil, err
	}
	ch.n = n.Value
	ownerOrAdmin := p.IsAdmin() || n.Value.ProjectID == p.ProjectID
	if a.has("mac_address") {
		v, err := a.str("mac_address", 0)
		if err != nil {
			return nil, err
		}
		if !macRE.MatchString(*v) {
			return nil, invalidAttr("mac_address", "'%s' is not a valid MAC address", *v)
		}
		if !p.IsAdmin() {
			return nil, policyDenied("update_port:mac_address")
		}
		mac := strings.ToLower(*v)
		if mac != cur.MACAddress {
			if cur.BindingHost != "" {
				return nil, conflict("PortBound", "Unable to complete operation on port %s, port is already bound, port type: other, old_mac %s, new_mac %s.", cur.ID, cur.MACAddress, mac)
			}
			if _, err := s.claimMAC(ctx, n.Value, cur.ID, mac); err != nil {
				return nil, err
			}
			ch.mac = mac
		}
	}
	subs, err := s.subnets.GetMany(ctx, "*", n.Value.Subnets)
	if err != nil {
		ch.giveBack(ctx, s, cur)
		return nil, err
	}
	who := addressee{mac: cur.MACAddress, owner: cur.DeviceOwner}
	if ch.mac != "" {
		who.mac = ch.mac
	}
	if v, err := a.str("device_owner", 255); err == nil && v != nil {
		who.owner = *v
	}
	if a.has("fixed_ips") {
		want, err := parseFixedIPs(a["fixed_ips"])
		if err != nil {
			ch.giveBack(ctx, s, cur)
			return nil, err
		}
		kept, add, removed := changedIPs(cur.FixedIPs, want)
		kept, removed = keepAutoAddresses(subs, who, kept, removed)
		ch.added, err = s.allocateRequested(ctx, ownerOrAdmin, n.Value, subs, cur.ID, who, add)
		if err != nil {
			ch.giveBack(ctx, s, cur)
			return nil, err
		}
		ch.fixedGiven, ch.fixed = true, append(append([]registry.FixedIP{}, kept...), ch.added...)
		ch.removed = removed
	}
	if ch.mac != "" {
		fixed := cur.FixedIPs
		if ch.fixedGiven {
			fixed = ch.fixed
		}
		next, added, old, err := s.readdressForMAC(ctx, subs, cur.ID, ch.mac, fixed)
		if err != nil {
			ch.giveBack(ctx, s, cur)
			return nil, err
		}
		if len(added) > 0 {
			ch.fixedGiven, ch.fixed = true, next
			ch.added = append(ch.added, added...)
			ch.removed = append(ch.removed, old...)
		}
	}
	return ch, nil
}

// keepAutoAddresses moves the port's addresses on automatic IPv6 subnets
// back from removed to kept: fixed_ips that leave them out does not drop
// them (Neutron's _get_changed_ips_for_port keeps addresses a subnet does
// not require to be listed), except on a router interface.
func keepAutoAddresses(subs []*registry.Subnet, who addressee, kept, removed []registry.FixedIP) ([]registry.FixedIP, []registry.FixedIP) {
	if who.routerInterface() {
		return kept, removed
	}
	var gone []registry.FixedIP
	for _, f := range removed {
		i := slices.IndexFunc(subs, func(sub *registry.Subnet) bool { return sub.ID == f.SubnetID })
		if i >= 0 && autoAddress(subs[i]) {
			kept = append(kept, f)
		} else {
			gone = append(gone, f)
		}
	}
	return kept, gone
}

// changedIPs is Neutron's _get_changed_ips_for_port: requested addresses
// the port holds are kept, a subnet-only request reuses the port's address
// on that subnet, everything else is added; what is left is removed.
func changedIPs(orig []registry.FixedIP, want []fixedIPRequest) (kept []registry.FixedIP, add []fixedIPRequest, removed []registry.FixedIP) {
	left := slices.Clone(orig)
	for _, w := range want {
		if !w.ip.IsValid() {
			continue
		}
		i := slices.IndexFunc(left, func(f registry.FixedIP) bool { return f.IPAddress == w.ip.String() })
		if i >= 0 && (w.subnetID == "" || w.subnetID == left[i].SubnetID) {
			kept = append(kept, left[i])
			left = slices.Delete(left, i, i+1)
		} else {
			add = append(add, w)
		}
	}
	for _, w := range want {
		if w.ip.IsValid() {
			continue
		}
		i := slices.IndexFunc(left, func(f registry.FixedIP) bool { return f.SubnetID == w.subnetID })
		if i >= 0 {
			kept = append(kept, left[i])
			left = slices.Delete(left, i, i+1)
		} else {
			add = append(add, w)
		}
	}
	return kept, add, left
}

// giveBack releases what an update took (it failed).
func (ch *portChanges) giveBack(ctx context.Context, s *Service, cur *registry.Port) {
	s.releaseIPs(ctx, cur.ID, ch.added)
	if ch.mac != "" {
		s.releaseMAC(ctx, ch.n, cur.ID, ch.mac)
	}
}

// dropOld releases what the port no longer holds (the update is stored).
func (ch *portChanges) dropOld(ctx context.Context, s *Service, cur *registry.Port) {
	s.releaseIPs(ctx, cur.ID, ch.removed)
	if ch.mac != "" {
		s.releaseMAC(ctx, ch.n, cur.ID, cur.MACAddress)
	}
}

// releaseMAC frees mac on n if port holds it.
func (s *Service) releaseMAC(ctx context.Context, n *registry.Network, portID, mac string) {
	ctx = context.WithoutCancel(ctx)
	releaseClaimScript.Run(ctx, s.reg.Client(), []string{netMACsKey(n)}, mac, portID)
}
