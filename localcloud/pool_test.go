package localcloud_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
)

var tiny = proxies.Flavor{ID: "1", Name: "m1.tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1}

func spec(id, host string) proxies.ServerSpec {
	return proxies.ServerSpec{ID: id, Name: "web-" + id, Flavor: tiny, ImageID: "img", Host: host}
}

// TestLifecycleStates checks that servers pass through Nova's transitional
// states for exactly the configured delays (on synctest's fake clock).
func TestLifecycleStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := localcloud.DefaultConfig()
		cfg.ApplyBuildDelay(time.Second) // stop/start 400ms, reboot 600ms, delete 200ms
		p, err := localcloud.New("local", cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ctx := t.Context()
		srv := p.Servers()
		type want struct {
			state proxies.ServerState
			power proxies.PowerState
			task  string
		}
		expect := func(step string, w want) {
			t.Helper()
			st, err := srv.GetServer(ctx, "a")
			if err != nil {
				t.Fatalf("%s: GetServer: %v", step, err)
			}
			if got := (want{st.State, st.PowerState, st.TaskState}); got != w {
				t.Fatalf("%s: server is %+v; want %+v", step, got, w)
			}
		}
		steps := []struct {
			name   string
			act    func() error
			during want
			wait   time.Duration
			after  want
		}{
			{"create", func() error { _, err := srv.CreateServer(ctx, spec("a", "sim-1")); return err },
				want{proxies.StateBuilding, proxies.PowerNoState, "spawning"}, time.Second, want{proxies.StateActive, proxies.PowerRunning, ""}},
			{"stop", func() error { _, err := srv.StopServer(ctx, "a"); return err },
				want{proxies.StateActive, proxies.PowerRunning, "powering-off"}, 400 * time.Millisecond, want{proxies.StateStopped, proxies.PowerShutdown, ""}},
			{"start", func() error { _, err := srv.StartServer(ctx, "a"); return err },
				want{proxies.StateStopped, proxies.PowerShutdown, "powering-on"}, 400 * time.Millisecond, want{proxies.StateActive, proxies.PowerRunning, ""}},
			{"reboot", func() error { _, err := srv.RebootServer(ctx, "a", proxies.RebootSoft); return err },
				want{proxies.StateActive, proxies.PowerRunning, "rebooting"}, 600 * time.Millisecond, want{proxies.StateActive, proxies.PowerRunning, ""}},
		}
		for _, s := range steps {
			if err := s.act(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			expect(s.name+" (in progress)", s.during)
			time.Sleep(s.wait - time.Millisecond)
			synctest.Wait()
			expect(s.name+" (just before the delay ends)", s.during)
			time.Sleep(time.Millisecond)
			synctest.Wait()
			expect(s.name+" (done)", s.after)
		}
		start := time.Now()
		if err := srv.DeleteServer(ctx, "a"); err != nil {
			t.Fatalf("DeleteServer: %v", err)
		}
		if d := time.Since(start); d != 200*time.Millisecond {
			t.Errorf("DeleteServer returned after %s; want the 200ms delete delay", d)
		}
		if _, err := srv.GetServer(ctx, "a"); !errors.Is(err, proxies.ErrNotFound) {
			t.Errorf("GetServer after delete: %v; want ErrNotFound", err)
		}
	})
}

