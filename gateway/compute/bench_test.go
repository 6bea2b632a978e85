package compute_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// BenchmarkServerDetail1000 measures GET /servers/detail of 1000 servers
// answered from the registry (DESIGN budget: well under 50 ms).
func BenchmarkServerDetail1000(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour).UTC()
	for i := range 1000 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		s := &registry.Server{ID: id, ProjectID: projectA, UserID: "user-a", Name: fmt.Sprintf("vm-%d", i), Status: "ACTIVE",
			VMState: "active", PowerState: 1, Flavor: proxies.Flavor{ID: "1", Name: "m1.tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1},
			ImageID: imageID, Metadata: map[string]string{"k": "v"}, AvailabilityZone: "nova", SecurityGroups: []string{"default"},
			Addresses: []registry.ServerAddress{{NetworkID: netA, NetworkName: "private", Addr: "10.0.0.5", Version: 4, MAC: "fa:16:3e:00:00:01", Type: "fixed"}},
			Routing:   registry.Routing{State: registry.RoutingActive, Cloud: "sim", Host: "host1"},
			Created:   t0.Add(time.Duration(i) * time.Millisecond), Updated: t0, LaunchedAt: t0}
		if err := h.b.Servers().Create(ctx, projectA, id, s.Created, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		r := h.do("GET", "/compute/v2.1/servers/detail", tokMember, "2.79", "")
		if r.status != http.StatusOK || len(r.body) < 1000*500 {
			b.Fatalf("%d %d bytes", r.status, len(r.body))
		}
	}
}

// BenchmarkBootDelete measures boot+delete through the whole API path on a
// zero-delay backend, 16 clients at once (DESIGN budget: >= 500 per second).
// Each client boots, waits for ACTIVE, deletes and waits for 404.
func BenchmarkBootDelete(b *testing.B) {
	h := newHarness(b)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := h.do("POST", "/compute/v2.1/servers", tokMember, "", createOSC)
			if r.status != http.StatusAccepted {
				b.Errorf("create %d %s", r.status, r.body)
				return
			}
			body := string(r.body)
			i := strings.Index(body, `"id":"`) + 6
			id := body[i : i+36]
			h.waitStatus(tokMember, id, "ACTIVE")
			if d := h.do("DELETE", "/compute/v2.1/servers/"+id, tokMember, "", ""); d.status != http.StatusNoContent {
				b.Errorf("delete %d %s", d.status, d.body)
				return
			}
			h.waitStatus(tokMember, id, "")
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "servers/s")
	if h.placer.Claims() != 0 || h.ports.Held() != 0 {
		b.Errorf("left claims %d ports %d", h.placer.Claims(), h.ports.Held())
	}
}
