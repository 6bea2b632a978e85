package scheduler

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

func TestMatchExtraSpec(t *testing.T) {
	for _, c := range []struct {
		value, req string
		want       bool
	}{
		{"a100", "a100", true},
		{"a100", "h100", false},
		{"a100", "s== a100", true},
		{"a100", "s!= a100", false},
		{"b", "s> a", true},
		{"a", "s>= b", false},
		{"8", "= 4", true}, // "=" is numeric >=
		{"2", "= 4", false},
		{"4", "== 4.0", true},
		{"4", "!= 4", false},
		{"4", "<= 3", false},
		{"x", "= 4", false}, // not a number
		{"a100,h100", "<in> h100", true},
		{"a100 h100", "<all-in> a100 h100", true},
		{"a100", "<all-in> a100 h100", false},
		{"h100", "<or> a100 <or> h100", true},
		{"v100", "<or> a100 <or> h100", false},
		{"a100", "", false},
		{"", "", true},
	} {
		if got := MatchExtraSpec(c.value, c.req); got != c.want {
			t.Errorf("MatchExtraSpec(%q, %q) = %v, want %v", c.value, c.req, got, c.want)
		}
	}
}

// federation is the golden layout: the local pool (4 hosts), an OpenStack
// cloud and AWS (two zone pseudo-hosts each), with three aggregates: GPU
// hosts, hosts reserved for one project, and an AWS zone with its own
// (stricter) CPU allocation ratio.
func federation() (Snapshot, []*Aggregate) {
	h := func(cloud, name, az, ht string, v, r, d, uv, ur, ud int) HostState {
		return HostState{Cloud: cloud, Host: name, AvailabilityZone: az, HypervisorType: ht, Up: true, Enabled: true,
			VCPUs: v, RAMMB: r, DiskGB: d, UsedVCPUs: uv, UsedRAMMB: ur, UsedDiskGB: ud}
	}
	snap := Snapshot{Hosts: []HostState{
		h("aws", "aws:us-east-1a", "us-east-1a", "ec2", 32, 131072, 2000, 30, 16384, 100),
		h("aws", "aws:us-east-1b", "us-east-1b", "ec2", 32, 131072, 2000, 0, 0, 0),
		h("local", "kvm-1", "local", "QEMU", 16, 65536, 500, 4, 8192, 40),
		h("local", "kvm-2", "local", "QEMU", 16, 65536, 500, 0, 0, 0),
		h("local", "gpu-1", "local", "QEMU", 32, 262144, 1000, 8, 32768, 100),
		h("local", "gpu-2", "local", "QEMU", 32, 262144, 1000, 0, 0, 0),
		h("openstack", "openstack:nova", "nova", "openstack", 64, 131072, 4000, 10, 20480, 200),
		h("openstack", "openstack:secure", "secure", "openstack", 64, 131072, 4000, 0, 0, 0),
	}}
	aggs := []*Aggregate{
		{ID: 1, Name: "gpu", Hosts: []string{"gpu-1", "gpu-2"}, Metadata: map[string]string{"gpu": "a100", "gpu_count": "4"}},
		{ID: 2, Name: "isolated", Hosts: []string{"openstack:secure", "gpu-2"},
			Metadata: map[string]string{"filter_tenant_id": "proj-bank", "filter_tenant_id_2": "proj-audit"}},
		{ID: 3, Name: "aws-strict", Hosts: []string{"aws:us-east-1a"}, Metadata: map[string]string{"cpu_allocation_ratio": "1.0"}},
	}
	return snap, aggs
}

