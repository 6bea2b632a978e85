package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

func newFixtureBackend(t *testing.T, f *fixture, edit func(*Config)) *Backend {
	t.Helper()
	cfg := f.config(t)
	if edit != nil {
		edit(&cfg)
	}
	b, err := New(t.Context(), "fx", cfg, nil)
	if err != nil {
		t.Fatalf("New against the fixture: %v", err)
	}
	return b
}

// TestRetryAfterAndUnavailable: 413/429 with Retry-After and 503 are retried;
// without Retry-After a 413 is a quota refusal; a long Retry-After or a 503
// that lasts ends in ErrUnavailable.
func TestRetryAfterAndUnavailable(t *testing.T) {
	const list = "GET /compute/v2.1/servers/detail"
	cases := []struct {
		name      string
		answers   []func(http.ResponseWriter) // one per call; the last repeats
		wantCalls int
		wantKind  error // nil: success
	}{
		{"413 with Retry-After then ok", []func(http.ResponseWriter){status(413, "0"), okServers}, 2, nil},
		{"429 with Retry-After then ok", []func(http.ResponseWriter){status(429, "0"), okServers}, 2, nil},
		{"503 twice then ok", []func(http.ResponseWriter){status(503, ""), status(503, ""), okServers}, 3, nil},
		{"503 for ever", []func(http.ResponseWriter){status(503, "")}, 4, proxies.ErrUnavailable},
		{"413 without Retry-After is quota", []func(http.ResponseWriter){status(413, "")}, 1, proxies.ErrQuota},
		{"429 asking for an hour", []func(http.ResponseWriter){status(429, "3600")}, 1, proxies.ErrUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, "2.79")
			n := 0
			f.on(list, func(w http.ResponseWriter, r *http.Request) {
				c.answers[min(n, len(c.answers)-1)](w)
				n++
			})
			b := newFixtureBackend(t, f, func(c *Config) { c.Retries = 3 })
			b.retryBase(time.Millisecond)
			_, err := b.ListServers(t.Context())
			if c.wantKind == nil && err != nil {
				t.Fatalf("ListServers = %v; want success after retries", err)
			}
			if c.wantKind != nil && !errors.Is(err, c.wantKind) {
				t.Fatalf("ListServers = %v; want %v", err, c.wantKind)
			}
			if got := f.count(list); got != c.wantCalls {
				t.Errorf("the bottom saw %d calls; want %d", got, c.wantCalls)
			}
		})
	}
}

func status(code int, retryAfter string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeJSON(w, code, map[string]any{"overLimit": map[string]any{"code": code, "message": "slow down"}})
	}
}

func okServers(w http.ResponseWriter) {
	writeJSON(w, 200, map[string]any{"servers": []any{serverBody("b1", "top-1", "ACTIVE")}})
}

// TestErrorMapping: the bottom's faults become the typed kinds, with safe
// messages that carry neither the bottom's body nor the password.
func TestErrorMapping(t *testing.T) {
	cases := []struct {
		code int
		body string
		want error
	}{
		{404, `{"itemNotFound": {"code": 404, "message": "Instance could not be found"}}`, proxies.ErrNotFound},
		{409, `{"conflictingRequest": {"code": 409, "message": "in task_state powering-off"}}`, proxies.ErrConflict},
		{403, `{"forbidden": {"code": 403, "message": "Quota exceeded for cores: Requested 4, but already used 20 of 20 cores"}}`, proxies.ErrQuota},
		{403, `{"forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:servers:create"}}`, proxies.ErrInvalid},
		{400, `{"badRequest": {"code": 400, "message": "Invalid flavorRef provided."}}`, proxies.ErrInvalid},
		{500, `{"computeFault": {"code": 500, "message": "boom"}}`, proxies.ErrUnavailable},
		{501, `{"notImplemented": {"code": 501, "message": "no"}}`, proxies.ErrNotSupported},
	}
	for _, c := range cases {
		t.Run(http.StatusText(c.code)+"/"+string(c.want.Error()), func(t *testing.T) {
			f := newFixture(t, "2.79")
			f.on("GET /compute/v2.1/servers/b1", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.code)
				w.Write([]byte(c.body))
			})
			f.on("POST /compute/v2.1/servers/b1/action", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.code)
				w.Write([]byte(c.body))
			})
			b := newFixtureBackend(t, f, func(c *Config) { c.Retries = -1 })
			b.remember("top-1", b.def, "b1")
			_, err := b.StopServer(t.Context(), "top-1")
			if !errors.Is(err, c.want) {
				t.Fatalf("StopServer = %v; want %v", err, c.want)
			}
			msg := proxies.SafeMessage(err)
			if strings.Contains(msg, "Instance") || strings.Contains(msg, "boom") || strings.Contains(msg, "Quota exceeded for") {
				t.Errorf("the safe message %q carries the bottom's body", msg)
			}
			if strings.Contains(err.Error(), fixturePassword) {
				t.Errorf("the error carries the password: %v", err)
			}
		})
	}
}

