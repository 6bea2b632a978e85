package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// simCloud is one simulated cloud of `canopy dev --sim` and the availability
// zone the scenario places into.
type simCloud struct {
	name string
	zone string
}

// simClouds are the clouds the scenario runs on, one parallel subtest each.
var simClouds = []simCloud{
	{"openstack-sim", "openstack-sim"},
	{"vsphere-sim", "vsphere-sim"},
	{"aws-sim", "us-east-1a"},
	{"azure-sim", "azure-weu-1"},
}

// simGateway is a second `canopy dev`, started with every simulated cloud
// beside the local pool, on its own port and data directory. It starts once,
// on first use, and stops after all the tests.
var simGateway struct {
	once       sync.Once
	err        error
	url        string
	cloudsYAML string
	log        string
}

// simKinds is the --sim list of the second gateway.
const simKinds = "openstack,vsphere,aws,azure"

// startSimGateway starts the second gateway (once) and returns it; a missing
// simulator skips the test outside CI and fails it under CI=true.
func startSimGateway(t *testing.T) {
	t.Helper()
	simGateway.once.Do(func() { simGateway.err = launchSimGateway() })
	if simGateway.err == nil {
		return
	}
	msg := fmt.Sprintf("canopy dev --sim %s: %v", simKinds, simGateway.err)
	if simGateway.log != "" {
		b, _ := os.ReadFile(simGateway.log)
		msg += "\n---- canopy dev --sim log ----\n" + tail(string(b), 4000)
	}
	if os.Getenv("CI") != "true" && strings.Contains(simGateway.err.Error(), "moto") {
		t.Skip(msg)
	}
	t.Fatal(msg)
}