var federationRequests = []struct {
	name string
	req  Request
}{
	{"plain flavor, ordinary project", Request{ServerID: "s1", ProjectID: "proj-web",
		Flavor: proxies.Flavor{ID: "2", VCPUs: 2, RAMMB: 4096, DiskGB: 20}}},
	{"plain flavor, isolated project", Request{ServerID: "s2", ProjectID: "proj-bank",
		Flavor: proxies.Flavor{ID: "2", VCPUs: 2, RAMMB: 4096, DiskGB: 20}}},
	{"gpu flavor (unscoped key)", Request{ServerID: "s3", ProjectID: "proj-web",
		Flavor: proxies.Flavor{ID: "g1", VCPUs: 8, RAMMB: 65536, DiskGB: 100, ExtraSpecs: map[string]string{"gpu": "a100"}}}},
	{"gpu flavor (scoped key), isolated project", Request{ServerID: "s4", ProjectID: "proj-audit",
		Flavor: proxies.Flavor{ID: "g2", VCPUs: 8, RAMMB: 65536, DiskGB: 100,
			ExtraSpecs: map[string]string{"aggregate_instance_extra_specs:gpu": "<or> a100 <or> h100", "hw:cpu_policy": "dedicated"}}}},
	{"gpu count at least 8", Request{ServerID: "s5", ProjectID: "proj-web",
		Flavor: proxies.Flavor{ID: "g3", VCPUs: 1, RAMMB: 1024, ExtraSpecs: map[string]string{"aggregate_instance_extra_specs:gpu_count": "= 8"}}}},
	{"4 vCPUs: the strict AWS zone has 2 left at ratio 1.0", Request{ServerID: "s6", ProjectID: "proj-web",
		Flavor: proxies.Flavor{ID: "3", VCPUs: 4, RAMMB: 8192, DiskGB: 40}}},
	{"foreign scopes only", Request{ServerID: "s7", ProjectID: "proj-web",
		Flavor: proxies.Flavor{ID: "4", VCPUs: 1, RAMMB: 512, DiskGB: 1, ExtraSpecs: map[string]string{"hw:mem_page_size": "large", "quota:cpu_shares": "10"}}}},
}

