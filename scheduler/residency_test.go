package scheduler

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
)

// world is the residency layout: a cloud in Germany (two zones), one in the
// US, a vSphere cloud with no country configured, and a local pool (no
// country either) with a KVM host, an Arm host and a bare-metal machine.
func world() Snapshot {
	h := func(cloud, name, az, ht string, labels map[string]string) HostState {
		return HostState{Cloud: cloud, Host: name, AvailabilityZone: az, HypervisorType: ht, Up: true, Enabled: true,
			VCPUs: 32, RAMMB: 131072, DiskGB: 2000, Labels: labels}
	}
	snap := Snapshot{Hosts: []HostState{
		h("fra", "fra:eu-central-1a", "eu-central-1a", "ec2", nil),
		h("fra", "fra:eu-central-1b", "eu-central-1b", "ec2", nil),
		h("lab", "lab:cluster-a", "lab-a", "VMware vCenter Server", nil),
		h("local", "arm-1", "local", "kvm", map[string]string{"architecture": "aarch64"}),
		h("local", "bm-1", "local", "ironic", nil),
		h("local", "kvm-1", "local", "kvm", nil),
		h("virginia", "virginia:us-east-1a", "us-east-1a", "azure", nil),
	}}
	resolveLocations(snap.Hosts, map[string]Location{
		"fra": {Country: "DE", Region: "eu-central"}, "virginia": {Country: "us", Region: "us-east"}, "lab": {Region: "eu-central"}})
	return snap
}

var worldCases = []struct {
	name string
	opts Options
	req  Request
}{
	{"no requirement: every host", Options{}, worldReq(nil, Residency{}, nil, GroupHints{})},
	{"flavor residency DE,FR", Options{}, worldReq(map[string]string{ResidencySpec: "DE, fr"}, Residency{}, nil, GroupHints{})},
	{"project residency US", Options{}, worldReq(nil, Residency{Countries: []string{"US"}}, nil, GroupHints{})},
	{"flavor DE and project US: nothing in common", Options{},
		worldReq(map[string]string{ResidencySpec: "DE"}, Residency{Countries: []string{"US"}}, nil, GroupHints{})},
	{"flavor region eu-central (the lab has the region, not a country)", Options{},
		worldReq(map[string]string{ResidencyRegionSpec: "EU-Central"}, Residency{}, nil, GroupHints{})},
	{"project DE,US and region us-east", Options{},
		worldReq(nil, Residency{Countries: []string{"DE", "US"}, Regions: []string{"us-east"}}, nil, GroupHints{})},
	{"image architecture arm64", Options{}, worldReq(nil, Residency{}, map[string]string{"hw_architecture": "arm64"}, GroupHints{})},
	{"image i686 (x86_64 hosts run it)", Options{}, worldReq(nil, Residency{}, map[string]string{"architecture": "i386"}, GroupHints{})},
	{"image img_hv_type vmware", Options{}, worldReq(nil, Residency{}, map[string]string{"img_hv_type": "vmware"}, GroupHints{})},
	{"image img_hv_type hyperv", Options{}, worldReq(nil, Residency{}, map[string]string{"hypervisor_type": "HyperV"}, GroupHints{})},
	{"image img_hv_type kvm", Options{}, worldReq(nil, Residency{}, map[string]string{"img_hv_type": "kvm"}, GroupHints{})},
	{"image baremetal on ironic", Options{}, worldReq(nil, Residency{}, map[string]string{"img_hv_type": "baremetal", "hw_vm_mode": "hvm"}, GroupHints{})},
	{"image vm_mode xen (PV): nowhere", Options{}, worldReq(nil, Residency{}, map[string]string{"hw_vm_mode": "pv"}, GroupHints{})},
	{"image properties with residency DE", Options{},
		worldReq(map[string]string{ResidencySpec: "DE"}, Residency{}, map[string]string{"img_hv_type": "kvm", "hw_architecture": "x86_64"}, GroupHints{})},
	{"latency: anti-affinity group, members on fra 1a and kvm-1, default table", Options{LatencyWeightMultiplier: ptr(1)},
		worldReq(nil, Residency{}, nil, GroupHints{Policy: "anti-affinity", Hosts: []string{"fra/fra:eu-central-1a", "local/kvm-1"}})},
	{"latency: members in fra, table puts virginia close and lab far, multiplier 5",
		Options{LatencyWeightMultiplier: ptr(5), Latency: Latency{DefaultMS: 200, Clouds: map[string]float64{"virginia/fra": 3, "local/fra": 20},
			Zones: map[string]float64{"eu-central-1b/eu-central-1a": 0.2}}},
		worldReq(nil, Residency{}, nil, GroupHints{Policy: "soft-affinity", Hosts: []string{"fra/fra:eu-central-1a", "fra/fra:eu-central-1a"}})},
	{"latency off (the default)", Options{},
		worldReq(nil, Residency{}, nil, GroupHints{Policy: "anti-affinity", Hosts: []string{"fra/fra:eu-central-1a"}})},
}

