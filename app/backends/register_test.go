package backends_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/app/apptest"
	"github.com/canopy-cloud/canopy/app/backends"
	"github.com/canopy-cloud/canopy/proxies/openstack/bottomsim"
	"github.com/canopy-cloud/canopy/registry"
)

// TestRegisterCloudWhileRunning registers a bottom OpenStack (a second
// Canopy) through the admin API of a running gateway, boots a server there
// through Nova, and removes the cloud: refused while the server lives,
// accepted once it is gone. No restart anywhere.
func TestRegisterCloudWhileRunning(t *testing.T) {
	ctx := t.Context()
	bottom, err := bottomsim.Start(ctx, apptest.Log(), bottomsim.Options{AvailabilityZone: "east-az"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bottom.Close)
	g := apptest.StartWith(t, apptest.Options{BuildCloud: func(reg *registry.Registry, log *slog.Logger) app.CloudBuilder {
		return backends.BuildOne(reg, log)
	}})
	adm := adminClient(t, g)

	entry := map[string]any{
		"name": "east", "type": "openstack", "availability_zone": "east-az",
		"openstack": map[string]any{
			"auth_url": bottom.AuthURL, "interface": "public",
			"auth": map[string]any{
				"username": bottom.Config.Auth.Username, "password_from": bottom.Config.Auth.PasswordFrom,
				"project_name": bottom.Config.Auth.ProjectName, "user_domain_name": "Default", "project_domain_name": "Default",
			},
		},
	}

	// Bad entries are refused with the field named, and register nothing.
	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "x", "type": "openstack"}, "openstack"},
		{map[string]any{"name": "x", "type": "gcp", "openstack": map[string]any{}}, "type"},
		{map[string]any{"name": "bad name", "type": "openstack", "openstack": entry["openstack"]}, "name"},
		{map[string]any{"name": "x", "type": "openstack", "openstack": map[string]any{"auth_url": bottom.AuthURL, "colour": "red"}}, "openstack"},
		{map[string]any{"name": "x", "type": "openstack", "flavour": 1, "openstack": entry["openstack"]}, "flavour"},
		{map[string]any{"name": "x", "type": "openstack", "openstack": map[string]any{"auth_url": bottom.AuthURL,
			"auth": map[string]any{"username": "demo", "password_from": "env:CANOPY_TEST_NEVER_SET", "project_name": "demo"}}},
			"environment variable CANOPY_TEST_NEVER_SET is not set"},
	} {
		code, body := adminCall(t, adm, http.MethodPost, "clouds", map[string]any{"cloud": bad.body})
		if code != http.StatusBadRequest || !strings.Contains(body, bad.field) {
			t.Errorf("register %v = %d %s; want 400 naming %s", bad.body, code, body, bad.field)
		}
	}
	if code, _ := adminCall(t, adm, http.MethodGet, "clouds/x", nil); code != http.StatusNotFound {
		t.Errorf("a refused cloud is there: GET = %d", code)
	}

	code, body := adminCall(t, adm, http.MethodPost, "clouds", map[string]any{"cloud": entry})
	if code != http.StatusCreated {
		t.Fatalf("register = %d %s; want 201", code, body)
	}
	if !strings.Contains(body, `"registered":true`) || !strings.Contains(body, `"name":"east"`) {
		t.Errorf("register body = %s", body)
	}
	// A retry with the same entry is the same cloud; another entry under the name is a conflict.
	if code, body := adminCall(t, adm, http.MethodPost, "clouds", map[string]any{"cloud": entry}); code != http.StatusOK {
		t.Errorf("retried register = %d %s; want 200", code, body)
	}
	other := map[string]any{"name": "east", "type": "openstack", "availability_zone": "elsewhere", "openstack": entry["openstack"]}
	if code, body := adminCall(t, adm, http.MethodPost, "clouds", map[string]any{"cloud": other}); code != http.StatusConflict {
		t.Errorf("register under a taken name = %d %s; want 409", code, body)
	}
	// The local pool is canopy.yaml's: it cannot be removed through the API.
	if code, _ := adminCall(t, adm, http.MethodDelete, "clouds/"+"local", nil); code != http.StatusConflict {
		t.Errorf("DELETE the local pool = %d; want 409", code)
	}

	// PATCH replaces the given keys of the stored entry; a type cannot change.
	os2 := map[string]any{}
	for k, v := range entry["openstack"].(map[string]any) {
		os2[k] = v
	}
	os2["timeout"] = "45s"
	if code, body := adminCall(t, adm, http.MethodPatch, "clouds/east", map[string]any{"cloud": map[string]any{"openstack": os2}}); code != http.StatusOK {
		t.Errorf("reconfigure = %d %s; want 200", code, body)
	}
	if code, body := adminCall(t, adm, http.MethodPatch, "clouds/east", map[string]any{"cloud": map[string]any{"type": "aws"}}); code != http.StatusBadRequest || !strings.Contains(body, "type") {
		t.Errorf("change the type = %d %s; want 400 naming type", code, body)
	}

	// The new cloud takes servers in its zone, through the real Nova API.
	srv := g.BootServer(t, "on-east", "east-az")
	if code, body := adminCall(t, adm, http.MethodGet, "routings/"+srv.ID, nil); code != http.StatusOK || !strings.Contains(body, `"cloud":"east"`) {
		t.Errorf("routing of the server = %d %s; want it on east", code, body)
	}
	if code, body := adminCall(t, adm, http.MethodDelete, "clouds/east", nil); code != http.StatusConflict || !strings.Contains(body, "1 server") {
		t.Errorf("remove a cloud holding a server = %d %s; want 409 naming 1 server", code, body)
	}
	// The refusal left it enabled for placements.
	if code, body := adminCall(t, adm, http.MethodGet, "clouds/east", nil); code != http.StatusOK || !strings.Contains(body, `"enabled":true`) {
		t.Errorf("after a refused removal: %d %s; want enabled", code, body)
	}
	g.DeleteServer(t, srv.ID)

	if code, body := adminCall(t, adm, http.MethodDelete, "clouds/east", nil); code != http.StatusNoContent {
		t.Fatalf("remove an empty cloud = %d %s; want 204", code, body)
	}
	if code, _ := adminCall(t, adm, http.MethodGet, "clouds/east", nil); code != http.StatusNotFound {
		t.Errorf("GET a removed cloud = %d; want 404", code)
	}
	if code, _ := adminCall(t, adm, http.MethodDelete, "clouds/east", nil); code != http.StatusNotFound {
		t.Errorf("DELETE a removed cloud again = %d; want 404", code)
	}
	// With the cloud gone its zone takes nothing: refused at once, or the server faults.
	created, err := servers.Create(ctx, g.Nova, servers.CreateOpts{Name: "nowhere", FlavorRef: "1", ImageRef: apptest.DevImageIDs()[0],
		AvailabilityZone: "east-az", Networks: []servers.Network{{UUID: g.PrivateNetwork}}}, nil).Extract()
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := servers.WaitForStatus(wctx, g.Nova, created.ID, "ERROR"); err != nil {
			t.Errorf("a server in a removed cloud's zone did not fault: %v", err)
		}
	}
}

