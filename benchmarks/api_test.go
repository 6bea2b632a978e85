package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/registry"
)

// cloud is one wired Canopy behind a loopback HTTP server.
type cloud struct {
	app   *app.App
	srv   *httptest.Server
	token string
	net   string // demo's private network id
	image string
	http  *http.Client
}

func newCloud(b *testing.B, hosts int) *cloud {
	b.Helper()
	ctx := context.Background()
	var reg *registry.Registry
	var err error
	if url := os.Getenv("CANOPY_BENCH_REDIS"); url != "" {
		reg, err = registry.Open(ctx, registry.Options{URL: url})
		if err == nil {
			err = reg.Client().FlushDB(ctx).Err()
		}
	} else {
		var dev *registry.DevServer
		dev, err = registry.StartDevServer(nil)
		if err == nil {
			b.Cleanup(dev.Close)
			reg, err = dev.Open(ctx)
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Close() })
	local := localcloud.DefaultConfig()
	local.SimulatedHosts = hosts
	local.HostVCPUs, local.HostRAMMB, local.HostDiskGB = 1024, 4<<20, 100000
	local.ApplyBuildDelay(0)
	dir := b.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	unlimited := broker.Quota{Instances: -1, Cores: -1, RAM: -1, KeyPairs: -1, MetadataItems: -1, ServerGroups: -1, ServerGroupMembers: -1}
	a, err := app.New(ctx, reg, app.Options{PublicURL: "http://127.0.0.1", Region: "RegionOne", DataDir: dir,
		TokenTTL: time.Hour, Local: local, ComputeQuota: unlimited}, log)
	if err != nil {
		b.Fatal(err)
	}
	users, err := app.LoadOrCreateDevUsers(dir)
	if err != nil {
		b.Fatal(err)
	}
	projects, err := a.BootstrapDev(ctx, users)
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	b.Cleanup(func() { srv.Close(); a.Close() })
	c := &cloud{app: a, srv: srv, image: app.DevImages[0].ID,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	byName := map[string]app.DevUser{}
	for _, u := range users {
		byName[u.Name] = u
	}
	// Lift demo's port quota (Neutron's default is 500) as an admin would.
	c.token = c.login(b, byName["admin"])
	c.do(b, "PUT", "/network/v2.0/quotas/"+projects["demo"], map[string]any{"quota": map[string]int{"port": -1}}, 200, nil)
	c.token = c.login(b, byName["demo"])
	// The dev `private` network is a /24; 1,000 servers need a bigger one.
	n, _, err := a.Network.EnsureNetwork(ctx, projects["demo"], "bench", "10.128.0.0/16")
	if err != nil {
		b.Fatal(err)
	}
	c.net = n.ID
	return c
}

func (c *cloud) login(b *testing.B, u app.DevUser) string {
	body := fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":%q,"domain":{"name":"Default"},"password":%q}}},"scope":{"project":{"name":%q,"domain":{"name":"Default"}}}}}`,
		u.Name, u.Password, u.Project)
	resp, err := c.http.Post(c.srv.URL+"/identity/v3/auth/tokens", "application/json", bytes.NewBufferString(body))
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		b.Fatalf("login: %d", resp.StatusCode)
	}
	return resp.Header.Get("X-Subject-Token")
}

// do sends one API request and checks its status; out may be nil.
func (c *cloud) do(b testing.TB, method, path string, body any, want int, out any) int {
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.srv.URL+path, rd)
	req.Header.Set("X-Auth-Token", c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if want != 0 && resp.StatusCode != want {
		msg, _ := io.ReadAll(resp.Body)
		b.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, msg)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			b.Fatal(err)
		}
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode
}

type serverBody struct {
	Server struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"server"`
}

// boot creates one server and waits until it is ACTIVE.
func (c *cloud) boot(b testing.TB, name string) string {
	var s serverBody
	c.do(b, "POST", "/compute/v2.1/servers", map[string]any{"server": map[string]any{
		"name": name, "imageRef": c.image, "flavorRef": "1", "networks": []map[string]string{{"uuid": c.net}},
	}}, 202, &s)
	id := s.Server.ID
	for i := 0; ; i++ {
		c.do(b, "GET", "/compute/v2.1/servers/"+id, nil, 200, &s)
		switch s.Server.Status {
		case "ACTIVE":
			return id
		case "ERROR":
			b.Fatalf("server %s went to ERROR", id)
		}
		if i > 10000 {
			b.Fatalf("server %s stuck in %s", id, s.Server.Status)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// destroy deletes a server and waits until it is gone.
func (c *cloud) destroy(b testing.TB, id string) {
	c.do(b, "DELETE", "/compute/v2.1/servers/"+id, nil, 204, nil)
	for i := 0; c.do(b, "GET", "/compute/v2.1/servers/"+id, nil, 0, nil) != 404; i++ {
		if i > 10000 {
			b.Fatalf("server %s not deleted", id)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkServerDetail1000 is GET /servers/detail of 1,000 servers, served
// from the registry (budget: well under 50 ms on 2 cores).
func BenchmarkServerDetail1000(b *testing.B) {
	c := newCloud(b, 8)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c.boot(b, fmt.Sprintf("vm-%04d", i))
		}(i)
	}
	wg.Wait()
	var out struct {
		Servers []json.RawMessage `json:"servers"`
	}
	c.do(b, "GET", "/compute/v2.1/servers/detail?limit=1000", nil, 200, &out)
	if len(out.Servers) != 1000 {
		b.Fatalf("detail returned %d servers, want 1000", len(out.Servers))
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		c.do(b, "GET", "/compute/v2.1/servers/detail?limit=1000", nil, 200, nil)
		lat = append(lat, time.Since(t))
	}
	reportPercentiles(b, lat)
}

// BenchmarkTokenValidation measures validating a Fernet token as every API
// request does (budget: at most 50 µs at p50, cached).
func BenchmarkTokenValidation(b *testing.B) {
	c := newCloud(b, 1)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t := time.Now()
		if _, err := c.app.Identity.Authenticate(ctx, c.token); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	reportPercentiles(b, lat)
}

// BenchmarkBootDelete boots and deletes servers on simulated hosts through the
// whole API path, 32 at a time (budget: at least 500 servers/s on 2 cores).
func BenchmarkBootDelete(b *testing.B) {
	c := newCloud(b, 16)
	var n atomic.Int64
	b.SetParallelism(16)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			id := c.boot(b, fmt.Sprintf("bench-%d", i))
			c.destroy(b, id)
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "servers/s")
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(p(0.50), "p50-µs")
	b.ReportMetric(p(0.99), "p99-µs")
}