// TestCloseLeavesNoGoroutines closes a pool with transitions pending and a
// delete waiting: synctest fails the test if any goroutine is left behind.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := localcloud.DefaultConfig()
		cfg.ApplyBuildDelay(time.Hour)
		p, err := localcloud.New("local", cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for _, id := range []string{"a", "b", "c"} {
			if _, err := p.Servers().CreateServer(ctx, spec(id, "")); err != nil {
				t.Fatal(err)
			}
		}
		errc := make(chan error, 1)
		go func() { errc <- p.Servers().DeleteServer(ctx, "a") }()
		synctest.Wait()
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-errc; !errors.Is(err, proxies.ErrUnavailable) {
			t.Errorf("DeleteServer interrupted by Close = %v; want ErrUnavailable", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestCreatePlacementErrors(t *testing.T) {
	cases := []struct {
		name   string
		flavor proxies.Flavor
		host   string
		want   error
	}{
		{name: "unknown host", flavor: tiny, host: "nowhere", want: proxies.ErrInvalid},
		{name: "too much RAM for the host", flavor: proxies.Flavor{ID: "big", RAMMB: 4096*3/2 + 1, VCPUs: 1}, host: "sim-1", want: proxies.ErrCapacity},
		{name: "too many vCPUs (over 16x)", flavor: proxies.Flavor{ID: "wide", VCPUs: 4*16 + 1, RAMMB: 1}, host: "sim-1", want: proxies.ErrCapacity},
		{name: "too much disk", flavor: proxies.Flavor{ID: "fat", VCPUs: 1, RAMMB: 1, DiskGB: 41}, host: "sim-1", want: proxies.ErrCapacity},
		{name: "no host anywhere", flavor: proxies.Flavor{ID: "big", RAMMB: 10000, VCPUs: 1}, host: "", want: proxies.ErrCapacity},
		{name: "negative size", flavor: proxies.Flavor{ID: "neg", RAMMB: -1}, host: "sim-1", want: proxies.ErrInvalid},
		{name: "fits exactly (1.5x RAM)", flavor: proxies.Flavor{ID: "max", RAMMB: 4096 * 3 / 2, VCPUs: 64, DiskGB: 40}, host: "sim-2", want: nil},
	}
	p := newPool(t, func(c *localcloud.Config) { c.SimulatedHosts, c.HostVCPUs, c.HostRAMMB, c.HostDiskGB = 2, 4, 4096, 40 })
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := proxies.ServerSpec{ID: "s" + string(rune('a'+i)), Flavor: c.flavor, Host: c.host}
			_, err := p.Servers().CreateServer(t.Context(), s)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("CreateServer = %v; want %v", err, c.want)
			}
			if c.want != nil {
				if _, err := p.Servers().GetServer(t.Context(), s.ID); !errors.Is(err, proxies.ErrNotFound) {
					t.Errorf("a refused create left a server behind: %v", err)
				}
			}
		})
	}
}

