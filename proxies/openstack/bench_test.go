package openstack_test

import (
	"context"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
)

// BenchmarkRoutedVsDirect compares GET /servers/{id} of one server three
// ways: through the top gateway (served from the top's registry, as every
// read is), directly on the bottom Canopy, and through the proxy's
// GetServer (top backend → bottom over HTTP, what the sync loop and the
// broker pay). It reports each in ns and the ratios to the direct call.
func BenchmarkRoutedVsDirect(b *testing.B) {
	sim, be := bottomProxy(b, "os-bench", "zone-bench")
	top := startTop(b, be)
	compute, network := top.client(b, "demo")
	ctx := context.Background()
	pages, err := networks.List(network, networks.ListOpts{Name: "private"}).AllPages(ctx)
	if err != nil {
		b.Fatal(err)
	}
	nets, _ := networks.ExtractNetworks(pages)
	if len(nets) == 0 {
		b.Fatal("the top has no private network")
	}
	s, err := servers.Create(ctx, compute, servers.CreateOpts{Name: "bench", FlavorRef: "1", ImageRef: devImageA,
		AvailabilityZone: "zone-bench", Networks: []servers.Network{{UUID: nets[0].ID}}}, nil).Extract()
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := servers.Get(ctx, compute, s.ID).Extract()
		if err == nil && got.Status == "ACTIVE" {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("bench server did not become ACTIVE: %+v, %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := be.GetServer(ctx, s.ID)
	if err != nil {
		b.Fatal(err)
	}
	bottomCompute, _ := clientsFor(b, sim.AuthURL, sim.Users, "demo")

	var routed, direct, proxied time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		if _, err := servers.Get(ctx, compute, s.ID).Extract(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := servers.Get(ctx, bottomCompute, st.BottomID).Extract(); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := be.GetServer(ctx, s.ID); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		routed, direct, proxied = routed+t1.Sub(t0), direct+t2.Sub(t1), proxied+t3.Sub(t2)
		n++
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(routed), "top-ns/get")
	b.ReportMetric(per(direct), "bottom-ns/get")
	b.ReportMetric(per(proxied), "proxy-ns/get")
	b.ReportMetric(per(routed)/per(direct), "top/bottom")
	b.ReportMetric(per(proxied)/per(direct), "proxy/bottom")
	_ = servers.Delete(ctx, compute, s.ID).ExtractErr()
}