// TestAuthFailureHidesPassword: a refused credential is ErrUnavailable and
// the password appears nowhere in the error.
func TestAuthFailureHidesPassword(t *testing.T) {
	f := newFixture(t, "2.79")
	cfg := f.config(t)
	path := filepath.Join(t.TempDir(), "wrong")
	const wrong = "wrong-pw-4711"
	if err := os.WriteFile(path, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Auth.PasswordFrom = "file:" + path
	_, err := New(t.Context(), "fx", cfg, nil)
	if !errors.Is(err, proxies.ErrUnavailable) {
		t.Fatalf("New with a wrong password = %v; want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("the error carries the password: %v", err)
	}
}

// TestDownBottomIsUnavailableQuickly: a closed port answers at once; a
// bottom that never answers is cut by the per-call deadline.
func TestDownBottomIsUnavailableQuickly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f := newFixture(t, "2.79")
	cfg := f.config(t)
	cfg.AuthURL = "http://" + addr + "/v3"
	start := time.Now()
	_, err = New(t.Context(), "down", cfg, nil)
	if !errors.Is(err, proxies.ErrUnavailable) || time.Since(start) > 3*time.Second {
		t.Fatalf("New against a closed port = %v after %s; want ErrUnavailable within 3s", err, time.Since(start))
	}

	release := make(chan struct{})
	defer close(release)
	f.on("GET /compute/v2.1/servers/detail", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	b := newFixtureBackend(t, f, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	start = time.Now()
	_, err = b.ListServers(context.Background())
	if !errors.Is(err, proxies.ErrUnavailable) {
		t.Fatalf("ListServers against a hung bottom = %v; want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("ListServers took %s against a hung bottom; want the 300ms deadline to cut it", d)
	}
}

// TestMicroversionDegrades: a bottom at 2.25 gets no tags, no "auto"
// networks, and a header no higher than it announced; key changes on
// rebuild (2.54) are refused as not supported.
func TestMicroversionDegrades(t *testing.T) {
	for _, c := range []struct {
		max       string
		wantTags  bool
		wantMicro string
	}{{"2.25", false, "2.25"}, {"2.79", true, "2.52"}} {
		t.Run(c.max, func(t *testing.T) {
			f := newFixture(t, c.max)
			f.on("GET /compute/v2.1/servers/detail", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, map[string]any{"servers": []any{}})
			})
			f.on("POST /compute/v2.1/servers", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 202, map[string]any{"server": map[string]any{"id": "b9"}})
			})
			f.on("GET /compute/v2.1/servers/b9", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, map[string]any{"server": serverBody("b9", "top-9", "BUILD")})
			})
			b := newFixtureBackend(t, f, func(c *Config) {
				c.FlavorMap = map[string]string{"f1": "bf1"}
				c.ImageMap = map[string]string{"i1": "bi1"}
			})
			if b.maxMicro.String() != c.max {
				t.Fatalf("discovered microversion %s; want %s", b.maxMicro, c.max)
			}
			st, err := b.CreateServer(t.Context(), proxies.ServerSpec{ID: "top-9", ProjectID: "p", Name: "vm",
				Flavor: proxies.Flavor{ID: "f1"}, ImageID: "i1"})
			if err != nil || st.BottomID != "b9" || st.Host != "fx:az1" {
				t.Fatalf("CreateServer = %+v, %v; want bottom b9 on fx:az1", st, err)
			}
			var body struct {
				Server map[string]any `json:"server"`
			}
			if err := json.Unmarshal(f.lastBody("POST /compute/v2.1/servers"), &body); err != nil {
				t.Fatal(err)
			}
			_, hasTags := body.Server["tags"]
			if hasTags != c.wantTags {
				t.Errorf("create body tags present = %v; want %v (body %v)", hasTags, c.wantTags, body.Server)
			}
			if nets, ok := body.Server["networks"]; (c.max == "2.25") == ok {
				t.Errorf("create body networks = %v (present %v); want it only from 2.37 (\"none\")", nets, ok)
			}
			if got := body.Server["metadata"].(map[string]any)[metaID]; got != "top-9" {
				t.Errorf("create metadata canopy_id = %v; want top-9", got)
			}
			if got := f.lastHeader("POST /compute/v2.1/servers").Get("X-OpenStack-Nova-API-Version"); got != c.wantMicro {
				t.Errorf("create microversion header = %q; want %q", got, c.wantMicro)
			}
			_, err = b.RebuildServer(t.Context(), "top-9", proxies.RebuildSpec{ImageID: "i1", Name: "vm", PublicKey: "ssh-ed25519 AAAA k"})
			if c.max == "2.25" && !errors.Is(err, proxies.ErrNotSupported) {
				t.Errorf("RebuildServer with a key on a 2.25 bottom = %v; want ErrNotSupported", err)
			}
		})
	}
}