// TestAggregatesGolden renders every decision over federation() with the
// default filters and compares it with testdata/aggregates.golden
// (go test -run AggregatesGolden -update rewrites it): the ranking, then
// each rejected host with the filter that dropped it.
func TestAggregatesGolden(t *testing.T) {
	snap, aggs := federation()
	resolveAggregates(snap.Hosts, aggs)
	var b strings.Builder
	for _, g := range federationRequests {
		fmt.Fprintf(&b, "## %s\n", g.name)
		ex := Explain(snap, g.req, DefaultFilters(0, 0, 0), DefaultWeighers())
		cands := Decide(snap, g.req, DefaultFilters(0, 0, 0), DefaultWeighers())
		if len(cands) == 0 {
			b.WriteString("no valid host\n")
		}
		for i, c := range cands {
			fmt.Fprintf(&b, "%d. %s/%s az=%s weight=%.4f\n", i+1, c.Cloud, c.Host, c.AvailabilityZone, c.Weight)
		}
		for _, v := range ex.Hosts {
			if v.RejectedBy != "" {
				fmt.Fprintf(&b, "-  %s/%s rejected by %s\n", v.Cloud, v.Host, v.RejectedBy)
			}
		}
	}
	path := filepath.Join("testdata", "aggregates.golden")
	if *update {
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

func TestResolveAggregates(t *testing.T) {
	snap, aggs := federation()
	aggs = append(aggs, &Aggregate{ID: 4, Name: "gpu-loose", Hosts: []string{"gpu-2"},
		Metadata: map[string]string{"gpu": "h100, a100", "cpu_allocation_ratio": "4", "ram_allocation_ratio": "bad"}})
	aggs[0].Metadata["cpu_allocation_ratio"] = "2"
	resolveAggregates(snap.Hosts, aggs)
	by := map[string]*AggregateView{}
	for _, h := range snap.Hosts {
		by[h.Host] = h.Aggregates
	}
	if by["kvm-1"] != nil {
		t.Errorf("kvm-1 is in no aggregate, got %+v", by["kvm-1"])
	}
	g2 := by["gpu-2"]
	if g2 == nil || fmt.Sprint(g2.IDs) != "[1 2 4]" || fmt.Sprint(g2.Metadata["gpu"]) != "[a100 h100]" {
		t.Fatalf("gpu-2 view = %+v", g2)
	}
	if fmt.Sprint(g2.TenantIDs) != "[proj-audit proj-bank]" {
		t.Errorf("gpu-2 tenants = %v", g2.TenantIDs)
	}
	if g2.CPURatio != 2 || g2.RAMRatio != 0 {
		t.Errorf("gpu-2 ratios cpu=%v ram=%v, want the smallest valid (2) and none (0)", g2.CPURatio, g2.RAMRatio)
	}
	if by["gpu-1"] == g2 || by["gpu-1"].TenantIDs != nil {
		t.Errorf("gpu-1 shares gpu-2's view or is isolated: %+v", by["gpu-1"])
	}
	if by["aws:us-east-1a"].CPURatio != 1 {
		t.Errorf("aws zone ratio = %v", by["aws:us-east-1a"].CPURatio)
	}
}

// TestAggregatesInRegistry drives the aggregate records, the per-host
// disable and forced-down marks and the claim's per-aggregate ratio through
// a real registry.
func TestAggregatesInRegistry(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			reg, prefix := open(t)
			ctx := t.Context()
			s := New(reg, Options{KeyPrefix: prefix})
			if err := s.SyncHosts(ctx, "local", simHosts(3, 65536)); err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
			a, err := s.CreateAggregate(ctx, "strict", "nova", "uuid-1", now)
			if err != nil || a.ID != 1 || a.AvailabilityZone() != "nova" {
				t.Fatalf("create = %+v, %v", a, err)
			}
			if _, err := s.CreateAggregate(ctx, "strict", "", "uuid-x", now); !errors.Is(err, ErrAggregateExists) {
				t.Fatalf("duplicate name: %v", err)
			}
			b, err := s.CreateAggregate(ctx, "other", "", "uuid-2", now)
			if err != nil || b.ID <= a.ID {
				t.Fatalf("second create = %+v, %v", b, err)
			}
			if _, err := s.UpdateAggregate(ctx, b.ID, func(x *Aggregate) error { x.Name = "strict"; return nil }); !errors.Is(err, ErrAggregateExists) {
				t.Fatalf("rename onto a taken name: %v", err)
			}
			if _, err := s.UpdateAggregate(ctx, a.ID, func(x *Aggregate) error {
				x.Hosts = append(x.Hosts, "sim-1")
				x.Metadata["cpu_allocation_ratio"] = "1.0"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.UpdateAggregate(ctx, 99, func(*Aggregate) error { return nil }); !errors.Is(err, ErrAggregateNotFound) {
				t.Fatalf("update of a missing aggregate: %v", err)
			}
			all, err := s.Aggregates(ctx)
			if err != nil || len(all) != 2 || all[0].Name != "strict" || all[1].Name != "other" {
				t.Fatalf("list = %v, %v", all, err)
			}
			// Only sim-1 may take servers: sim-2 disabled, sim-3 forced down.
			if err := s.SetHostEnabled(ctx, "local", "sim-2", false, "disk swap"); err != nil {
				t.Fatal(err)
			}
			if err := s.SetHostForcedDown(ctx, "local", "sim-3", true); err != nil {
				t.Fatal(err)
			}
			snap, err := s.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]HostState{}
			for _, h := range snap.Hosts {
				got[h.Host] = h
			}
			if h := got["sim-2"]; h.Enabled || h.DisabledReason != "disk swap" {
				t.Errorf("sim-2 = enabled %v reason %q", h.Enabled, h.DisabledReason)
			}
			if h := got["sim-3"]; h.Up || !h.ForcedDown || !h.Enabled {
				t.Errorf("sim-3 = up %v forced %v enabled %v", h.Up, h.ForcedDown, h.Enabled)
			}
			if h := got["sim-1"]; h.Aggregates == nil || h.Aggregates.CPURatio != 1 || h.SyncedAt == 0 {
				t.Fatalf("sim-1 = %+v", h)
			}
			// sim-1 has 64 vCPUs at ratio 1.0 (not 16.0): 8 servers of 8.
			big := proxies.Flavor{ID: "8", VCPUs: 8, RAMMB: 1024, DiskGB: 1}
			for i := range 8 {
				if _, err := s.Place(ctx, Request{ServerID: fmt.Sprint("v", i), ProjectID: "p", Flavor: big}); err != nil {
					t.Fatalf("server %d: %v", i, err)
				}
			}
			if _, err := s.Place(ctx, Request{ServerID: "v8", ProjectID: "p", Flavor: big}); !errors.Is(err, ErrNoValidHost) {
				t.Fatalf("a 9th 8-vCPU server on a 64-vCPU host at ratio 1.0: %v", err)
			}
			claims, err := s.Claims(ctx)
			if err != nil || len(claims) != 8 || RunningServers(claims)[HostKey("local", "sim-1")] != 8 {
				t.Fatalf("claims = %v, %v", claims, err)
			}
			nums, err := s.HostNumbers(ctx, snap.Hosts)
			if err != nil || len(nums) != 3 || nums["local/sim-1"] != 1 || nums["local/sim-3"] != 3 {
				t.Fatalf("host numbers = %v, %v", nums, err)
			}
			if again, _ := s.HostNumbers(ctx, snap.Hosts[2:]); again["local/sim-3"] != 3 {
				t.Fatalf("host numbers are not stable: %v", again)
			}
			if err := s.SetHostEnabled(ctx, "local", "sim-2", true, ""); err != nil {
				t.Fatal(err)
			}
			if p, err := s.Place(ctx, Request{ServerID: "v9", ProjectID: "p", Flavor: big}); err != nil || p.Host != "sim-2" {
				t.Fatalf("after enabling sim-2: %+v, %v", p, err)
			}
			if err := s.DeleteAggregate(ctx, a.ID, func(x *Aggregate) error {
				if len(x.Hosts) > 0 {
					return errors.New("not empty")
				}
				return nil
			}); err == nil || err.Error() != "not empty" {
				t.Fatalf("delete of a non-empty aggregate: %v", err)
			}
			if err := s.DeleteAggregate(ctx, b.ID, func(*Aggregate) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Aggregate(ctx, b.ID); !errors.Is(err, ErrAggregateNotFound) {
				t.Fatalf("deleted aggregate still reads: %v", err)
			}
			if _, err := s.CreateAggregate(ctx, "other", "", "uuid-3", now); err != nil {
				t.Fatalf("the deleted aggregate's name is still taken: %v", err)
			}
		})
	}
}

func TestValidateAggregateMetadata(t *testing.T) {
	if err := ValidateAggregateMetadata(map[string]string{"cpu_allocation_ratio": "2.5", "gpu": "x"}); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"0", "-1", "two"} {
		if err := ValidateAggregateMetadata(map[string]string{"ram_allocation_ratio": bad}); !errors.Is(err, proxies.ErrInvalid) {
			t.Errorf("ratio %q: %v", bad, err)
		}
	}
}

