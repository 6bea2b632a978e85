package network

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// This file serves Nova's os-security-groups proxy (broker.SecurityGroupStore)
// with the same rules as the Neutron API: the default group made on need,
// new groups with Neutron's egress rules under quota, no delete in use.

var _ broker.SecurityGroupStore = (*Service)(nil)

// typed turns this package's wire refusals into the contract's kinds,
// keeping Neutron's message.
func typed(op string, err error) error {
	var we *wire.Error
	if !errors.As(err, &we) {
		return err
	}
	switch {
	case we.Type == "OverQuota":
		return proxies.Errorf(proxies.ErrQuota, op, "Quota exceeded, too many security groups.")
	case we.Status == http.StatusNotFound:
		return fmt.Errorf("%s: %w", we.Message, registry.ErrNotFound)
	case we.Status == http.StatusConflict:
		return proxies.Errorf(proxies.ErrConflict, op, "%s", we.Message)
	case we.Status == http.StatusBadRequest:
		return proxies.Errorf(proxies.ErrInvalid, op, "%s", we.Message)
	}
	return err
}

func (s *Service) details(ctx context.Context, projectID string, gs []*secGroup) ([]broker.SecurityGroup, error) {
	ids := make([]string, 0, len(gs))
	for _, g := range gs {
		ids = append(ids, g.ID)
	}
	return s.SecurityGroupDetails(ctx, projectID, ids)
}

func (s *Service) detail(ctx context.Context, g *secGroup) (broker.SecurityGroup, error) {
	out, err := s.details(ctx, g.ProjectID, []*secGroup{g})
	if err != nil {
		return broker.SecurityGroup{}, err
	}
	if len(out) == 0 {
		return broker.SecurityGroup{}, fmt.Errorf("security group %s: %w", g.ID, registry.ErrNotFound)
	}
	return out[0], nil
}

// ListSecurityGroups implements broker.SecurityGroupStore.
func (s *Service) ListSecurityGroups(ctx context.Context, projectID string) ([]broker.SecurityGroup, error) {
	if _, err := s.ensureDefaultGroup(ctx, projectID); err != nil {
		return nil, err
	}
	all, err := s.secGroups.List(ctx, projectID, registry.Page{})
	if err != nil {
		return nil, err
	}
	return s.details(ctx, projectID, all)
}

// GetSecurityGroup implements broker.SecurityGroupStore.
func (s *Service) GetSecurityGroup(ctx context.Context, projectID, id string) (broker.SecurityGroup, error) {
	g, err := s.secGroups.Get(ctx, projectID, id)
	if err != nil {
		return broker.SecurityGroup{}, err
	}
	return s.detail(ctx, g)
}

// CreateSecurityGroup implements broker.SecurityGroupStore.
func (s *Service) CreateSecurityGroup(ctx context.Context, projectID, name, description string) (broker.SecurityGroup, error) {
	const op = "CreateSecurityGroup"
	if strings.EqualFold(name, defaultGroupName) {
		return broker.SecurityGroup{}, proxies.Errorf(proxies.ErrConflict, op, "Default security group already exists.")
	}
	if _, err := s.ensureDefaultGroup(ctx, projectID); err != nil {
		return broker.SecurityGroup{}, err
	}
	now := s.now()
	g := &secGroup{ID: s.opts.NewID(), ProjectID: projectID, Name: name, Description: description, Revision: 1, Created: now, Updated: now}
	g.Rules = s.egressRules(projectID, now)
	release, err := s.reserveQuota(ctx, projectID, quotaSecGroup, g.ID)
	if err != nil {
		return broker.SecurityGroup{}, typed(op, err)
	}
	defer release()
	ruleIDs := make([]string, 0, len(g.Rules))
	for _, rule := range g.Rules {
		ruleIDs = append(ruleIDs, rule.ID)
	}
	releaseRules, err := s.reserveQuota(ctx, projectID, quotaSecGroupRule, ruleIDs...)
	if err != nil {
		return broker.SecurityGroup{}, typed(op, err)
	}
	defer releaseRules()
	if err := s.createGroup(ctx, g); err != nil {
		return broker.SecurityGroup{}, err
	}
	return s.detail(ctx, g)
}

// UpdateSecurityGroup implements broker.SecurityGroupStore.
func (s *Service) UpdateSecurityGroup(ctx context.Context, projectID, id, name, description string) (broker.SecurityGroup, error) {
	const op = "UpdateSecurityGroup"
	g, err := s.secGroups.Update(ctx, projectID, id, func(g *secGroup) error {
		if strings.EqualFold(name, defaultGroupName) && !g.Default {
			return proxies.Errorf(proxies.ErrConflict, op, "Default security group already exists.")
		}
		if g.Default && name != g.Name {
			return proxies.Errorf(proxies.ErrConflict, op, "Updating default security group not allowed.")
		}
		g.Name, g.Description = name, description
		g.Revision++
		g.Updated = s.now()
		return nil
	})
	if err != nil {
		return broker.SecurityGroup{}, err
	}
	s.groupChanged(ctx, g.ProjectID, g.ID)
	return s.detail(ctx, g)
}

// DeleteSecurityGroup implements broker.SecurityGroupStore. The default
// group is refused, as Neutron refuses it to a project member.
func (s *Service) DeleteSecurityGroup(ctx context.Context, projectID, id string) error {
	const op = "DeleteSecurityGroup"
	g, err := s.secGroups.Get(ctx, projectID, id)
	if err != nil {
		return err
	}
	if g.Default {
		return proxies.Errorf(proxies.ErrConflict, op, "Removing default security group not allowed.")
	}
	return typed(op, s.dropGroup(ctx, g))
}