// adminClient is the admin user's client of the admin API.
func adminClient(t *testing.T, g *apptest.Gateway) *gophercloud.ServiceClient {
	nova := g.AdminNova(t)
	return &gophercloud.ServiceClient{ProviderClient: nova.ProviderClient, Endpoint: g.URL + "/admin/v1/", Type: "canopy-admin"}
}

// adminCall sends a request to the admin API and answers its status and body.
func adminCall(t *testing.T, c *gophercloud.ServiceClient, method, path string, body any) (int, string) {
	t.Helper()
	opts := &gophercloud.RequestOpts{KeepResponseBody: true, OkCodes: []int{200, 201, 202, 204, 400, 404, 409, 501, 502}}
	if body != nil {
		opts.JSONBody = body
	}
	resp, err := c.Request(context.WithoutCancel(t.Context()), method, c.Endpoint+path, opts)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	var compact bytes.Buffer
	if json.Compact(&compact, []byte(sb.String())) != nil {
		return resp.StatusCode, sb.String()
	}
	return resp.StatusCode, compact.String()
}

// TestRegisteredCloudReachesEveryGateway: two gateways share one registry;
// a cloud registered through one is built by the other on its next
// inventory pass, and a removal through one takes it out of the other.
func TestRegisteredCloudReachesEveryGateway(t *testing.T) {
	ctx := t.Context()
	bottom, err := bottomsim.Start(ctx, apptest.Log(), bottomsim.Options{AvailabilityZone: "east-az"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bottom.Close)
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	build := func(reg *registry.Registry, log *slog.Logger) app.CloudBuilder { return backends.BuildOne(reg, log) }
	dir := t.TempDir()
	opts := apptest.Options{BuildCloud: build, Registry: reg, DataDir: dir, InventoryInterval: 100 * time.Millisecond}
	ga, gb := apptest.StartWith(t, opts), apptest.StartWith(t, opts)
	admA, admB := adminClient(t, ga), adminClient(t, gb)

	entry := map[string]any{"name": "east", "type": "openstack", "availability_zone": "east-az",
		"openstack": map[string]any{"auth_url": bottom.AuthURL, "interface": "public",
			"auth": map[string]any{"username": bottom.Config.Auth.Username, "password_from": bottom.Config.Auth.PasswordFrom,
				"project_name": bottom.Config.Auth.ProjectName, "user_domain_name": "Default", "project_domain_name": "Default"}}}
	if code, body := adminCall(t, admA, http.MethodPost, "clouds", map[string]any{"cloud": entry}); code != http.StatusCreated {
		t.Fatalf("register through A = %d %s", code, body)
	}
	waitCloud := func(want int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, body := adminCall(t, admB, http.MethodGet, "clouds/east", nil)
			if code == want && (want != http.StatusOK || strings.Contains(body, `"registered":true`)) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("gateway B: GET clouds/east = %d %s; want %d", code, body, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitCloud(http.StatusOK)
	// B places on the cloud A registered.
	srv := gb.BootServer(t, "via-b", "east-az")
	gb.DeleteServer(t, srv.ID)
	if code, body := adminCall(t, admA, http.MethodDelete, "clouds/east", nil); code != http.StatusNoContent {
		t.Fatalf("remove through A = %d %s", code, body)
	}
	waitCloud(http.StatusNotFound)
}