// BenchmarkDecide10kAggregates is BenchmarkDecide10k with a quarter of the
// hosts in aggregates (GPU metadata, tenant isolation, ratios) and a flavor
// with extra specs, so every aggregate filter does real work per host.
func BenchmarkDecide10kAggregates(b *testing.B) {
	snap := bigSnapshot(10000)
	var gpu, iso []string
	for i := 0; i < 10000; i += 4 {
		gpu = append(gpu, snap.Hosts[i].Host)
		if i%8 == 0 {
			iso = append(iso, snap.Hosts[i+1].Host)
		}
	}
	resolveAggregates(snap.Hosts, []*Aggregate{
		{ID: 1, Name: "gpu", Hosts: gpu, Metadata: map[string]string{"gpu": "a100", "cpu_allocation_ratio": "4"}},
		{ID: 2, Name: "iso", Hosts: iso, Metadata: map[string]string{"filter_tenant_id": "other"}},
	})
	req := Request{ServerID: "s", ProjectID: "p", Flavor: proxies.Flavor{ID: "m", VCPUs: 2, RAMMB: 4096, DiskGB: 40,
		ExtraSpecs: map[string]string{"hw:cpu_policy": "shared", "aggregate_instance_extra_specs:gpu": "a100"}}}
	filters, weighers := DefaultFilters(0, 0, 0), DefaultWeighers()
	b.ReportAllocs()
	for b.Loop() {
		if len(Decide(snap, req, filters, weighers)) == 0 {
			b.Fatal("no candidate")
		}
	}
}
