package localcloud_test

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/canopy-cloud/canopy/localcloud"
)

// BenchmarkCreateDelete measures one boot and delete of a simulated server
// with zero delays, from parallel callers as the broker makes them. The whole
// API path has 2ms per server at 500 servers/s on 2 cores; this part must be
// a small fraction of it.
func BenchmarkCreateDelete(b *testing.B) {
	p := newPool(b, func(c *localcloud.Config) { c.SimulatedHosts = 16 })
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s := spec("srv-"+strconv.FormatInt(n.Add(1), 10), "sim-"+strconv.FormatInt(n.Load()%16+1, 10))
			if _, err := p.Servers().CreateServer(b.Context(), s); err != nil {
				b.Fatal(err)
			}
			if err := p.Servers().DeleteServer(b.Context(), s.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "servers/s")
}
