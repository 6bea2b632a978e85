package localcloud

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string // substring of the error; "" = valid
	}{
		{name: "default", edit: func(*Config) {}},
		{name: "no hosts", edit: func(c *Config) { c.SimulatedHosts = 0 }, want: "simulated_hosts must be at least 1"},
		{name: "no ram", edit: func(c *Config) { c.HostRAMMB = 0 }, want: "host_ram_mb must be at least 1"},
		{name: "negative delay", edit: func(c *Config) { c.StopDelay = -time.Second }, want: "stop_delay must not be negative"},
		{name: "rate over 1", edit: func(c *Config) { c.FailureRate = 1.5 }, want: "failure_rate must be between 0 and 1"},
		{name: "negative ratio", edit: func(c *Config) { c.RAMAllocationRatio = -1 }, want: "ram_allocation_ratio"},
		{name: "empty zone", edit: func(c *Config) { c.AvailabilityZones = []string{"a", ""} }, want: "availability_zones[1]"},
		{name: "unknown failing host", edit: func(c *Config) { c.FailNextCreates = map[string]int{"sim-9": 1} }, want: `unknown host "sim-9"`},
		{name: "two errors at once", edit: func(c *Config) { c.HostVCPUs, c.HostDiskGB = 0, 0 }, want: "host_vcpus must be at least 1 (got 0)\nhost_disk_gb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.edit(&cfg)
			err := cfg.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v; want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v; want an error containing %q", err, c.want)
			}
		})
	}
}

// fixtureYAML is a clouds[].local section as canopy.yaml holds it.
const fixtureYAML = `
simulated_hosts: 8
host_vcpus: 64
availability_zones: [az1, az2]
build_delay: 250ms
stop_delay: 1s
fail_next_creates: {sim-3: 2}
`

func TestConfigFromYAML(t *testing.T) {
	cfg := DefaultConfig()
	if err := yaml.Unmarshal([]byte(fixtureYAML), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.SimulatedHosts != 8 || cfg.HostVCPUs != 64 || cfg.HostRAMMB != DefaultConfig().HostRAMMB ||
		cfg.BuildDelay != 250*time.Millisecond || cfg.StopDelay != time.Second || cfg.FailNextCreates["sim-3"] != 2 {
		t.Errorf("decoded %+v", cfg)
	}
	if z := cfg.zoneOf(3); z != "az2" {
		t.Errorf("host 4 zone = %s; want az2", z)
	}
}
