package network_test

import (
	"context"
	"errors"
	"testing"

	"github.com/canopy-cloud/canopy/registry"
)

// TestReleaseServerPort: a port made for the server is deleted, a port the
// user brought is only unbound, and releasing again changes nothing.
func TestReleaseServerPort(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	ctx := context.Background()
	const project, server = "demo-project", "5e7e0000-0000-4000-8000-000000000001"
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	e.mustCreate("demo", "/network/v2.0/subnets", `{"subnet": {"network_id": "`+nid+`", "cidr": "10.9.0.0/24", "ip_version": 4}}`)
	made, _, err := e.svc.CreateServerPort(ctx, project, nid, "", server)
	if err != nil {
		t.Fatal(err)
	}
	own := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+nid+`"}}`)["id"].(string)
	if _, _, err := e.svc.BindPort(ctx, project, own, server); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, port string
		gone       bool
	}{
		{"created port is deleted", made.ID, true},
		{"created port again", made.ID, true},
		{"brought port is unbound", own, false},
		{"brought port again", own, false},
	}
	for _, c := range cases {
		if err := e.svc.ReleaseServerPort(ctx, project, server, c.port); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		pt, err := e.svc.ServerPort(ctx, project, c.port)
		switch {
		case c.gone && !errors.Is(err, registry.ErrNotFound):
			t.Errorf("%s: port still there (%v)", c.name, err)
		case !c.gone && (err != nil || pt.DeviceID != "" || pt.Status != "DOWN"):
			t.Errorf("%s: %+v %v, want an unbound port", c.name, pt, err)
		}
	}
}