func TestCapacityIsFreedByDelete(t *testing.T) {
	p := newPool(t, func(c *localcloud.Config) { c.SimulatedHosts, c.HostRAMMB = 1, 1024 }) // room for 3 tiny (1.5x)
	ctx := t.Context()
	for i, id := range []string{"a", "b", "c", "d"} {
		_, err := p.Servers().CreateServer(ctx, spec(id, "sim-1"))
		if wantFull := i == 3; wantFull != errors.Is(err, proxies.ErrCapacity) {
			t.Fatalf("create #%d = %v (want capacity error: %v)", i+1, err, wantFull)
		}
	}
	if err := p.Servers().DeleteServer(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Servers().CreateServer(ctx, spec("d", "sim-1")); err != nil {
		t.Fatalf("create after a delete freed room: %v", err)
	}
	h, _ := p.Host("sim-1")
	if u, _ := h.Usage(ctx); u != (localcloud.Usage{VCPUs: 3, RAMMB: 1536, DiskGB: 3}) {
		t.Errorf("usage = %+v; want three tiny servers", u)
	}
}

func TestFailureInjection(t *testing.T) {
	cases := []struct {
		name     string
		cfg      func(*localcloud.Config)
		knob     func(*localcloud.Pool)
		wantFail []bool // outcome of successive creates on sim-1
	}{
		{name: "fail next 2 from config", cfg: func(c *localcloud.Config) { c.FailNextCreates = map[string]int{"sim-1": 2} },
			wantFail: []bool{true, true, false}},
		{name: "fail next 1 by knob", knob: func(p *localcloud.Pool) { h, _ := p.SimulatedHost("sim-1"); h.FailNextCreates(1) },
			wantFail: []bool{true, false}},
		{name: "rate 1", cfg: func(c *localcloud.Config) { c.FailureRate = 1 }, wantFail: []bool{true, true}},
		{name: "rate 0", wantFail: []bool{false, false}},
		{name: "other host unaffected", cfg: func(c *localcloud.Config) { c.FailNextCreates = map[string]int{"sim-2": 5} },
			wantFail: []bool{false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPool(t, c.cfg)
			if c.knob != nil {
				c.knob(p)
			}
			for i, fail := range c.wantFail {
				id := "s" + string(rune('0'+i))
				st, err := p.Servers().CreateServer(t.Context(), spec(id, "sim-1"))
				if err != nil {
					t.Fatal(err)
				}
				if got := st.State == proxies.StateError; got != fail {
					t.Errorf("create #%d state %s (fault %q); want failed=%v", i+1, st.State, st.Fault, fail)
				}
				if fail && !strings.Contains(st.Fault, "failure injected") {
					t.Errorf("fault %q does not say the failure was injected", st.Fault)
				}
				if err := p.Servers().DeleteServer(t.Context(), id); err != nil {
					t.Errorf("delete of a failed server: %v", err)
				}
			}
		})
	}
}

func TestConsoleOutputNamesTheServer(t *testing.T) {
	p := newPool(t, nil)
	ctx := t.Context()
	s := spec("4f9e2a10-5b6c-4d7e-8f90-a1b2c3d4e5f6", "sim-1")
	s.PublicKey, s.KeyName = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKVx9Dz6aXEvZ2Gw8ZbyN3m0nVxN6qXbLr3Zp2YqB1dC me", "mykey"
	if _, err := p.Servers().CreateServer(ctx, s); err != nil {
		t.Fatal(err)
	}
	out, err := p.Servers().ConsoleOutput(ctx, s.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{s.Name, s.ID, "hypervisor_type fake", "mykey", "login:"} {
		if !strings.Contains(out, want) {
			t.Errorf("console output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "CANOPY-BOOT-OK") {
		t.Error("a simulated console must not claim that guest code ran")
	}
	last, _ := p.Servers().ConsoleOutput(ctx, s.ID, 1)
	if last != s.Name+" login: \n" {
		t.Errorf("last line = %q", last)
	}
	if _, err := p.Servers().ConsoleOutput(ctx, "nope", 0); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("console of unknown server: %v", err)
	}
}

func TestImportImageVerifies(t *testing.T) {
	good := imageSpec("img-1", testImage)
	cases := []struct {
		name string
		edit func(*proxies.ImageSpec)
		want error
	}{
		{name: "all checks pass", edit: func(*proxies.ImageSpec) {}},
		{name: "no checks given", edit: func(s *proxies.ImageSpec) { s.Size, s.Checksum, s.SHA512 = 0, "", "" }},
		{name: "wrong size", edit: func(s *proxies.ImageSpec) { s.Size++ }, want: proxies.ErrInvalid},
		{name: "wrong md5", edit: func(s *proxies.ImageSpec) { s.Checksum = strings.Repeat("0", 32) }, want: proxies.ErrInvalid},
		{name: "wrong sha512", edit: func(s *proxies.ImageSpec) { s.SHA512 = strings.Repeat("0", 128) }, want: proxies.ErrInvalid},
		{name: "no id", edit: func(s *proxies.ImageSpec) { s.ID = "" }, want: proxies.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPool(t, nil)
			s := good
			c.edit(&s)
			st, err := p.Images().ImportImage(t.Context(), s, reader(testImage, nil))
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("ImportImage = %+v, %v; want %v", st, err, c.want)
			}
			_, gerr := p.Images().GetImage(t.Context(), s.ID)
			if (c.want == nil) != (gerr == nil) {
				t.Errorf("GetImage after import = %v", gerr)
			}
		})
	}
	t.Run("idempotent without reading again", func(t *testing.T) {
		p := newPool(t, nil)
		reads := 0
		for range 2 {
			if _, err := p.Images().ImportImage(t.Context(), good, reader(testImage, &reads)); err != nil {
				t.Fatal(err)
			}
		}
		if reads != 1 {
			t.Errorf("image data opened %d times; want 1", reads)
		}
	})
}

func reader(data []byte, opened *int) proxies.ImageReader {
	return func(context.Context) (io.ReadSeekCloser, error) {
		if opened != nil {
			*opened++
		}
		return readSeekNopCloser{bytes.NewReader(data)}, nil
	}
}

func TestConcurrentCreatesOfOneIDMakeOneServer(t *testing.T) {
	p := newPool(t, nil)
	var wg sync.WaitGroup
	bottoms := make([]string, 32)
	for i := range bottoms {
		wg.Go(func() {
			st, err := p.Servers().CreateServer(t.Context(), spec("same", ""))
			if err != nil {
				t.Error(err)
			}
			bottoms[i] = st.BottomID
		})
	}
	wg.Wait()
	list, _ := p.Servers().ListServers(t.Context())
	if len(list) != 1 {
		t.Fatalf("%d servers; want 1", len(list))
	}
	for i, b := range bottoms {
		if b != list[0].BottomID {
			t.Errorf("caller %d got bottom id %q; want %q", i, b, list[0].BottomID)
		}
	}
}

func TestHostsAreSimulated(t *testing.T) {
	p := newPool(t, func(c *localcloud.Config) { c.SimulatedHosts, c.AvailabilityZones = 3, []string{"az1", "az2"} })
	hosts, err := p.Inventory().Hosts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantZones := []string{"az1", "az2", "az1"}
	for i, h := range hosts {
		if h.HypervisorType != "fake" || h.Labels[localcloud.LabelSimulated] != "true" || !h.Up || !h.Enabled {
			t.Errorf("host %d = %+v; want an up, enabled, fake, labelled host", i, h)
		}
		if h.AvailabilityZone != wantZones[i] || h.Name != "sim-"+string(rune('1'+i)) {
			t.Errorf("host %d is %s in %s; want sim-%d in %s", i, h.Name, h.AvailabilityZone, i+1, wantZones[i])
		}
	}
}
