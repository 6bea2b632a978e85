// Package e2e drives a running `canopy dev` with real third-party clients:
// Debian's python3-openstackclient, unmodified. TestMain builds the binary,
// starts it on a free loopback port with its own data directory, and stops it
// at the end.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dev is the running gateway the tests talk to.
var dev struct {
	url        string
	cloudsYAML string
	dataDir    string
	log        string
	cmd        *exec.Cmd
	// bin is the built canopy binary and tmp the run's scratch directory,
	// for tests that start a gateway of their own (clouds_test.go).
	bin string
	tmp string
}

// atExit holds the stops of what tests start lazily (a second gateway);
// run calls them, last first, after the tests.
var atExit []func()

const openstackBin = "/usr/bin/openstack"

func TestMain(m *testing.M) {
	if _, err := os.Stat(openstackBin); err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "e2e: python3-openstackclient is required in CI (.ci/run installs it)")
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "e2e: skipping, /usr/bin/openstack not installed (apt-get install python3-openstackclient)")
		os.Exit(0)
	}
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if dev.log != "" {
			b, _ := os.ReadFile(dev.log)
			fmt.Fprintf(os.Stderr, "---- canopy dev log ----\n%s\n", tail(string(b), 4000))
		}
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	tmp, err := os.MkdirTemp("", "canopy-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	defer func() {
		for i := len(atExit) - 1; i >= 0; i-- {
			atExit[i]()
		}
	}()
	bin := filepath.Join(tmp, "canopy")
	dev.bin, dev.tmp = bin, tmp
	build := exec.Command("go", "build", "-o", bin, "../cmd/canopy")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return 0, fmt.Errorf("build canopy: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	dev.dataDir = filepath.Join(tmp, "data")
	dev.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	dev.log = filepath.Join(tmp, "canopy.log")
	logf, err := os.Create(dev.log)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	dev.cmd = exec.Command(bin, "dev", "--data-dir", dev.dataDir, "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--build-delay", "200ms")
	stdout, _ := dev.cmd.StdoutPipe()
	dev.cmd.Stderr = logf
	if err := dev.cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = dev.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = dev.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = dev.cmd.Process.Kill()
		}
	}()
	// canopy dev prints the clouds.yaml path and the demo user's exports.
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
			fmt.Fprintln(logf, "stdout:", sc.Text())
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	for dev.cloudsYAML == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				return 0, fmt.Errorf("canopy dev exited before it was ready")
			}
			if i := strings.Index(l, "clouds.yaml: "); i >= 0 {
				dev.cloudsYAML = strings.TrimSpace(l[i+len("clouds.yaml: "):])
			}
		case <-deadline:
			return 0, fmt.Errorf("canopy dev did not print its clouds.yaml path within 60s")
		}
	}
	go func() {
		for range lines {
		}
	}()
	if err := waitHTTP(dev.url+"/identity", 30*time.Second); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitHTTP(url string, d time.Duration) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("gateway at %s did not answer within %s", url, d)
}

// osc runs openstackclient as cloud (an entry of the dev clouds.yaml) and
// returns its stdout; it fails the test on a non-zero exit.
func osc(t *testing.T, cloud string, args ...string) string {
	t.Helper()
	out, err := oscErr(t, cloud, args...)
	if err != nil {
		t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// oscErr runs openstackclient and returns its combined output and error.
func oscErr(t *testing.T, cloud string, args ...string) (string, error) {
	t.Helper()
	return oscWith(t, dev.cloudsYAML, cloud, args...)
}

// oscWith runs openstackclient with the clouds.yaml at cloudsYAML (that of
// another gateway than dev) and returns its combined output and error.
func oscWith(t *testing.T, cloudsYAML, cloud string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, openstackBin, append([]string{"--os-cloud", cloud}, args...)...)
	cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+cloudsYAML)
	for _, k := range []string{"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_CLOUD", "OS_TOKEN"} {
		cmd.Env = append(cmd.Env, k+"=")
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// oscJSON runs openstackclient with -f json and decodes the output into v.
func oscJSON(t *testing.T, cloud string, v any, args ...string) {
	t.Helper()
	out := osc(t, cloud, append(args, "-f", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("openstack %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
