package network_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/canopy-cloud/canopy/gateway/network"
	"github.com/canopy-cloud/canopy/registry"
)

func names(body map[string]any, coll string) string {
	var out []string
	for _, it := range body[coll].([]any) {
		out = append(out, it.(map[string]any)["name"].(string))
	}
	return strings.Join(out, ",")
}

func TestListVisibilityFiltersPaging(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	for _, n := range []string{"a", "b", "c"} {
		e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "`+n+`"}}`)
	}
	e.mustCreate("alt", "/network/v2.0/networks", `{"network": {"name": "alt-private"}}`)
	e.mustCreate("admin", "/network/v2.0/networks", `{"network": {"name": "public", "shared": true}}`)
	e.mustCreate("admin", "/network/v2.0/networks", `{"network": {"name": "ext", "router:external": true}}`)
	cases := []struct {
		name, token, query, want string
	}{
		{"member sees own, shared and external", "demo", "", "a,b,c,public,ext"},
		{"admin sees all", "admin", "", "a,b,c,alt-private,public,ext"},
		{"by name", "demo", "?name=b", "b"},
		{"repeated values OR", "demo", "?name=a&name=c", "a,c"},
		{"by shared", "demo", "?shared=True", "public"},
		{"by router:external", "demo", "?router:external=true", "ext"},
		{"by project", "admin", "?project_id=alt-project", "alt-private"},
		{"sorted desc", "demo", "?sort_key=name&sort_dir=desc", "public,ext,c,b,a"},
		{"first page", "demo", "?sort_key=name&sort_dir=asc&limit=2", "a,b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(tc.token, "GET", "/network/v2.0/networks"+tc.query, "")
			if code != 200 {
				t.Fatalf("status %d: %v", code, body)
			}
			if got := names(body, "networks"); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	// Follow next links to the end: every network exactly once.
	url := "/network/v2.0/networks?limit=2&sort_key=name"
	var seen []string
	for page := 0; url != "" && page < 10; page++ {
		_, body := e.do("demo", "GET", url, "")
		seen = append(seen, names(body, "networks"))
		url = ""
		links, _ := body["networks_links"].([]any)
		for _, l := range links {
			if l.(map[string]any)["rel"] == "next" {
				url = strings.TrimPrefix(l.(map[string]any)["href"].(string), e.srv.URL)
			}
		}
	}
	if got := strings.Join(seen, "|"); got != "a,b|c,ext|public" {
		t.Fatalf("paging: %s", got)
	}
}

// TestParallelPortCreates: 100 concurrent creates on one subnet get 100
// different addresses, on the dev server and on a real redis-server.
func TestParallelPortCreates(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *registry.Registry{"dev": devRegistry, "redis": realRedis} {
		t.Run(name, func(t *testing.T) {
			reg := open(t)
			e := newEnv(t, reg)
			project := uniqueProject("ptest")
			n, _, err := e.svc.EnsureNetwork(context.Background(), project, "par", "10.44.0.0/24")
			if err != nil {
				t.Fatal(err)
			}
			const workers = 100
			ips := make([]string, workers)
			var wg sync.WaitGroup
			for i := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					pt, _, err := e.svc.CreateServerPort(context.Background(), project, n.ID, "", fmt.Sprintf("server-%d", i))
					if err != nil {
						t.Error(err)
						return
					}
					ips[i] = pt.FixedIPs[0].IPAddress
				}()
			}
			wg.Wait()
			seen := map[string]bool{}
			for _, ip := range ips {
				if ip == "" || seen[ip] {
					t.Fatalf("missing or duplicate address %q", ip)
				}
				seen[ip] = true
			}
			for i := range workers {
				if err := e.svc.ReleaseServerPorts(context.Background(), project, fmt.Sprintf("server-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := e.svc.EnsureNetwork(context.Background(), project, "par", "10.44.0.0/24"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBrokerPorts(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devRegistry(t))
	svc := e.svc
	n, sub, err := svc.EnsureNetwork(ctx, "demo-project", "private", "10.0.0.0/24")
	if err != nil {
		t.Fatal(err)
	}
	n2, sub2, err := svc.EnsureNetwork(ctx, "demo-project", "private", "10.0.0.0/24")
	if err != nil || n2.ID != n.ID || sub2.ID != sub.ID || len(n2.Subnets) != 1 {
		t.Fatalf("EnsureNetwork not idempotent: %v %+v %+v", err, n2, sub2)
	}
	pt, net, err := svc.CreateServerPort(ctx, "demo-project", n.ID, "10.0.0.50", "srv1")
	if err != nil || net.ID != n.ID || pt.DeviceOwner != "compute:nova" || pt.DeviceID != "srv1" || pt.FixedIPs[0].IPAddress != "10.0.0.50" {
		t.Fatalf("CreateServerPort: %+v %v", pt, err)
	}
	if _, _, err := svc.CreateServerPort(ctx, "demo-project", n.ID, "10.0.0.50", "srv2"); err == nil {
		t.Fatal("second port on the same fixed IP succeeded")
	}
	if _, _, err := svc.CreateServerPort(ctx, "alt-project", n.ID, "", "srv3"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("alt used demo's private network: %v", err)
	}
	user := e.mustCreate("demo", "/network/v2.0/ports", `{"port": {"network_id": "`+n.ID+`", "name": "mine"}}`)
	if _, _, err := svc.BindPort(ctx, "demo-project", user["id"].(string), "srv1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.BindPort(ctx, "demo-project", user["id"].(string), "srv9"); err == nil {
		t.Fatal("bound a port already in use")
	}
	nets, err := svc.ProjectNetworks(ctx, "demo-project")
	if err != nil || len(nets) != 1 || nets[0].ID != n.ID {
		t.Fatalf("ProjectNetworks: %v %v", nets, err)
	}
	for range 2 { // idempotent
		if err := svc.ReleaseServerPorts(ctx, "demo-project", "srv1"); err != nil {
			t.Fatal(err)
		}
	}
	_, body := e.do("demo", "GET", "/network/v2.0/ports?network_id="+n.ID, "")
	ports := body["ports"].([]any)
	if len(ports) != 1 || ports[0].(map[string]any)["device_id"] != "" || ports[0].(map[string]any)["status"] != "DOWN" {
		t.Fatalf("after release: created port must be gone and the user's port unbound: %v", ports)
	}
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/ports/"+user["id"].(string), ""); code != http.StatusNoContent {
		t.Fatalf("delete port: %d", code)
	}
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/networks/"+n.ID, ""); code != http.StatusNoContent {
		t.Fatalf("delete network: %d", code)
	}
	if code, _ := e.do("demo", "GET", "/network/v2.0/subnets/"+sub.ID, ""); code != http.StatusNotFound {
		t.Fatalf("subnet survived its network: %d", code)
	}
}

// BenchmarkCreatePortParallel measures port creates (with address
// allocation) per second on one /16 and checks that no address repeats.
func BenchmarkCreatePortParallel(b *testing.B) {
	for name, open := range map[string]func(testing.TB) *registry.Registry{"dev": devRegistry, "redis": realRedis} {
		b.Run(name, func(b *testing.B) { benchCreatePorts(b, open(b)) })
	}
}

func benchCreatePorts(b *testing.B, reg *registry.Registry) {
	project := uniqueProject("bench")
	svc := network.New(reg, network.Options{})
	ctx := context.Background()
	n, _, err := svc.EnsureNetwork(ctx, project, "bench", "10.128.0.0/16")
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	seen := make(map[string]bool, b.N)
	var i int64
	b.SetParallelism(32) // I/O bound: many requests in flight, as a gateway has
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			i++
			id := i
			mu.Unlock()
			pt, _, err := svc.CreateServerPort(ctx, project, n.ID, "", fmt.Sprint("s", id))
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			ip := pt.FixedIPs[0].IPAddress
			if seen[ip] {
				b.Errorf("duplicate address %s", ip)
			}
			seen[ip] = true
			mu.Unlock()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "addresses/s")
}
