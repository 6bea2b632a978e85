package brokertest

import (
	"context"
	"fmt"
	"slices"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

var _ broker.SecurityGroupStore = (*SecurityGroups)(nil)

// ListSecurityGroups lists the project's groups by id.
func (f *SecurityGroups) ListSecurityGroups(ctx context.Context, projectID string) ([]broker.SecurityGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []broker.SecurityGroup{}
	for _, g := range f.groups {
		if g.ProjectID == projectID {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b broker.SecurityGroup) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return out, nil
}

// GetSecurityGroup reads one group of the project.
func (f *SecurityGroups) GetSecurityGroup(ctx context.Context, projectID, id string) (broker.SecurityGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[id]
	if !ok || g.ProjectID != projectID {
		return broker.SecurityGroup{}, fmt.Errorf("group %s: %w", id, registry.ErrNotFound)
	}
	return g, nil
}

// CreateSecurityGroup makes a group with one egress rule.
func (f *SecurityGroups) CreateSecurityGroup(ctx context.Context, projectID, name, description string) (broker.SecurityGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fmt.Sprintf("5ec10000-0000-4000-8000-%012d", len(f.groups))
	g := broker.SecurityGroup{ID: id, Name: name, Description: description, ProjectID: projectID,
		Rules: []broker.SecurityGroupRule{{ID: id + "-egress", Direction: "egress"}}}
	f.groups[id] = g
	return g, nil
}

// UpdateSecurityGroup renames a group.
func (f *SecurityGroups) UpdateSecurityGroup(ctx context.Context, projectID, id, name, description string) (broker.SecurityGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[id]
	if !ok || g.ProjectID != projectID {
		return broker.SecurityGroup{}, fmt.Errorf("group %s: %w", id, registry.ErrNotFound)
	}
	g.Name, g.Description = name, description
	f.groups[id] = g
	return g, nil
}

// DeleteSecurityGroup refuses the default group and groups a port uses.
func (f *SecurityGroups) DeleteSecurityGroup(ctx context.Context, projectID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[id]
	if !ok || g.ProjectID != projectID {
		return fmt.Errorf("group %s: %w", id, registry.ErrNotFound)
	}
	if g.Name == "default" {
		return proxies.Errorf(proxies.ErrConflict, "DeleteSecurityGroup", "Removing default security group not allowed.")
	}
	for _, groups := range f.ports {
		if slices.Contains(groups, id) {
			return proxies.Errorf(proxies.ErrConflict, "DeleteSecurityGroup", "Security Group %s in use.", id)
		}
	}
	delete(f.groups, id)
	return nil
}
