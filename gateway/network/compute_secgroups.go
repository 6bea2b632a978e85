package network

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// This file serves Nova's security-group actions (broker.SecurityGroups):
// a server's groups are its ports' groups, as in Nova with Neutron.

var _ broker.SecurityGroups = (*Service)(nil)

// ResolveSecurityGroup implements broker.SecurityGroups: a group of the
// project by id, else by name.
func (s *Service) ResolveSecurityGroup(ctx context.Context, projectID, nameOrID string) (string, string, error) {
	if nameOrID == defaultGroupName {
		if _, err := s.ensureDefaultGroup(ctx, projectID); err != nil {
			return "", "", err
		}
	}
	if uuidRE.MatchString(nameOrID) {
		g, err := s.secGroups.Get(ctx, projectID, nameOrID)
		if err == nil {
			return g.ID, g.Name, nil
		}
		if !errors.Is(err, registry.ErrNotFound) {
			return "", "", err
		}
	}
	all, err := s.secGroups.List(ctx, projectID, registry.Page{})
	if err != nil {
		return "", "", err
	}
	var found *secGroup
	for _, g := range all {
		if g.Name != nameOrID {
			continue
		}
		if found != nil {
			return "", "", fmt.Errorf("security group %q: %w", nameOrID, proxies.ErrConflict)
		}
		found = g
	}
	if found == nil {
		return "", "", fmt.Errorf("security group %q: %w", nameOrID, registry.ErrNotFound)
	}
	return found.ID, found.Name, nil
}

// PortSecurityGroups implements broker.SecurityGroups.
func (s *Service) PortSecurityGroups(ctx context.Context, projectID, portID string) ([]string, error) {
	pt, err := s.ports.Get(ctx, projectID, portID)
	if err != nil {
		return nil, err
	}
	return pt.SecurityGroups, nil
}

// UpdatePortSecurityGroups implements broker.SecurityGroups: the new groups
// are bound first (they must exist in the project), then the port changes
// with a compare-and-set, then the groups it left are unbound.
func (s *Service) UpdatePortSecurityGroups(ctx context.Context, projectID, portID string, add, remove []string) error {
	cur, err := s.ports.Get(ctx, projectID, portID)
	if err != nil {
		return err
	}
	if s.realiser != nil && cur.DeviceID != "" {
		want := append(slices.DeleteFunc(slices.Clone(cur.SecurityGroups), func(g string) bool { return slices.Contains(remove, g) }),
			without(add, cur.SecurityGroups)...)
		if err := s.realiser.CheckPortSecurityGroups(ctx, projectID, portID, want); err != nil {
			return err
		}
	}
	adding := without(add, cur.SecurityGroups)
	if len(adding) > 0 {
		if err := s.attachGroups(ctx, projectID, portID, adding); err != nil {
			return err
		}
	}
	var dropped []string
	_, err = s.ports.Update(ctx, projectID, portID, func(pt *registry.Port) error {
		next := slices.DeleteFunc(slices.Clone(pt.SecurityGroups), func(g string) bool { return slices.Contains(remove, g) })
		for _, g := range add {
			if !slices.Contains(next, g) {
				next = append(next, g)
			}
		}
		dropped = without(pt.SecurityGroups, next)
		if slices.Equal(next, pt.SecurityGroups) {
			return nil
		}
		pt.SecurityGroups = next
		pt.Revision++
		pt.Updated = s.now()
		return nil
	})
	if err != nil {
		s.unbindGroups(ctx, projectID, portID, without(adding, cur.SecurityGroups))
		return err
	}
	s.unbindGroups(ctx, projectID, portID, dropped)
	s.portGroupsChanged(ctx, projectID, portID)
	return nil
}

// SecurityGroupDetails implements broker.SecurityGroups. Groups that no
// longer exist are left out.
func (s *Service) SecurityGroupDetails(ctx context.Context, projectID string, ids []string) ([]broker.SecurityGroup, error) {
	groups, err := s.secGroups.GetMany(ctx, projectID, ids)
	if err != nil {
		return nil, err
	}
	names := map[string]*secGroup{}
	for _, g := range groups {
		names[g.ID] = g
	}
	out := make([]broker.SecurityGroup, 0, len(groups))
	for _, g := range groups {
		bg := broker.SecurityGroup{ID: g.ID, Name: g.Name, Description: g.Description, ProjectID: g.ProjectID}
		for _, r := range g.Rules {
			br := broker.SecurityGroupRule{ID: r.ID, Direction: r.Direction, Protocol: r.Protocol,
				FromPort: r.PortRangeMin, ToPort: r.PortRangeMax, CIDR: r.RemoteIPPrefix}
			if r.RemoteGroupID != "" {
				remote, ok := names[r.RemoteGroupID]
				if !ok {
					if rg, err := s.secGroups.Get(ctx, projectID, r.RemoteGroupID); err == nil {
						remote = rg
					}
				}
				if remote != nil {
					br.RemoteGroup, br.RemoteTenant = remote.Name, remote.ProjectID
				}
			}
			bg.Rules = append(bg.Rules, br)
		}
		out = append(out, bg)
	}
	return out, nil
}
