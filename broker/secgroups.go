package broker

import (
	"context"
	"errors"
	"slices"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// SecurityGroups is what the broker needs of the network service for Nova's
// security-group actions: groups live on the server's ports in Neutron, so
// adding one to a server adds it to every port the server has.
// gateway/network implements it; SetSecurityGroups wires it in.
type SecurityGroups interface {
	// ResolveSecurityGroup finds a group of projectID by id or by name (the
	// project's "default" group exists on first need). Unknown reads as
	// registry.ErrNotFound; a name several groups share is ErrConflict.
	ResolveSecurityGroup(ctx context.Context, projectID, nameOrID string) (id, name string, err error)
	// PortSecurityGroups returns the ids of the groups a port uses.
	PortSecurityGroups(ctx context.Context, projectID, portID string) ([]string, error)
	// UpdatePortSecurityGroups adds and removes groups (ids) on a port, in
	// one compare-and-set. Adding a group the port has, or removing one it
	// has not, changes nothing (idempotent under retry).
	UpdatePortSecurityGroups(ctx context.Context, projectID, portID string, add, remove []string) error
	// SecurityGroupDetails returns the groups with these ids, with their
	// rules, for Nova's os-security-groups views.
	SecurityGroupDetails(ctx context.Context, projectID string, ids []string) ([]SecurityGroup, error)
}

// SecurityGroup is a group as Nova's proxy API shows it.
type SecurityGroup struct {
	ID          string
	Name        string
	Description string
	ProjectID   string
	Rules       []SecurityGroupRule
}

// SecurityGroupRule is one rule of a group; Nova shows the ingress ones.
type SecurityGroupRule struct {
	ID           string
	Direction    string // ingress | egress
	Protocol     string // "" for any
	FromPort     *int
	ToPort       *int
	CIDR         string // remote_ip_prefix
	RemoteGroup  string // name of the remote group, when the rule names one
	RemoteTenant string
}

// SetSecurityGroups wires the network service's groups in. Call it before
// the broker serves; without it the security-group actions answer 501.
func (b *Broker) SetSecurityGroups(sg SecurityGroups) { b.secgroups = sg }

// serverPorts is the ids of the ports a server has, in address order.
func serverPorts(s *registry.Server) []string {
	var out []string
	for _, a := range s.Addresses {
		if a.PortID != "" && !slices.Contains(out, a.PortID) {
			out = append(out, a.PortID)
		}
	}
	return out
}

// resolveGroup resolves a group for the Nova actions, with Nova's faults.
func (b *Broker) resolveGroup(ctx context.Context, s *registry.Server, op, nameOrID string) (string, string, error) {
	if b.secgroups == nil {
		return "", "", proxies.Errorf(proxies.ErrNotSupported, op, "Security groups are not available in this cloud.")
	}
	id, name, err := b.secgroups.ResolveSecurityGroup(ctx, s.ProjectID, nameOrID)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return "", "", notFound(op, "Security group %s not found for project %s.", nameOrID, s.ProjectID)
	case errors.Is(err, proxies.ErrConflict):
		return "", "", conflict(op, "Multiple security groups found matching '%s'. Use an ID to be more specific.", nameOrID)
	}
	return id, name, err
}

// AddSecurityGroup adds a group to every port of a server (Nova's
// addSecurityGroup) and to the names the server shows.
func (b *Broker) AddSecurityGroup(ctx context.Context, c Caller, id, nameOrID string) error {
	const op = "addSecurityGroup"
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return err
	}
	gid, gname, err := b.resolveGroup(ctx, s, op, nameOrID)
	if err != nil {
		return err
	}
	ports := serverPorts(s)
	if len(ports) == 0 {
		return notFound(op, "instance_id %s could not be found as device id on any ports", id)
	}
	for _, p := range ports {
		if err := b.secgroups.UpdatePortSecurityGroups(ctx, s.ProjectID, p, []string{gid}, nil); err != nil {
			return err
		}
	}
	_, err = b.UpdateServer(ctx, c, id, func(cur *registry.Server) error {
		if !slices.Contains(cur.SecurityGroups, gname) {
			cur.SecurityGroups = append(slices.Clip(cur.SecurityGroups), gname)
		}
		return nil
	})
	return err
}

// RemoveSecurityGroup removes a group from every port of a server (Nova's
// removeSecurityGroup); 400 when no port of the server uses it.
func (b *Broker) RemoveSecurityGroup(ctx context.Context, c Caller, id, nameOrID string) error {
	const op = "removeSecurityGroup"
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return err
	}
	gid, gname, err := b.resolveGroup(ctx, s, op, nameOrID)
	if err != nil {
		return err
	}
	var using []string
	for _, p := range serverPorts(s) {
		groups, err := b.secgroups.PortSecurityGroups(ctx, s.ProjectID, p)
		if err != nil {
			return err
		}
		if slices.Contains(groups, gid) {
			using = append(using, p)
		}
	}
	if len(using) == 0 {
		return invalid(op, "Security group %s not associated with the instance %s", nameOrID, id)
	}
	for _, p := range using {
		if err := b.secgroups.UpdatePortSecurityGroups(ctx, s.ProjectID, p, nil, []string{gid}); err != nil {
			return err
		}
	}
	_, err = b.UpdateServer(ctx, c, id, func(cur *registry.Server) error {
		cur.SecurityGroups = slices.DeleteFunc(slices.Clone(cur.SecurityGroups), func(n string) bool { return n == gname || n == gid })
		return nil
	})
	return err
}

// ServerSecurityGroups lists the groups a server's ports use (Nova's
// GET /servers/{id}/os-security-groups), in first-seen order.
func (b *Broker) ServerSecurityGroups(ctx context.Context, c Caller, id string) ([]SecurityGroup, error) {
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if b.secgroups == nil {
		return nil, proxies.Errorf(proxies.ErrNotSupported, "ServerSecurityGroups", "Security groups are not available in this cloud.")
	}
	var ids []string
	for _, p := range serverPorts(s) {
		groups, err := b.secgroups.PortSecurityGroups(ctx, s.ProjectID, p)
		if errors.Is(err, registry.ErrNotFound) {
			continue // the port went away since the record was written
		}
		if err != nil {
			return nil, err
		}
		for _, g := range groups {
			if !slices.Contains(ids, g) {
				ids = append(ids, g)
			}
		}
	}
	if len(ids) == 0 {
		return []SecurityGroup{}, nil
	}
	return b.secgroups.SecurityGroupDetails(ctx, s.ProjectID, ids)
}

// SecurityGroupStore is the optional part of SecurityGroups behind Nova's
// deprecated os-security-groups proxy (microversions before 2.36): a
// project's groups read, made, renamed and deleted in the network service.
// Not found reads as registry.ErrNotFound; a group in use or the default
// group refused for delete as proxies.ErrConflict; a limit as
// proxies.ErrQuota.
type SecurityGroupStore interface {
	ListSecurityGroups(ctx context.Context, projectID string) ([]SecurityGroup, error)
	GetSecurityGroup(ctx context.Context, projectID, id string) (SecurityGroup, error)
	CreateSecurityGroup(ctx context.Context, projectID, name, description string) (SecurityGroup, error)
	UpdateSecurityGroup(ctx context.Context, projectID, id, name, description string) (SecurityGroup, error)
	DeleteSecurityGroup(ctx context.Context, projectID, id string) error
}
