package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

const (
	projectA = "proj-a"
	projectB = "proj-b"
	imageID  = "70a599e0-31e7-49b7-b260-868f441e862b"
	netA     = "3b3a4c5e-0000-4000-8000-00000000000a"
	netB     = "3b3a4c5e-0000-4000-8000-00000000000b"
)

type env struct {
	b       *broker.Broker
	reg     *registry.Registry
	cloud   *brokertest.Backend
	placer  *brokertest.Placer
	images  *brokertest.Images
	ports   *brokertest.Ports
	callerA broker.Caller
}

func newEnv(t *testing.T, tune func(*env)) *env {
	t.Helper()
	ctx := context.Background()
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		reg:    reg,
		cloud:  brokertest.NewBackend("sim"),
		placer: brokertest.NewPlacer("sim", "host1"),
		images: brokertest.NewImages(&registry.Image{ID: imageID, Name: "cirros", Status: "active", Visibility: "public"}),
		ports: brokertest.NewPorts(
			&registry.Network{ID: netA, ProjectID: projectA, Name: "private"},
			&registry.Network{ID: netB, ProjectID: projectB, Name: "other"}),
		callerA: broker.Caller{UserID: "user-a", ProjectID: projectA, RequestID: "req-1"},
	}
	if tune != nil {
		tune(e)
	}
	flavors := registry.NewCollection[registry.Flavor](reg, registry.KindFlavor, func(f *registry.Flavor) string { return f.Name })
	if err := flavors.Create(ctx, registry.Global, "1", time.Now(), &registry.Flavor{ID: "1", Name: "m1.tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1, IsPublic: true}); err != nil {
		t.Fatal(err)
	}
	e.b = broker.New(reg, e.placer, e.images, e.ports, map[string]proxies.Backend{"sim": e.cloud},
		slog.New(slog.DiscardHandler), broker.Options{PollInterval: time.Millisecond, Quota: broker.Quota{Instances: 3, Cores: 20, RAM: 51200}})
	t.Cleanup(e.b.Close)
	return e
}

func (e *env) create(t *testing.T, mut func(*broker.CreateRequest)) ([]*registry.Server, error) {
	t.Helper()
	req := broker.CreateRequest{Caller: e.callerA, Name: "vm1", ImageID: imageID, FlavorID: "1",
		Networks: []broker.NetworkRequest{{NetworkID: netA}}, MinCount: 1, MaxCount: 1}
	if mut != nil {
		mut(&req)
	}
	return e.b.CreateServers(context.Background(), req)
}

// waitStatus polls the record until its status is want (or it is gone when want is "").
func (e *env) waitStatus(t *testing.T, id, want string) *registry.Server {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := e.b.GetServer(context.Background(), e.callerA, id)
		if want == "" && errors.Is(err, proxies.ErrNotFound) {
			return nil
		}
		if err == nil && s.Status == want && s.TaskState == "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s: want status %q, have %+v (err %v)", id, want, s, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) usage(t *testing.T) broker.Usage {
	u, err := e.b.Usage(context.Background(), projectA)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCreateOutcomes(t *testing.T) {
	cases := []struct {
		name       string
		tune       func(*env)
		wantStatus string
		wantFault  string
		wantClaims int
		wantPorts  int
	}{
		{name: "active", wantStatus: "ACTIVE", wantClaims: 1, wantPorts: 1},
		{name: "active after polls", tune: func(e *env) { e.cloud.BuildPolls = 3 }, wantStatus: "ACTIVE", wantClaims: 1, wantPorts: 1},
		{name: "backend create fails", tune: func(e *env) {
			e.cloud.CreateErr = proxies.Errorf(proxies.ErrUnavailable, "CreateServer", "cloud sim unreachable")
		}, wantStatus: "ERROR", wantFault: "cloud sim unreachable"},
		{name: "build ends in error", tune: func(e *env) { e.cloud.BuildPolls, e.cloud.BuildFault = 2, "disk full" },
			wantStatus: "ERROR", wantFault: "disk full"},
		{name: "no valid host", tune: func(e *env) { e.placer.Err = scheduler.ErrNoValidHost },
			wantStatus: "ERROR", wantFault: "No valid host was found. "},
		{name: "backend cannot run servers", tune: func(e *env) { e.cloud.Caps.Servers = false },
			wantStatus: "ERROR", wantFault: "does not run servers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.tune)
			made, err := e.create(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := e.waitStatus(t, made[0].ID, tc.wantStatus)
			if tc.wantFault != "" && (s.Fault == nil || !strings.Contains(s.Fault.Message, tc.wantFault)) {
				t.Errorf("fault = %+v, want it to contain %q", s.Fault, tc.wantFault)
			}
			if tc.wantStatus == "ACTIVE" && (len(s.Addresses) != 1 || s.Addresses[0].NetworkName != "private" || s.LaunchedAt.IsZero()) {
				t.Errorf("active server addresses/launch: %+v %v", s.Addresses, s.LaunchedAt)
			}
			if got := e.placer.Claims(); got != tc.wantClaims {
				t.Errorf("claims = %d, want %d", got, tc.wantClaims)
			}
			if got := e.ports.Held(); got != tc.wantPorts {
				t.Errorf("ports = %d, want %d", got, tc.wantPorts)
			}
			if tc.wantStatus == "ERROR" && e.cloud.Has(s.ID) {
				t.Errorf("backend still holds the failed server")
			}
			if u := e.usage(t); u.Instances != 1 {
				t.Errorf("usage = %+v, want 1 instance (Nova counts ERROR servers until deleted)", u)
			}
		})
	}
}

func TestCreateRejectsLeaveNothing(t *testing.T) {
	cases := []struct {
		name    string
		mut     func(*broker.CreateRequest)
		kind    error
		message string
	}{
		{name: "missing flavor", mut: func(r *broker.CreateRequest) { r.FlavorID = "99" }, kind: proxies.ErrInvalid, message: "Flavor 99 could not be found."},
		{name: "missing image", mut: func(r *broker.CreateRequest) { r.ImageID = "nope" }, kind: proxies.ErrInvalid, message: "Image nope could not be found."},
		{name: "network of another project", mut: func(r *broker.CreateRequest) { r.Networks[0].NetworkID = netB }, kind: proxies.ErrInvalid,
			message: "Network " + netB + " could not be found."},
		{name: "over quota", mut: func(r *broker.CreateRequest) { r.MinCount, r.MaxCount = 4, 4 }, kind: proxies.ErrQuota,
			message: "Quota exceeded for instances: Requested 4, but already used 0 of 3 instances"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			_, err := e.create(t, tc.mut)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want kind %v", err, tc.kind)
			}
			if got := proxies.SafeMessage(err); err.Error() != tc.message && got != tc.message {
				t.Errorf("message = %q / %q, want %q", got, err.Error(), tc.message)
			}
			n, _ := e.b.Servers().Count(context.Background(), projectA)
			if n != 0 || e.placer.Claims() != 0 || e.ports.Held() != 0 || e.usage(t).Instances != 0 {
				t.Errorf("left behind: records %d claims %d ports %d usage %+v", n, e.placer.Claims(), e.ports.Held(), e.usage(t))
			}
		})
	}
}

