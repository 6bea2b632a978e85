package config

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		wantErr string // substring; "" = valid
	}{
		{name: "minimal", yaml: "registry:\n  url: redis://127.0.0.1:6379/0\n"},
		{name: "empty file", yaml: "", wantErr: "the file is empty"},
		{name: "no registry", yaml: "listen: 127.0.0.1:5000\n", wantErr: "registry: set registry.url"},
		{name: "typo field", yaml: "registy:\n  url: x\n", wantErr: "field registy not found"},
		{name: "bad listen", yaml: "listen: nope\nregistry: {url: redis://x:1/0}\n", wantErr: "listen:"},
		{name: "bad public url", yaml: "public_url: ftp://x\nregistry: {url: redis://x:1/0}\n", wantErr: "public_url:"},
		{name: "unknown cloud type", yaml: "registry: {url: redis://x:1/0}\nclouds:\n- {name: a, type: mars}\n", wantErr: `clouds[0].type: "mars"`},
		{name: "duplicate cloud", yaml: "registry: {url: redis://x:1/0}\nclouds:\n- {name: a, type: local}\n- {name: a, type: local}\n", wantErr: "clouds[1].name"},
		{name: "bad secret ref", yaml: "registry: {url: redis://x:1/0, password_from: hunter2}\n", wantErr: "not a secret reference"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if c.PublicURL != "http://127.0.0.1:5000" || c.Region != "RegionOne" {
					t.Fatalf("defaults not set: %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") && tc.name != "bad secret ref" {
				t.Fatal("secret leaked into error")
			}
		})
	}
}

func TestSecret(t *testing.T) {
	t.Setenv("CANOPY_TEST_SECRET", "s3cret")
	if v, err := Secret("env:CANOPY_TEST_SECRET"); err != nil || v != "s3cret" {
		t.Fatalf("env secret: %q %v", v, err)
	}
	if _, err := Secret("env:CANOPY_NOT_SET_ANYWHERE"); err == nil {
		t.Fatal("missing env var accepted")
	}
	if _, err := Secret("vault:x"); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

// TestSecretNeverEchoed: a password pasted where a reference belongs must
// not appear in the error.
func TestSecretNeverEchoed(t *testing.T) {
	for _, v := range []string{"hunter2", "s3cret:value"} {
		_, err := Secret(v)
		if err == nil {
			t.Fatalf("Secret(%q) accepted an inline value", v)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Secret error echoes the value: %v", err)
		}
	}
}

// TestCloudLocation: a cloud's country must be an assigned ISO 3166-1
// alpha-2 code in upper case; the region is free text.
func TestCloudLocation(t *testing.T) {
	base := "registry: {url: redis://x:1/0}\nclouds:\n- {name: a, type: local, "
	for _, tc := range []struct {
		loc, wantErr string
	}{
		{"country: DE, region: eu-west", ""},
		{"country: US", ""},
		{"region: lab", ""},
		{"country: de", `clouds[0].country: "de"`},
		{"country: Germany", `clouds[0].country: "Germany"`},
		{"country: EU", `clouds[0].country: "EU"`},
		{"country: ZZ", `clouds[0].country: "ZZ"`},
		{"country: DEU", `clouds[0].country: "DEU"`},
	} {
		c, err := Parse([]byte(base + tc.loc + "}\n"))
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.loc, err)
			} else if c.Clouds[0].Country == "" && c.Clouds[0].Region == "" {
				t.Errorf("%s: location not decoded: %+v", tc.loc, c.Clouds[0])
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.loc, err, tc.wantErr)
		}
	}
	for code, want := range map[string]bool{"FR": true, "GB": true, "JP": true, "UK": false, "XX": false, "": false, "fr": false} {
		if got := ValidCountry(code); got != want {
			t.Errorf("ValidCountry(%q) = %v, want %v", code, got, want)
		}
	}
}

const schedulerYAML = `registry: {url: redis://x:1/0}
clouds:
- {name: aws-eu, type: aws, country: IE, region: eu-west}
- {name: east, type: openstack}
scheduler:
  cpu_allocation_ratio: 4
  ram_allocation_ratio: 1.0
  weights: {ram: -1, cost: 10, latency: 2, soft_affinity: 0}
  cloud_costs: {aws-eu: 0.05, east: 0.02}
  latency:
    same_zone_ms: 0.2
    default_ms: 80
    clouds: {"aws-eu/east": 12}
    zones: {"eu-west-1a/eu-west-1b": 1.5}
`

// TestSchedulerSection: the section decodes, unset multipliers stay nil
// (the scheduler's default 1.0), and every bad value names its key.
func TestSchedulerSection(t *testing.T) {
	c, err := Parse([]byte(schedulerYAML))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Scheduler
	if s.CPUAllocationRatio != 4 || s.RAMAllocationRatio != 1 || s.DiskAllocationRatio != 0 {
		t.Errorf("ratios = %+v", s)
	}
	if s.Weights.RAM == nil || *s.Weights.RAM != -1 || *s.Weights.Cost != 10 || *s.Weights.Latency != 2 ||
		s.Weights.SoftAffinity == nil || *s.Weights.SoftAffinity != 0 || s.Weights.SoftAntiAffinity != nil {
		t.Errorf("weights = %+v", s.Weights)
	}
	if s.CloudCosts["aws-eu"] != 0.05 || s.Latency.Clouds["aws-eu/east"] != 12 || s.Latency.Zones["eu-west-1a/eu-west-1b"] != 1.5 ||
		s.Latency.SameZoneMS != 0.2 || s.Latency.DefaultMS != 80 || s.Latency.SameCloudMS != 0 {
		t.Errorf("costs/latency = %+v %+v", s.CloudCosts, s.Latency)
	}
	for _, tc := range []struct{ from, to, wantErr string }{
		{"cpu_allocation_ratio: 4", "cpu_allocation_ratio: -4", "scheduler.cpu_allocation_ratio"},
		{"cost: 10", "cost: .nan", "scheduler.weights.cost"},
		{"east: 0.02}", "mars: 0.02}", `scheduler.cloud_costs: "mars"`},
		{"east: 0.02}", "east: -1}", "scheduler.cloud_costs.east"},
		{`"aws-eu/east": 12`, `"aws-eu": 12`, "scheduler.latency.clouds: key"},
		{`"aws-eu/east": 12`, `"aws-eu/mars": 12`, `"mars" in key`},
		{`"eu-west-1a/eu-west-1b": 1.5`, `"eu-west-1a/eu-west-1b": -1`, "scheduler.latency.zones.eu-west-1a/eu-west-1b"},
		{"default_ms: 80", "default_ms: -80", "scheduler.latency.default_ms"},
		{"default_ms: 80", "default_msec: 80", "field default_msec not found"},
	} {
		_, err := Parse([]byte(strings.Replace(schedulerYAML, tc.from, tc.to, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.to, err, tc.wantErr)
		}
	}
}