// retryBase sets the first backoff of the retry transport (tests shorten it).
func (b *Backend) retryBase(d time.Duration) {
	if rt, ok := b.http.Transport.(*retryTransport); ok {
		rt.base = d
	}
}

// TestHostsAdminStatistics: with admin credentials the pseudo-hosts take
// the hypervisor statistics, capped by the limits, split over the zones.
func TestHostsAdminStatistics(t *testing.T) {
	f := newFixture(t, "2.79")
	f.on("GET /compute/v2.1/os-availability-zone", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"availabilityZoneInfo": []any{
			map[string]any{"zoneName": "az1", "zoneState": map[string]any{"available": true}, "hosts": nil},
			map[string]any{"zoneName": "az2", "zoneState": map[string]any{"available": false}, "hosts": nil},
			map[string]any{"zoneName": "internal", "zoneState": map[string]any{"available": true}, "hosts": nil}}})
	})
	f.on("GET /compute/v2.1/limits", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": map[string]any{
			"maxTotalCores": 100, "maxTotalRAMSize": -1, "totalCoresUsed": 4, "totalRAMUsed": 2048}}})
	})
	f.on("GET /compute/v2.1/os-hypervisors/statistics", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"hypervisor_statistics": map[string]any{"count": 2, "vcpus": 64, "memory_mb": 262144, "local_gb": 2000}})
	})
	for _, admin := range []bool{false, true} {
		b := newFixtureBackend(t, f, func(c *Config) { c.Admin = admin })
		hosts, err := b.Inventory().Hosts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(hosts) != 2 || hosts[0].Name != "fx:az1" || hosts[1].Name != "fx:az2" || !hosts[0].Up || hosts[1].Up {
			t.Fatalf("admin=%v: Hosts = %+v; want fx:az1 (up) and fx:az2 (down), no internal", admin, hosts)
		}
		wantCPU, wantRAM, wantDisk := 50, unlimitedRAMMB/2, unlimitedDiskGB/2 // limits only
		if admin {
			wantCPU, wantRAM, wantDisk = 32, 131072, 1000 // statistics, under the core limit
		}
		if h := hosts[0]; h.VCPUs != wantCPU || h.RAMMB != wantRAM || h.DiskGB != wantDisk {
			t.Errorf("admin=%v: host capacity %d/%d/%d; want %d/%d/%d", admin, h.VCPUs, h.RAMMB, h.DiskGB, wantCPU, wantRAM, wantDisk)
		}
	}
	if n := f.count("GET /compute/v2.1/os-hypervisors/statistics"); n != 1 {
		t.Errorf("hypervisor statistics read %d times; want once (admin only)", n)
	}
}
