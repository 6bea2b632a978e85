package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOpenStackClientScenario is the spine's user story: the openstackclient
// commands of the README, unmodified, against `canopy dev`.
func TestOpenStackClientScenario(t *testing.T) {
	var tok map[string]any
	oscJSON(t, "demo", &tok, "token", "issue")
	if tok["id"] == "" || tok["project_id"] == "" {
		t.Fatalf("token issue: %v", tok)
	}

	var catalog []map[string]any
	oscJSON(t, "demo", &catalog, "catalog", "list")
	types := map[string]bool{}
	for _, e := range catalog {
		types[e["Type"].(string)] = true
	}
	for _, want := range []string{"identity", "compute", "network", "image", "volumev3", "block-storage"} {
		if !types[want] {
			t.Errorf("catalog lacks %s: %v", want, types)
		}
	}

	var flavors []map[string]any
	oscJSON(t, "demo", &flavors, "flavor", "list")
	if !hasField(flavors, "ID", "1") || !hasField(flavors, "ID", "2") {
		t.Fatalf("flavors 1 and 2 missing: %v", flavors)
	}

	var images []map[string]any
	oscJSON(t, "demo", &images, "image", "list")
	if len(images) < 2 {
		t.Fatalf("want two bootstrapped images, got %v", images)
	}
	imageID := images[0]["ID"].(string)

	var nets []map[string]any
	oscJSON(t, "demo", &nets, "network", "list")
	if !hasField(nets, "Name", "private") {
		t.Fatalf("network private missing: %v", nets)
	}

	// keypair create prints the generated private key, once.
	if pk := osc(t, "demo", "keypair", "create", "k1"); !strings.Contains(pk, "PRIVATE KEY-----") {
		t.Fatalf("keypair create did not print a private key:\n%s", pk)
	}

	var srv map[string]any
	oscJSON(t, "demo", &srv, "server", "create", "--flavor", "1", "--image", imageID,
		"--network", "private", "--key-name", "k1", "--wait", "vm1")
	if srv["status"] != "ACTIVE" {
		t.Fatalf("server create --wait: status %v", srv["status"])
	}
	id := srv["id"].(string)

	var list []map[string]any
	oscJSON(t, "demo", &list, "server", "list")
	if !hasField(list, "ID", id) {
		t.Fatalf("server list lacks vm1: %v", list)
	}

	show := func() map[string]any {
		var s map[string]any
		oscJSON(t, "demo", &s, "server", "show", "vm1")
		return s
	}
	s := show()
	addrs, _ := s["addresses"].(map[string]any)
	if addrs == nil {
		// openstackclient 6 prints addresses as a dict; older ones as a string.
		if a, ok := s["addresses"].(string); !ok || !strings.Contains(a, "private=") {
			t.Fatalf("server has no address on private: %v", s["addresses"])
		}
	} else if _, ok := addrs["private"]; !ok {
		t.Fatalf("server has no address on private: %v", addrs)
	}
	if s["key_name"] != "k1" {
		t.Errorf("key_name = %v", s["key_name"])
	}

	osc(t, "demo", "server", "stop", "vm1")
	waitStatus(t, "vm1", "SHUTOFF")
	osc(t, "demo", "server", "start", "vm1")
	waitStatus(t, "vm1", "ACTIVE")
	osc(t, "demo", "server", "reboot", "vm1")
	waitStatus(t, "vm1", "ACTIVE")

	// Another project sees nothing of demo's server.
	if out, err := oscErr(t, "alt", "server", "show", id); err == nil {
		t.Fatalf("alt can see demo's server:\n%s", out)
	}

	osc(t, "demo", "server", "delete", "--wait", "vm1")
	if out, err := oscErr(t, "demo", "server", "show", id); err == nil {
		t.Fatalf("deleted server still shown:\n%s", out)
	}
	osc(t, "demo", "keypair", "delete", "k1")
}

// TestUnauthenticated checks that an API call without a valid token is
// refused with 401 and an OpenStack fault body.
func TestUnauthenticated(t *testing.T) {
	for _, path := range []string{"/compute/v2.1/servers", "/network/v2.0/networks", "/image/v2/images"} {
		req, _ := http.NewRequest("GET", dev.url+path, nil)
		req.Header.Set("X-Auth-Token", "not-a-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s with a bad token: %d, want 401", path, resp.StatusCode)
		}
	}
}

func waitStatus(t *testing.T, name, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last any
	for time.Now().Before(deadline) {
		var s map[string]any
		oscJSON(t, "demo", &s, "server", "show", name)
		last = s["status"]
		if last == want {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("server %s did not reach %s (last %v)", name, want, last)
}

func hasField(rows []map[string]any, key, want string) bool {
	for _, r := range rows {
		if r[key] == want {
			return true
		}
	}
	return false
}

// TestMetrics checks that /metrics exposes the API, registry and backend
// series after the scenario's traffic.
func TestMetrics(t *testing.T) {
	// Make sure at least one API call and one backend call happened.
	osc(t, "demo", "server", "list")
	resp, err := http.Get(dev.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`canopy_api_request_duration_seconds_count{method="GET",route="GET /compute/v2.1/servers/detail",service="compute",status="200"}`,
		`canopy_registry_command_duration_seconds_count`,
		`canopy_backend_call_duration_seconds_count{cloud="local",operation="Hosts",outcome="ok"}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
