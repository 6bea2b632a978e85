package network_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// TestComputeSecurityGroups drives the broker.SecurityGroups methods Nova's
// addSecurityGroup/removeSecurityGroup use, and checks that a group a port
// gained this way is held in use (its delete answers 409) until removed.
func TestComputeSecurityGroups(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	ctx := context.Background()
	const project = "demo-project"
	web := e.mustCreate("demo", "/network/v2.0/security-groups", `{"security_group": {"name": "web"}}`)["id"].(string)
	e.mustCreate("demo", "/network/v2.0/security-groups", `{"security_group": {"name": "twin"}}`)
	e.mustCreate("demo", "/network/v2.0/security-groups", `{"security_group": {"name": "twin"}}`)
	alt := e.mustCreate("alt", "/network/v2.0/security-groups", `{"security_group": {"name": "alts"}}`)["id"].(string)
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	pid := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`"}}`)["id"].(string)

	resolve := []struct {
		name, ref string
		wantID    string
		wantErr   error
	}{
		{"by name", "web", web, nil},
		{"by id", web, web, nil},
		{"default made on need", "default", demoDefaultSG, nil},
		{"unknown", "nope", "", registry.ErrNotFound},
		{"other project's id", alt, "", registry.ErrNotFound},
		{"ambiguous", "twin", "", proxies.ErrConflict},
	}
	for _, c := range resolve {
		id, _, err := e.svc.ResolveSecurityGroup(ctx, project, c.ref)
		if id != c.wantID || (c.wantErr == nil) != (err == nil) || (c.wantErr != nil && !errors.Is(err, c.wantErr)) {
			t.Errorf("resolve %s: %q %v, want %q %v", c.name, id, err, c.wantID, c.wantErr)
		}
	}

	steps := []struct {
		name        string
		add, remove []string
		want        []string
		fails       bool
	}{
		{"add web", []string{web}, nil, []string{demoDefaultSG, web}, false},
		{"add web again", []string{web}, nil, []string{demoDefaultSG, web}, false},
		{"add another project's group", []string{alt}, nil, []string{demoDefaultSG, web}, true},
		{"remove default", nil, []string{demoDefaultSG}, []string{web}, false},
		{"remove default again", nil, []string{demoDefaultSG}, []string{web}, false},
	}
	for _, s := range steps {
		err := e.svc.UpdatePortSecurityGroups(ctx, project, pid, s.add, s.remove)
		if (err != nil) != s.fails {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, err := e.svc.PortSecurityGroups(ctx, project, pid)
		if err != nil || !slices.Equal(got, s.want) {
			t.Fatalf("%s: port groups %v %v, want %v", s.name, got, err, s.want)
		}
	}
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/security-groups/"+web, ""); code != http.StatusConflict {
		t.Errorf("delete of a group a server port uses: %d, want 409", code)
	}
	if code, _ := e.do("admin", "DELETE", "/network/v2.0/security-groups/"+demoDefaultSG, ""); code != http.StatusNoContent {
		t.Errorf("admin delete of the default group after its removal from the port: %d, want 204", code)
	}
	details, err := e.svc.SecurityGroupDetails(ctx, project, []string{web})
	if err != nil || len(details) != 1 || details[0].Name != "web" || len(details[0].Rules) != 2 {
		t.Errorf("details: %+v %v", details, err)
	}
}