func TestCreateRetryIsIdempotent(t *testing.T) {
	e := newEnv(t, nil)
	ids := []string{"9d7e0000-0000-4000-8000-000000000001"}
	for range 3 {
		made, err := e.create(t, func(r *broker.CreateRequest) { r.IDs = ids })
		if err != nil || len(made) != 1 || made[0].ID != ids[0] {
			t.Fatalf("made %v err %v", made, err)
		}
	}
	e.waitStatus(t, ids[0], "ACTIVE")
	if n := e.cloud.Count("create " + ids[0]); n != 1 {
		t.Errorf("backend creates = %d, want 1", n)
	}
	if u := e.usage(t); u.Instances != 1 || u.Cores != 1 || u.RAM != 512 {
		t.Errorf("usage = %+v", u)
	}
}

func TestMultipleCreate(t *testing.T) {
	e := newEnv(t, nil)
	made, err := e.create(t, func(r *broker.CreateRequest) { r.MinCount, r.MaxCount = 1, 5 })
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != 3 || made[0].Name != "vm1-1" || made[2].Name != "vm1-3" {
		t.Fatalf("quota 3 should grant 3 of max 5 named vm1-N: %d %q", len(made), made[0].Name)
	}
}

func TestDeleteWhileBuilding(t *testing.T) {
	e := newEnv(t, func(e *env) { e.cloud.CreateDelay = time.Hour })
	made, err := e.create(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := made[0].ID
	if err := e.b.DeleteServer(context.Background(), e.callerA, id); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, id, "")
	if e.cloud.Has(id) || e.placer.Claims() != 0 || e.ports.Held() != 0 || e.usage(t).Instances != 0 {
		t.Errorf("left behind: backend %v claims %d ports %d usage %+v", e.cloud.Has(id), e.placer.Claims(), e.ports.Held(), e.usage(t))
	}
	if e.cloud.Count("delete "+id) == 0 {
		t.Errorf("backend delete not called: %v", e.cloud.Calls())
	}
}