func worldReq(specs map[string]string, project Residency, image map[string]string, g GroupHints) Request {
	return Request{ServerID: "s", ProjectID: "proj", Flavor: proxies.Flavor{ID: "2", VCPUs: 2, RAMMB: 4096, DiskGB: 20, ExtraSpecs: specs},
		ProjectResidency: project, ImageProperties: image, Group: g}
}

// TestResidencyImageLatencyGolden renders each case over world() (ranking
// with the latency weigher's share; rejected hosts with the filter and its
// reason) and compares it with testdata/residency.golden (go test -run
// ResidencyImageLatencyGolden -update rewrites it).
func TestResidencyImageLatencyGolden(t *testing.T) {
	var b strings.Builder
	for _, c := range worldCases {
		snap := world()
		filters, weighers := DefaultFilters(0, 0, 0), c.opts.weighers()
		fmt.Fprintf(&b, "## %s\n", c.name)
		ex := Explain(snap, c.req, filters, weighers)
		cands := Decide(snap, c.req, filters, weighers)
		if len(cands) == 0 {
			b.WriteString("no valid host\n")
		}
		for i, v := range ex.Hosts {
			if v.RejectedBy != "" {
				fmt.Fprintf(&b, "-  %s/%s rejected by %s: %s\n", v.Cloud, v.Host, v.RejectedBy, v.Reason)
				continue
			}
			if cands[i].Host != v.Host || cands[i].Weight != v.Weight {
				t.Fatalf("%s: Explain ranks %s (%v) where Decide ranks %s (%v)", c.name, v.Host, v.Weight, cands[i].Host, cands[i].Weight)
			}
			fmt.Fprintf(&b, "%d. %s/%s country=%s weight=%.4f", i+1, v.Cloud, v.Host, cands[i].Country, v.Weight)
			if s := v.Weights["LatencyWeigher"]; s != 0 {
				fmt.Fprintf(&b, " LatencyWeigher=%.4f", s)
			}
			b.WriteString("\n")
		}
	}
	path := filepath.Join("testdata", "residency.golden")
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

// TestResidencyFilter pins the rules the golden file shows: a host without
// a country fails any country requirement (and one without a region any
// region requirement), flavor and project intersect, and the
// explanation names the filter with the reason.
func TestResidencyFilter(t *testing.T) {
	snap := world()
	pass := func(req Request) []string {
		var out []string
		for _, c := range Decide(snap, req, DefaultFilters(0, 0, 0), DefaultWeighers()) {
			out = append(out, c.Cloud)
		}
		return out
	}
	if got := pass(worldReq(map[string]string{ResidencySpec: "DE,FR"}, Residency{}, nil, GroupHints{})); len(got) != 2 || got[0] != "fra" || got[1] != "fra" {
		t.Errorf("DE,FR places on %v, want the two fra zones", got)
	}
	if got := pass(worldReq(map[string]string{ResidencySpec: "DE"}, Residency{Countries: []string{"US"}}, nil, GroupHints{})); len(got) != 0 {
		t.Errorf("DE ∩ US places on %v, want nowhere", got)
	}
	// A region alone is met by the region: the lab has one and no country.
	if got := pass(worldReq(map[string]string{ResidencyRegionSpec: "eu-central"}, Residency{}, nil, GroupHints{})); len(got) != 3 || !slices.Contains(got, "lab") {
		t.Errorf("region eu-central places on %v, want the fra zones and the lab", got)
	}
	ex := Explain(snap, worldReq(map[string]string{ResidencySpec: "DE"}, Residency{}, nil, GroupHints{}), DefaultFilters(0, 0, 0), DefaultWeighers())
	for _, v := range ex.Hosts {
		if v.Cloud == "lab" && (v.RejectedBy != "ResidencyFilter" || !strings.Contains(v.Reason, "no country configured")) {
			t.Errorf("lab verdict = %+v, want ResidencyFilter with 'no country configured'", v)
		}
		if v.Cloud == "virginia" && (v.RejectedBy != "ResidencyFilter" || !strings.Contains(v.Reason, "is in US")) {
			t.Errorf("virginia verdict = %+v", v)
		}
	}
	ex = Explain(snap, worldReq(nil, Residency{}, map[string]string{"hw_architecture": "aarch64"}, GroupHints{}), DefaultFilters(0, 0, 0), DefaultWeighers())
	for _, v := range ex.Hosts {
		if v.Host == "kvm-1" && (v.RejectedBy != "ImagePropertiesFilter" || !strings.Contains(v.Reason, "aarch64")) {
			t.Errorf("kvm-1 verdict = %+v, want ImagePropertiesFilter naming aarch64", v)
		}
	}
}

// TestProjectResidencyStore: the store normalises, refuses bad codes with
// ErrInvalid, lifts with the zero value, and Place honours it.
func TestProjectResidencyStore(t *testing.T) {
	open := backends(t)["miniredis"]
	reg, _ := open(t)
	ctx := t.Context()
	s := New(reg, Options{CloudLocations: map[string]Location{"de": {Country: "DE"}, "us": {Country: "US"}}})
	for _, c := range []string{"de", "us"} {
		if err := s.SyncHosts(ctx, c, simHosts(1, 65536)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SetProjectResidency(ctx, "p1", Residency{Countries: []string{" us", "US", "de"}, Regions: []string{}})
	if err != nil || strings.Join(got.Countries, ",") != "DE,US" {
		t.Fatalf("SetProjectResidency = %+v, %v; want DE,US", got, err)
	}
	for _, bad := range []Residency{{Countries: []string{"Germany"}}, {Countries: []string{"D1"}}, {Regions: []string{" "}}} {
		if _, err := s.SetProjectResidency(ctx, "p1", bad); !errors.Is(err, proxies.ErrInvalid) {
			t.Errorf("SetProjectResidency(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.SetProjectResidency(ctx, "p1", Residency{Countries: []string{"US"}}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.ProjectResidency(ctx, "p1"); err != nil || strings.Join(r.Countries, ",") != "US" {
		t.Fatalf("ProjectResidency = %+v, %v", r, err)
	}
	for i := range 3 {
		p, err := s.Place(ctx, Request{ServerID: fmt.Sprint("srv-", i), ProjectID: "p1", Flavor: gb})
		if err != nil || p.Cloud != "us" {
			t.Fatalf("Place = %+v, %v; want cloud us", p, err)
		}
	}
	ex, err := s.Explain(ctx, Request{ServerID: "x", ProjectID: "p1", Flavor: gb})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ex.Hosts {
		if v.Cloud == "de" && v.RejectedBy != "ResidencyFilter" {
			t.Errorf("explain: de verdict %+v, want ResidencyFilter", v)
		}
	}
	if _, err := s.SetProjectResidency(ctx, "p1", Residency{}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.ProjectResidency(ctx, "p1"); !r.IsZero() {
		t.Errorf("after lifting: %+v", r)
	}
}
