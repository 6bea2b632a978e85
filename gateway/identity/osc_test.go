package identity

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/gateway"
	"golang.org/x/crypto/bcrypt"
)

// TestOpenstackClient runs Debian's openstackclient against the service. It
// skips only where /usr/bin/openstack is missing outside CI.
func TestOpenstackClient(t *testing.T) {
	const osc = "/usr/bin/openstack"
	if _, err := os.Stat(osc); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("openstackclient not installed")
		}
		t.Fatalf("openstackclient required in CI: %v", err)
	}
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := New(context.Background(), newRegistry(t), Options{PublicURL: url, KeyRepository: t.TempDir(), PasswordHashCost: bcrypt.MinCost}, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(context.Background(), testUsers); err != nil {
		t.Fatal(err)
	}
	g := gateway.New(log, svc)
	g.Mount(svc)
	srv.Config.Handler = g.Handler()
	srv.Start()
	defer srv.Close()

	run := func(user, project string, args ...string) (string, error) {
		cmd := exec.Command(osc, append(args, "-f", "value")...)
		cmd.Env = append(os.Environ(), "OS_AUTH_URL="+url+"/identity/v3", "OS_IDENTITY_API_VERSION=3",
			"OS_USERNAME="+user, "OS_PASSWORD=secret", "OS_PROJECT_NAME="+project,
			"OS_USER_DOMAIN_NAME=Default", "OS_PROJECT_DOMAIN_NAME=Default", "OS_REGION_NAME=RegionOne",
			"OS_INTERFACE=public", "OS_CLOUD=", "OS_CLIENT_CONFIG_FILE=/dev/null")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	cases := []struct {
		name, user, project string
		args                []string
		want                string
	}{
		{"token issue", "demo", "demo", []string{"token", "issue"}, svcIDs(t, svc, "demo")},
		{"catalog list", "demo", "demo", []string{"catalog", "list"}, "compute"},
		{"project list as admin", "admin", "admin", []string{"project", "list"}, "alt"},
		{"user list as admin", "admin", "admin", []string{"user", "list"}, "viewer"},
		{"role assignment list", "admin", "admin", []string{"role", "assignment", "list", "--names"}, "member"},
		{"endpoint list", "admin", "admin", []string{"endpoint", "list"}, "RegionOne"},
		{"application credential create", "demo", "demo", []string{"application", "credential", "create", "osc-cred"}, "osc-cred"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(tc.user, tc.project, tc.args...)
			if err != nil || !strings.Contains(out, tc.want) {
				t.Fatalf("openstack %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
		})
	}
}

// svcIDs returns the project id of a bootstrapped user's project, which
// `token issue` prints.
func svcIDs(t *testing.T, svc *Service, user string) string {
	t.Helper()
	p, err := svc.projects.ByName(context.Background(), "_", DefaultDomainID+"/"+user)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}
