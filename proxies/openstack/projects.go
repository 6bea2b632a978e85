package openstack

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
)

// ProjectMapper remembers which bottom project each top project lives in.
// The in-memory one is the default; the registry will implement it so the
// mapping survives a restart (one SetProjectMapper call).
type ProjectMapper interface {
	// BottomProject returns the bottom project of top, and false when none
	// is recorded yet.
	BottomProject(ctx context.Context, top string) (string, bool, error)
	// SetBottomProject records the bottom project of top.
	SetBottomProject(ctx context.Context, top, bottom string) error
}

// MemoryProjectMapper is a ProjectMapper in memory, seeded from project_map.
type MemoryProjectMapper struct {
	mu sync.Mutex
	m  map[string]string
}

// NewMemoryProjectMapper returns a mapper that starts with seed.
func NewMemoryProjectMapper(seed map[string]string) *MemoryProjectMapper {
	m := &MemoryProjectMapper{m: map[string]string{}}
	for k, v := range seed {
		m.m[k] = v
	}
	return m
}

// BottomProject implements ProjectMapper.
func (m *MemoryProjectMapper) BottomProject(_ context.Context, top string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[top]
	return v, ok, nil
}

// SetBottomProject implements ProjectMapper.
func (m *MemoryProjectMapper) SetBottomProject(_ context.Context, top, bottom string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[top] = bottom
	return nil
}

// bottomProjectName is the name of the bottom project made for a top one.
func bottomProjectName(top string) string { return "canopy-" + top }

// scopeFor returns the clients of the bottom project top project lives in:
// the mapped one, else (admin) one created on first use, else the
// credential's own project.
func (b *Backend) scopeFor(ctx context.Context, top string) (*scope, error) {
	bottom, ok, err := b.mapper.BottomProject(ctx, top)
	if err != nil {
		return nil, err
	}
	if !ok {
		if !b.cfg.Admin || top == "" {
			return b.def, nil
		}
		unlock := b.lockID("project:" + top)
		defer unlock()
		if bottom, err = b.ensureProject(ctx, top); err != nil {
			return nil, err
		}
		if err := b.mapper.SetBottomProject(ctx, top, bottom); err != nil {
			return nil, err
		}
	}
	return b.scopeOf(ctx, bottom)
}

// scopeOf returns (authenticating on first use) the clients of a bottom
// project.
func (b *Backend) scopeOf(ctx context.Context, bottom string) (*scope, error) {
	b.mu.Lock()
	s := b.scopes[bottom]
	b.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, _, err := b.authenticate(ctx, &gophercloud.AuthScope{ProjectID: bottom})
	if gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) && b.cfg.Admin {
		// An admin credential gives itself a role on a mapped project it
		// has none on yet, as it does on the projects it creates.
		if err := b.assignSelf(ctx, bottom); err != nil {
			return nil, err
		}
		s, _, err = b.authenticate(ctx, &gophercloud.AuthScope{ProjectID: bottom})
	}
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if cur := b.scopes[bottom]; cur != nil {
		return cur, nil
	}
	b.scopes[bottom] = s
	return s, nil
}

// ensureProject finds or creates the bottom project canopy-<top> and gives
// the credential's user the admin role on it, so a scoped token works.
func (b *Backend) ensureProject(ctx context.Context, top string) (string, error) {
	idc := b.def.identity
	name := bottomProjectName(top)
	pages, err := projects.List(idc, projects.ListOpts{Name: name, DomainID: b.domainID}).AllPages(ctx)
	if err != nil {
		return "", err
	}
	found, err := projects.ExtractProjects(pages)
	if err != nil {
		return "", err
	}
	var id string
	if len(found) > 0 {
		id = found[0].ID
	} else {
		p, err := projects.Create(ctx, idc, projects.CreateOpts{Name: name, DomainID: b.domainID,
			Description: "Canopy project " + top}).Extract()
		if err != nil {
			return "", err
		}
		id = p.ID
	}
	if err := b.assignSelf(ctx, id); err != nil {
		return "", err
	}
	b.log.Info("bottom project ready", "top_project", top, "bottom_project", id)
	return id, nil
}

// assignSelf gives the credential's user the admin role on a bottom project.
func (b *Backend) assignSelf(ctx context.Context, project string) error {
	roleID, err := b.roleID(ctx, "admin")
	if err != nil {
		return err
	}
	err = roles.Assign(ctx, b.def.identity, roleID, roles.AssignOpts{UserID: b.userID, ProjectID: project}).ExtractErr()
	if err != nil && !isConflict(err) {
		return err
	}
	return nil
}

func (b *Backend) roleID(ctx context.Context, name string) (string, error) {
	pages, err := roles.List(b.def.identity, roles.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return "", err
	}
	rs, err := roles.ExtractRoles(pages)
	if err != nil {
		return "", err
	}
	for _, r := range rs {
		if r.Name == name {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("the bottom has no role %q", name)
}
