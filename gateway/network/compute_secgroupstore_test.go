package network_test

import (
	"context"
	"errors"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// TestSecurityGroupStore drives the broker.SecurityGroupStore methods behind
// Nova's os-security-groups proxy.
func TestSecurityGroupStore(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	ctx := context.Background()
	const project = "demo-project"
	g, err := e.svc.CreateSecurityGroup(ctx, project, "sg1", "first")
	if err != nil || g.Name != "sg1" || len(g.Rules) != 2 {
		t.Fatalf("create: %+v %v", g, err)
	}
	list, err := e.svc.ListSecurityGroups(ctx, project)
	if err != nil || len(list) != 2 {
		t.Fatalf("list (default + sg1): %+v %v", list, err)
	}
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	pid := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`"}}`)["id"].(string)
	if err := e.svc.UpdatePortSecurityGroups(ctx, project, pid, []string{g.ID}, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"create default", func() error { _, err := e.svc.CreateSecurityGroup(ctx, project, "Default", "d"); return err }(), proxies.ErrConflict},
		{"update", func() error { _, err := e.svc.UpdateSecurityGroup(ctx, project, g.ID, "sg2", "second"); return err }(), nil},
		{"update to default", func() error { _, err := e.svc.UpdateSecurityGroup(ctx, project, g.ID, "default", "x"); return err }(), proxies.ErrConflict},
		{"rename default", func() error { _, err := e.svc.UpdateSecurityGroup(ctx, project, demoDefaultSG, "x", "y"); return err }(), proxies.ErrConflict},
		{"get other project", func() error { _, err := e.svc.GetSecurityGroup(ctx, "alt-project", g.ID); return err }(), registry.ErrNotFound},
		{"delete default", e.svc.DeleteSecurityGroup(ctx, project, demoDefaultSG), proxies.ErrConflict},
		{"delete in use", e.svc.DeleteSecurityGroup(ctx, project, g.ID), proxies.ErrConflict},
		{"unbind", e.svc.UpdatePortSecurityGroups(ctx, project, pid, nil, []string{g.ID}), nil},
		{"delete", e.svc.DeleteSecurityGroup(ctx, project, g.ID), nil},
		{"delete again", e.svc.DeleteSecurityGroup(ctx, project, g.ID), registry.ErrNotFound},
	}
	for _, c := range cases {
		if (c.want == nil) != (c.err == nil) || (c.want != nil && !errors.Is(c.err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	if got, err := e.svc.GetSecurityGroup(ctx, project, demoDefaultSG); err != nil || got.Name != "default" {
		t.Errorf("default group: %+v %v", got, err)
	}
}
