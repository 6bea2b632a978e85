package scheduler

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// layout is a small pool: two zones, one host down, one disabled, one nearly
// full, one in a second cloud.
func layout() Snapshot {
	h := func(cloud, name, az string, up, en bool, v, r, d, uv, ur, ud int) HostState {
		return HostState{Cloud: cloud, Host: name, AvailabilityZone: az, HypervisorType: "fake", Up: up, Enabled: en,
			VCPUs: v, RAMMB: r, DiskGB: d, UsedVCPUs: uv, UsedRAMMB: ur, UsedDiskGB: ud}
	}
	return Snapshot{Hosts: []HostState{
		h("local", "sim-1", "az1", true, true, 8, 16384, 200, 2, 4096, 40),
		h("local", "sim-2", "az1", true, true, 8, 16384, 200, 0, 0, 0),
		h("local", "sim-3", "az1", false, true, 8, 16384, 200, 0, 0, 0),
		h("local", "sim-4", "az2", true, false, 8, 16384, 200, 0, 0, 0),
		h("local", "sim-5", "az2", true, true, 8, 16384, 200, 8, 23552, 100),
		h("local", "sim-6", "az2", true, true, 4, 8192, 100, 1, 1024, 10),
		h("edge", "edge-1", "az2", true, true, 4, 8192, 100, 0, 2048, 0),
	}}
}

var goldenRequests = []struct {
	name string
	req  Request
}{
	{"tiny anywhere", Request{ServerID: "s1", Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512, DiskGB: 1}}},
	{"tiny in az2", Request{ServerID: "s2", Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512, DiskGB: 1}, AvailabilityZone: "az2"}},
	{"large anywhere", Request{ServerID: "s3", Flavor: proxies.Flavor{ID: "3", VCPUs: 4, RAMMB: 8192, DiskGB: 80}}},
	{"forced onto sim-6", Request{ServerID: "s4", Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512, DiskGB: 1}, ForceHost: "sim-6"}},
	{"forced onto the down sim-3", Request{ServerID: "s5", Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512, DiskGB: 1}, ForceHost: "sim-3"}},
	{"too big for every host", Request{ServerID: "s6", Flavor: proxies.Flavor{ID: "9", VCPUs: 1, RAMMB: 30000, DiskGB: 1}}},
	{"unknown zone", Request{ServerID: "s7", Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512}, AvailabilityZone: "az9"}},
}

// TestDecideGolden renders every decision over layout() and compares it with
// testdata/decide.golden (go test -run Golden -update rewrites it).
func TestDecideGolden(t *testing.T) {
	var b strings.Builder
	for _, g := range goldenRequests {
		fmt.Fprintf(&b, "## %s\n", g.name)
		cands := Decide(layout(), g.req, DefaultFilters(0, 0, 0), DefaultWeighers())
		if len(cands) == 0 {
			b.WriteString("no valid host\n")
		}
		for i, c := range cands {
			fmt.Fprintf(&b, "%d. %s/%s az=%s weight=%.4f\n", i+1, c.Cloud, c.Host, c.AvailabilityZone, c.Weight)
		}
	}
	path := filepath.Join("testdata", "decide.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("decisions differ from %s (run with -update if the change is intended):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestDecideIsPure checks that Decide leaves its snapshot alone and answers
// the same twice.
func TestDecideIsPure(t *testing.T) {
	snap := layout()
	before := layout()
	req := goldenRequests[0].req
	a := Decide(snap, req, DefaultFilters(0, 0, 0), DefaultWeighers())
	b := Decide(snap, req, DefaultFilters(0, 0, 0), DefaultWeighers())
	if !reflect.DeepEqual(a, b) {
		t.Error("two decisions over the same snapshot differ")
	}
	if !reflect.DeepEqual(snap, before) {
		t.Error("Decide changed its snapshot")
	}
}