func TestPowerActions(t *testing.T) {
	e := newEnv(t, nil)
	made, err := e.create(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, ctx := made[0].ID, context.Background()
	e.waitStatus(t, id, "ACTIVE")
	steps := []struct {
		name    string
		do      func() error
		kind    error
		message string
		want    string
	}{
		{name: "start active", do: func() error { return e.b.StartServer(ctx, e.callerA, id) }, kind: proxies.ErrConflict,
			message: "Cannot 'start' instance " + id + " while it is in vm_state active"},
		{name: "stop", do: func() error { return e.b.StopServer(ctx, e.callerA, id) }, want: "SHUTOFF"},
		{name: "soft reboot shutoff", do: func() error { return e.b.RebootServer(ctx, e.callerA, id, proxies.RebootSoft) }, kind: proxies.ErrConflict,
			message: "Cannot 'reboot' instance " + id + " while it is in vm_state stopped"},
		{name: "start", do: func() error { return e.b.StartServer(ctx, e.callerA, id) }, want: "ACTIVE"},
		{name: "soft reboot", do: func() error { return e.b.RebootServer(ctx, e.callerA, id, proxies.RebootSoft) }, want: "ACTIVE"},
		{name: "hard reboot", do: func() error { return e.b.RebootServer(ctx, e.callerA, id, proxies.RebootHard) }, want: "ACTIVE"},
		{name: "other project", do: func() error { return e.b.StopServer(ctx, broker.Caller{ProjectID: projectB}, id) }, kind: proxies.ErrNotFound,
			message: "Instance " + id + " could not be found."},
	}
	for _, st := range steps {
		err := st.do()
		if st.kind != nil {
			if !errors.Is(err, st.kind) || proxies.SafeMessage(err) != st.message {
				t.Errorf("%s: err = %v, want %v %q", st.name, err, st.kind, st.message)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		e.waitStatus(t, id, st.want)
	}
	for _, c := range []string{"stop " + id, "start " + id, "reboot-SOFT " + id, "reboot-HARD " + id} {
		if e.cloud.Count(c) != 1 {
			t.Errorf("backend call %q count = %d: %v", c, e.cloud.Count(c), e.cloud.Calls())
		}
	}
	acts, err := e.b.InstanceActions(ctx, e.callerA, id)
	if err != nil || len(acts) != 5 || acts[0].Action != "reboot" || acts[4].Action != "create" || acts[4].Events[0].Result != "Success" {
		t.Errorf("actions = %+v err %v", acts, err)
	}
}

func TestUnsupportedCapability(t *testing.T) {
	e := newEnv(t, func(e *env) {
		e.cloud.Caps.StartStop, e.cloud.Caps.ConsoleOutput, e.cloud.Caps.Snapshot = false, false, false
	})
	made, err := e.create(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, ctx := made[0].ID, context.Background()
	e.waitStatus(t, id, "ACTIVE")
	_, cerr := e.b.ConsoleOutput(ctx, e.callerA, id, 10)
	_, ierr := e.b.CreateImage(ctx, e.callerA, id, "snap", nil)
	for name, err := range map[string]error{"stop": e.b.StopServer(ctx, e.callerA, id), "console": cerr, "image": ierr} {
		if !errors.Is(err, proxies.ErrNotSupported) {
			t.Errorf("%s: err = %v, want not supported", name, err)
		}
	}
	if s := e.waitStatus(t, id, "ACTIVE"); s.TaskState != "" {
		t.Errorf("refused action left task_state %q", s.TaskState)
	}
}

func TestCreateImage(t *testing.T) {
	e := newEnv(t, nil)
	made, _ := e.create(t, nil)
	id := made[0].ID
	e.waitStatus(t, id, "ACTIVE")
	imgID, err := e.b.CreateImage(context.Background(), e.callerA, id, "snap1", map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, id, "ACTIVE")
	img := e.images.Get(imgID)
	if img == nil || img.Status != "active" || img.Properties["instance_uuid"] != id || img.Properties["image_type"] != "snapshot" {
		t.Errorf("snapshot image = %+v", img)
	}
}

func TestSyncCorrectsDrift(t *testing.T) {
	e := newEnv(t, nil)
	made, _ := e.create(t, nil)
	id := made[0].ID
	e.waitStatus(t, id, "ACTIVE")
	e.cloud.SetState(id, proxies.StateStopped)
	n, err := e.b.SyncOnce(context.Background(), "sim", e.cloud)
	if err != nil || n != 1 {
		t.Fatalf("corrected %d err %v", n, err)
	}
	if s := e.waitStatus(t, id, "SHUTOFF"); s.PowerState != 4 {
		t.Errorf("power = %d", s.PowerState)
	}
	if n, _ := e.b.SyncOnce(context.Background(), "sim", e.cloud); n != 0 {
		t.Errorf("second pass corrected %d", n)
	}
}

func TestDeleteReleasesEverything(t *testing.T) {
	e := newEnv(t, nil)
	made, _ := e.create(t, nil)
	id := made[0].ID
	e.waitStatus(t, id, "ACTIVE")
	if err := e.b.DeleteServer(context.Background(), e.callerA, id); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, id, "")
	if e.cloud.Has(id) || e.placer.Claims() != 0 || e.ports.Held() != 0 || e.usage(t) != (broker.Usage{}) {
		t.Errorf("left behind: backend %v claims %d ports %d usage %+v", e.cloud.Has(id), e.placer.Claims(), e.ports.Held(), e.usage(t))
	}
	if err := e.b.DeleteServer(context.Background(), e.callerA, id); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}