func launchSimGateway() error {
	// aws-sim runs moto; say which package is missing rather than time out.
	if out, err := exec.Command("python3", "-c", "import moto.server").CombinedOutput(); err != nil {
		return fmt.Errorf("moto is missing (python3 -m pip install 'moto[server]'): %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	simGateway.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	simGateway.log = filepath.Join(dev.tmp, "canopy-sim.log")
	logf, err := os.Create(simGateway.log)
	if err != nil {
		return err
	}
	cmd := exec.Command(dev.bin, "dev", "--data-dir", filepath.Join(dev.tmp, "sim-data"),
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--build-delay", "200ms", "--sim", simKinds)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return err
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(logf, "stdout:", sc.Text())
			select {
			case lines <- sc.Text():
			default: // nobody reads once the path is known
			}
		}
		_ = cmd.Wait()
		close(exited)
		logf.Close()
	}()
	atExit = append(atExit, func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.After(90 * time.Second)
	for simGateway.cloudsYAML == "" {
		select {
		case l := <-lines:
			if i := strings.Index(l, "clouds.yaml: "); i >= 0 {
				simGateway.cloudsYAML = strings.TrimSpace(l[i+len("clouds.yaml: "):])
			}
		case <-exited:
			b, _ := os.ReadFile(simGateway.log)
			return fmt.Errorf("exited before it was ready: %s", tail(string(b), 600))
		case <-deadline:
			return fmt.Errorf("did not print its clouds.yaml path within 90s")
		}
	}
	return waitHTTP(simGateway.url+"/identity", 30*time.Second)
}

// simOSC runs openstackclient against the simulated-clouds gateway.
func simOSC(t *testing.T, cloud string, args ...string) string {
	t.Helper()
	out, err := oscWith(t, simGateway.cloudsYAML, cloud, args...)
	if err != nil {
		t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// simOSCJSON runs openstackclient with -f json and decodes its output.
func simOSCJSON(t *testing.T, cloud string, v any, args ...string) {
	t.Helper()
	out := simOSC(t, cloud, append(args, "-f", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("openstack %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// canopyAdmin runs `canopy admin -f json ARGS` as the admin user of the
// simulated-clouds gateway and returns its output and error.
func canopyAdmin(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dev.bin, append([]string{"admin", "--os-cloud", "admin", "-f", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+simGateway.cloudsYAML)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// canopyAdminJSON runs canopy admin and decodes its JSON output into v.
func canopyAdminJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, err := canopyAdmin(t, args...)
	if err != nil {
		t.Fatalf("canopy admin %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("canopy admin %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// routing is one routing record of the admin API.
type routing struct {
	ResourceID string `json:"resource_id"`
	Cloud      string `json:"cloud"`
	BottomID   string `json:"bottom_id"`
	State      string `json:"state"`
}

// routedOn lists the routings of one resource type on a cloud.
func routedOn(t *testing.T, cloud, typ string) []routing {
	t.Helper()
	var out struct {
		Routings []routing `json:"routings"`
	}
	canopyAdminJSON(t, &out, "routing", "list", "--cloud", cloud, "--type", typ)
	return out.Routings
}

// capabilities returns the capabilities a cloud declares.
func capabilities(t *testing.T, cloud string) map[string]any {
	t.Helper()
	var out struct {
		Cloud struct {
			Capabilities map[string]any `json:"capabilities"`
		} `json:"cloud"`
	}
	canopyAdminJSON(t, &out, "cloud", "show", cloud)
	if len(out.Cloud.Capabilities) == 0 {
		t.Fatalf("cloud %s declares no capabilities", cloud)
	}
	return out.Cloud.Capabilities
}

// backendCalls reads the gateway's /metrics and returns, for one cloud, the
// number of backend calls by "operation outcome" (outcome ok, not_found...).
// It is how the scenario sees what reached the cloud: network pushes never
// fail the user's request, a failed one is only left pending.
func backendCalls(t *testing.T, cloud string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(simGateway.url + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	const metric = "canopy_backend_call_duration_seconds_count{"
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, metric)
		if !ok {
			continue
		}
		labelText, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(labelText, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		if labels["cloud"] != cloud {
			continue
		}
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("/metrics: %q: %v", line, err)
		}
		out[labels["operation"]+" "+labels["outcome"]] += n
	}
	return out
}

// checkPushed fails the test when a backend call of ops on cloud failed, or
// when none of ops succeeded since before (a backendCalls reading).
func checkPushed(t *testing.T, cloud string, before map[string]float64, ops ...string) {
	t.Helper()
	after := backendCalls(t, cloud)
	okCalls := 0.0
	for key, n := range after {
		op, outcome, _ := strings.Cut(key, " ")
		if !slices.Contains(ops, op) {
			continue
		}
		if outcome == "ok" {
			okCalls += n - before[key]
		} else if n > before[key] {
			t.Errorf("%s: %v %s call(s) to %s failed (%s); the API answered success and the change is left pending",
				cloud, n-before[key], op, cloud, outcome)
		}
	}
	if okCalls == 0 {
		t.Errorf("%s: no successful %s call reached the cloud", cloud, strings.Join(ops, "/"))
	}
}

// awaitServer polls `server show` until the server has status want.
func awaitServer(t *testing.T, id, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var s map[string]any
		simOSCJSON(t, "demo", &s, "server", "show", id)
		if s["status"] == want {
			return s
		}
		if s["status"] == "ERROR" || time.Now().After(deadline) {
			t.Fatalf("server %s is %v (fault %v), want %s", id, s["status"], s["fault"], want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// awaitSimVolume polls `volume show` until the volume has status want (""
// : gone).
func awaitSimVolume(t *testing.T, id, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := oscWith(t, simGateway.cloudsYAML, "demo", "volume", "show", id, "-f", "json")
		if want == "" && err != nil && strings.Contains(out, "No volume with a name or ID") {
			return nil
		}
		if err == nil {
			if v := decodeJSON(t, out); v["status"] == want {
				return v
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("volume %s never reached %q: %v %s", id, want, err, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestClouds is the openstackclient scenario of issues 4–7 on each simulated
// cloud of `canopy dev --sim`, the clouds in parallel: a server in the
// cloud's zone with its routing, power actions, volumes, a floating IP, a
// security group rule on the running server, and the cloud disabled.
func TestClouds(t *testing.T) {
	start := time.Now()
	startSimGateway(t)
	t.Logf("canopy dev --sim %s ready in %s", simKinds, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warnings and errors of canopy dev --sim:\n%s", tail(notableLogLines(simGateway.log), 6000))
		}
	})

	// One router for the project: its interface takes private's gateway
	// address, so the clouds share it rather than each making one.
	var router map[string]any
	simOSCJSON(t, "demo", &router, "router", "create", "clouds-r1")
	simOSC(t, "demo", "router", "set", "--external-gateway", "public", "clouds-r1")
	simOSC(t, "demo", "router", "add", "subnet", "clouds-r1", privateSubnet(t))

	for _, c := range simClouds {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			cloudScenario(t, c)
			t.Logf("%s: %s", c.name, time.Since(began).Round(time.Millisecond))
		})
	}
}

// notableLogLines is the lines of a gateway log above level INFO.
func notableLogLines(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func privateSubnet(t *testing.T) string {
	t.Helper()
	var subnets []map[string]any
	simOSCJSON(t, "demo", &subnets, "subnet", "list", "--network", "private")
	if len(subnets) != 1 {
		t.Fatalf("subnets of private: %v, want one", subnets)
	}
	return subnets[0]["ID"].(string)
}

func cloudScenario(t *testing.T, c simCloud) {
	caps := capabilities(t, c.name)
	name := "clouds-" + c.name
	var srv map[string]any
	simOSCJSON(t, "demo", &srv, "server", "create", "--flavor", "1", "--image", "canopy-boot-a",
		"--network", "private", "--availability-zone", c.zone, "--wait", name)
	id, _ := srv["id"].(string)
	if id == "" {
		t.Fatalf("server create printed no id: %v", srv)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_, _ = oscWith(t, simGateway.cloudsYAML, "demo", "server", "delete", "--wait", id)
		}
	})
	if srv["status"] != "ACTIVE" {
		t.Fatalf("server create --wait in %s: status %v, fault %v", c.zone, srv["status"], srv["fault"])
	}
	var shown map[string]any
	simOSCJSON(t, "demo", &shown, "server", "show", id)
	if z := shown["OS-EXT-AZ:availability_zone"]; z != c.zone {
		t.Errorf("server show: zone %v, want %s", z, c.zone)
	}

	var rt struct {
		Routing routing `json:"routing"`
	}
	canopyAdminJSON(t, &rt, "routing", "show", id)
	if rt.Routing.Cloud != c.name || rt.Routing.BottomID == "" || rt.Routing.BottomID == id || rt.Routing.State != "active" {
		t.Errorf("routing of %s: %+v, want cloud %s, a bottom id of its own, state active", id, rt.Routing, c.name)
	}

	t.Run("stop-start", func(t *testing.T) {
		if caps["start_stop"] != true {
			out, err := oscWith(t, simGateway.cloudsYAML, "demo", "server", "stop", id)
			if err == nil || !strings.Contains(out, "HTTP 4") {
				t.Errorf("server stop on a cloud without start_stop: %v %s, want a 4xx", err, out)
			}
			return
		}
		simOSC(t, "demo", "server", "stop", id)
		awaitServer(t, id, "SHUTOFF")
		simOSC(t, "demo", "server", "start", id)
		awaitServer(t, id, "ACTIVE")
	})

	t.Run("volume", func(t *testing.T) {
		if caps["volumes"] != true {
			t.Logf("%s declares no volumes", c.name)
			return
		}
		volumeScenario(t, c, id)
	})

	t.Run("floating-ip", func(t *testing.T) {
		floatingIPScenario(t, c, id, caps)
	})

	t.Run("security-group", func(t *testing.T) {
		securityGroupScenario(t, c, id, caps["security_groups"] == true)
	})

	simOSC(t, "demo", "server", "delete", "--wait", id)
	deleted = true
	if out, err := canopyAdmin(t, "routing", "show", id); err == nil || !strings.Contains(out, "404") {
		t.Errorf("routing show of the deleted server: %v %s, want 404", err, out)
	}
	for _, r := range routedOn(t, c.name, "server") {
		if r.ResourceID == id {
			t.Errorf("routing list --cloud %s still has the deleted server: %+v", c.name, r)
		}
	}

	t.Run("disabled", func(t *testing.T) { disabledScenario(t, c) })
}

// volumeScenario: a volume in the cloud's zone is placed on that cloud,
// attached to the server, detached and deleted. A volume of another cloud
// (the local pool's zone nova) cannot be attached to the server.
func volumeScenario(t *testing.T, c simCloud, serverID string) {
	t.Run("foreign-zone-attach-refused", func(t *testing.T) {
		var vol map[string]any
		simOSCJSON(t, "demo", &vol, "volume", "create", "--size", "1", "--availability-zone", "nova", "clouds-nova-"+c.name)
		volID := vol["id"].(string)
		t.Cleanup(func() {
			_, _ = oscWith(t, simGateway.cloudsYAML, "demo", "server", "remove", "volume", serverID, volID)
			awaitSimVolume(t, volID, "available")
			_, _ = oscWith(t, simGateway.cloudsYAML, "demo", "volume", "delete", volID)
		})
		awaitSimVolume(t, volID, "available")
		out, err := oscWith(t, simGateway.cloudsYAML, "demo", "server", "add", "volume", serverID, volID)
		if err == nil {
			t.Errorf("a volume of the local pool (zone nova) was attached to a server on %s: %s", c.name, out)
		}
	})

	out, err := oscWith(t, simGateway.cloudsYAML, "demo", "volume", "create", "--size", "1",
		"--availability-zone", c.zone, "clouds-vol-"+c.name, "-f", "json")
	if err != nil {
		t.Fatalf("%s declares volumes, but a volume cannot be created in its zone %s: %v\n%s", c.name, c.zone, err, out)
	}
	volID := decodeJSON(t, out)["id"].(string)
	t.Cleanup(func() { _, _ = oscWith(t, simGateway.cloudsYAML, "demo", "volume", "delete", volID) })
	v := awaitSimVolume(t, volID, "available")
	if v["availability_zone"] != c.zone {
		t.Errorf("volume zone %v, want %s", v["availability_zone"], c.zone)
	}
	var rt struct {
		Routing routing `json:"routing"`
	}
	canopyAdminJSON(t, &rt, "routing", "show", volID)
	if rt.Routing.Cloud != c.name || rt.Routing.BottomID == "" {
		t.Errorf("volume routing %+v, want cloud %s with a bottom id", rt.Routing, c.name)
	}
	simOSC(t, "demo", "server", "add", "volume", serverID, volID)
	v = awaitSimVolume(t, volID, "in-use")
	if atts := mustJSONText(v["attachments"]); !strings.Contains(atts, serverID) {
		t.Errorf("volume attachments %s do not name the server %s", atts, serverID)
	}
	simOSC(t, "demo", "server", "remove", "volume", serverID, volID)
	awaitSimVolume(t, volID, "available")
	simOSC(t, "demo", "volume", "delete", volID)
	awaitSimVolume(t, volID, "")
}

// floatingIPScenario: a floating IP from public on the server's port, seen
// through `floating ip show` and pushed to the cloud; a cloud without
// floating IPs refuses it. A cloud with routers has the project's router
// (made before the server, its interface on private) realised too.
func floatingIPScenario(t *testing.T, c simCloud, serverID string, caps map[string]any) {
	declared := caps["floating_ips"] == true
	var fip map[string]any
	simOSCJSON(t, "demo", &fip, "floating", "ip", "create", "public")
	fipID, addr := fip["id"].(string), fip["floating_ip_address"].(string)
	t.Cleanup(func() { _, _ = oscWith(t, simGateway.cloudsYAML, "demo", "floating", "ip", "delete", fipID) })
	before := backendCalls(t, c.name)
	out, err := oscWith(t, simGateway.cloudsYAML, "demo", "server", "add", "floating", "ip", serverID, addr)
	if !declared {
		if err == nil || !strings.Contains(out, "does not support floating IPs") {
			t.Errorf("%s declares no floating IPs, yet server add floating ip: %v %s", c.name, err, out)
		}
		return
	}
	if err != nil {
		t.Fatalf("server add floating ip on %s: %v\n%s", c.name, err, out)
	}
	var ports []map[string]any
	simOSCJSON(t, "demo", &ports, "port", "list", "--server", serverID)
	if len(ports) != 1 {
		t.Fatalf("ports of the server: %v, want one", ports)
	}
	simOSCJSON(t, "demo", &fip, "floating", "ip", "show", fipID)
	if fip["port_id"] != ports[0]["ID"] || fip["fixed_ip_address"] == nil || fip["status"] != "ACTIVE" {
		t.Errorf("floating ip show: port %v, fixed ip %v, status %v; want port %v, its fixed ip, ACTIVE",
			fip["port_id"], fip["fixed_ip_address"], fip["status"], ports[0]["ID"])
	}
	checkPushed(t, c.name, before, "EnsureFloatingIP", "EnsureRouter")
	if caps["routers"] == true && backendCalls(t, c.name)["EnsureRouter ok"] == 0 {
		t.Errorf("%s declares routers, but router clouds-r1 (interface on private, gateway public) was never "+
			"realised there although private is (the server's network)", c.name)
	}
	simOSC(t, "demo", "server", "remove", "floating", "ip", serverID, addr)
	simOSCJSON(t, "demo", &fip, "floating", "ip", "show", fipID)
	if fip["port_id"] != nil {
		t.Errorf("floating ip still on port %v after remove", fip["port_id"])
	}
}

// securityGroupScenario: a group on the running server, then a rule added to
// it while the server runs; a cloud without security groups refuses the group.
func securityGroupScenario(t *testing.T, c simCloud, serverID string, declared bool) {
	group := "clouds-sg-" + c.name
	simOSC(t, "demo", "security", "group", "create", group)
	t.Cleanup(func() {
		_, _ = oscWith(t, simGateway.cloudsYAML, "demo", "server", "remove", "security", "group", serverID, group)
		_, _ = oscWith(t, simGateway.cloudsYAML, "demo", "security", "group", "delete", group)
	})
	out, err := oscWith(t, simGateway.cloudsYAML, "demo", "server", "add", "security", "group", serverID, group)
	if !declared {
		if err == nil || !strings.Contains(out, "does not support security groups") {
			t.Errorf("%s declares no security groups, yet server add security group: %v %s", c.name, err, out)
		}
		return
	}
	if err != nil {
		t.Fatalf("server add security group on %s: %v\n%s", c.name, err, out)
	}
	before := backendCalls(t, c.name)
	var rule map[string]any
	simOSCJSON(t, "demo", &rule, "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
		"--remote-ip", "0.0.0.0/0", group)
	if rule["port_range_min"] != float64(22) {
		t.Errorf("rule: %v", rule)
	}
	checkPushed(t, c.name, before, "EnsureSecurityGroup")
	var shown map[string]any
	simOSCJSON(t, "demo", &shown, "server", "show", serverID)
	if sgs := mustJSONText(shown["security_groups"]); !strings.Contains(sgs, group) {
		t.Errorf("server security_groups %s lack %s", sgs, group)
	}
	if shown["status"] != "ACTIVE" {
		t.Errorf("server %v after the rule, want ACTIVE", shown["status"])
	}
}

// disabledScenario: a disabled cloud's zone takes no placement, and is
// available again once the cloud is enabled.
func disabledScenario(t *testing.T, c simCloud) {
	if out, err := canopyAdmin(t, "cloud", "disable", c.name, "--reason", "e2e clouds"); err != nil {
		t.Fatalf("cloud disable: %v\n%s", err, out)
	}
	enabled := false
	t.Cleanup(func() {
		if !enabled {
			_, _ = canopyAdmin(t, "cloud", "enable", c.name)
		}
	})
	if st := zoneStatus(t, c.zone); st != "not available" {
		t.Errorf("zone %s of the disabled cloud is %q, want not available", c.zone, st)
	}
	name := "clouds-disabled-" + c.name
	out, err := oscWith(t, simGateway.cloudsYAML, "demo", "server", "create", "--flavor", "1", "--image", "canopy-boot-a",
		"--network", "private", "--availability-zone", c.zone, "--wait", name, "-f", "json")
	switch {
	case err != nil && strings.Contains(out, "HTTP 400"):
		// Nova's answer for a zone whose hosts are all disabled.
		if !strings.Contains(out, "availability zone") {
			t.Errorf("the 400 does not say the zone is not available: %s", out)
		}
	case strings.Contains(out, "No valid host was found"):
		// Scheduled and refused: the server is in ERROR.
		_, _ = oscWith(t, simGateway.cloudsYAML, "demo", "server", "delete", "--wait", name)
	default:
		_, _ = oscWith(t, simGateway.cloudsYAML, "demo", "server", "delete", "--wait", name)
		t.Errorf("server create in the disabled cloud's zone %s: %v %s, want a 400 or ERROR \"No valid host was found\"", c.zone, err, out)
	}
	for _, r := range routedOn(t, c.name, "server") {
		t.Errorf("the disabled cloud %s got a placement: %+v", c.name, r)
	}
	if out, err := canopyAdmin(t, "cloud", "enable", c.name); err != nil {
		t.Fatalf("cloud enable: %v\n%s", err, out)
	}
	enabled = true
	if st := zoneStatus(t, c.zone); st != "available" {
		t.Errorf("zone %s after cloud enable is %q, want available", c.zone, st)
	}
}

func zoneStatus(t *testing.T, zone string) string {
	t.Helper()
	var zones []map[string]any
	simOSCJSON(t, "demo", &zones, "availability", "zone", "list", "--compute")
	for _, z := range zones {
		if z["Zone Name"] == zone {
			return fmt.Sprint(z["Zone Status"])
		}
	}
	t.Fatalf("zone %s not listed: %v", zone, zones)
	return ""
}

// TestCloudsUnknownZone: a server in a zone that does not exist is the
// client's 400, naming the zone.
func TestCloudsUnknownZone(t *testing.T) {
	startSimGateway(t)
	const zone = "no-such-zone-e2e"
	out, err := oscWith(t, simGateway.cloudsYAML, "demo", "server", "create", "--flavor", "1", "--image", "canopy-boot-a",
		"--network", "private", "--availability-zone", zone, "clouds-bad-zone")
	if err == nil {
		_, _ = oscWith(t, simGateway.cloudsYAML, "demo", "server", "delete", "clouds-bad-zone")
		t.Fatalf("server create in zone %s succeeded: %s", zone, out)
	}
	if !strings.Contains(out, "HTTP 400") || !strings.Contains(out, zone) {
		t.Errorf("server create in an unknown zone: %s\nwant HTTP 400 naming %s", out, zone)
	}
}
