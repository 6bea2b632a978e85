package brokertest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// SecurityGroups is a fake of the network service's groups: groups by id,
// and the groups of each port (ports start with "default").
type SecurityGroups struct {
	calls
	mu     sync.Mutex
	groups map[string]broker.SecurityGroup
	ports  map[string][]string
}

var _ broker.SecurityGroups = (*SecurityGroups)(nil)

// NewSecurityGroups returns a fake holding groups.
func NewSecurityGroups(groups ...broker.SecurityGroup) *SecurityGroups {
	f := &SecurityGroups{groups: map[string]broker.SecurityGroup{}, ports: map[string][]string{}}
	for _, g := range groups {
		f.groups[g.ID] = g
	}
	return f
}

// PortGroups is the group ids port uses.
func (f *SecurityGroups) PortGroups(port string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.portGroups(port))
}

func (f *SecurityGroups) portGroups(port string) []string {
	if g, ok := f.ports[port]; ok {
		return g
	}
	for _, g := range f.groups {
		if g.Name == "default" {
			return []string{g.ID}
		}
	}
	return nil
}

// ResolveSecurityGroup finds a group of the project by id, then by name.
func (f *SecurityGroups) ResolveSecurityGroup(ctx context.Context, projectID, nameOrID string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g, ok := f.groups[nameOrID]; ok && g.ProjectID == projectID {
		return g.ID, g.Name, nil
	}
	var found []broker.SecurityGroup
	for _, g := range f.groups {
		if g.Name == nameOrID && g.ProjectID == projectID {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return "", "", fmt.Errorf("group %s: %w", nameOrID, registry.ErrNotFound)
	case 1:
		return found[0].ID, found[0].Name, nil
	}
	return "", "", fmt.Errorf("group %s: %w", nameOrID, proxies.ErrConflict)
}

// PortSecurityGroups is the groups a port uses ("default" until changed).
func (f *SecurityGroups) PortSecurityGroups(ctx context.Context, projectID, portID string) ([]string, error) {
	return f.PortGroups(portID), nil
}

// UpdatePortSecurityGroups adds and removes groups on a port and logs the call.
func (f *SecurityGroups) UpdatePortSecurityGroups(ctx context.Context, projectID, portID string, add, remove []string) error {
	f.add(fmt.Sprintf("update %s +%v -%v", portID, add, remove))
	f.mu.Lock()
	defer f.mu.Unlock()
	next := slices.DeleteFunc(slices.Clone(f.portGroups(portID)), func(g string) bool { return slices.Contains(remove, g) })
	for _, g := range add {
		if !slices.Contains(next, g) {
			next = append(next, g)
		}
	}
	f.ports[portID] = next
	return nil
}

// SecurityGroupDetails returns the known groups among ids.
func (f *SecurityGroups) SecurityGroupDetails(ctx context.Context, projectID string, ids []string) ([]broker.SecurityGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []broker.SecurityGroup{}
	for _, id := range ids {
		if g, ok := f.groups[id]; ok {
			out = append(out, g)
		}
	}
	return out, nil
}
