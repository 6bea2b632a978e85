package localcloud

import (
	"errors"
	"fmt"
	"time"
)

// Config is the local pool's section of canopy.yaml (clouds[].local) and the
// flags of `canopy dev`. It describes the simulated hosts, and lists the
// real KVM hosts (KVMHosts) and bare-metal machines (BareMetalHosts) the
// wiring adds beside them with AddHost (their drivers live in
// localcloud/libvirt and localcloud/baremetal).
type Config struct {
	// SimulatedHosts is how many simulated hosts (hypervisor_type "fake")
	// the pool runs. They are for demos, scale tests and benchmarks and are
	// never presented as real machines.
	SimulatedHosts int `yaml:"simulated_hosts"`
	// HostPrefix names the simulated hosts: <prefix>-1, <prefix>-2...
	HostPrefix string `yaml:"host_prefix"`
	// HostVCPUs, HostRAMMB and HostDiskGB are each simulated host's size.
	HostVCPUs  int `yaml:"host_vcpus"`
	HostRAMMB  int `yaml:"host_ram_mb"`
	HostDiskGB int `yaml:"host_disk_gb"`
	// AvailabilityZone is the zone of every host, unless AvailabilityZones
	// is set, in which case hosts are spread over those zones round-robin.
	AvailabilityZone  string   `yaml:"availability_zone"`
	AvailabilityZones []string `yaml:"availability_zones"`
	// Allocation ratios the hosts enforce when they accept a server. They
	// must match the scheduler's (both default to Nova's 16.0, 1.5 and 1.0),
	// or the scheduler will place servers a host then refuses.
	CPUAllocationRatio  float64 `yaml:"cpu_allocation_ratio"`
	RAMAllocationRatio  float64 `yaml:"ram_allocation_ratio"`
	DiskAllocationRatio float64 `yaml:"disk_allocation_ratio"`
	// Simulated durations of each operation. Zero makes the operation
	// complete inside the call (benchmarks); `canopy dev` uses a few hundred
	// milliseconds so that clients see BUILD, powering-off and so on.
	BuildDelay    time.Duration `yaml:"build_delay"`
	StartDelay    time.Duration `yaml:"start_delay"`
	StopDelay     time.Duration `yaml:"stop_delay"`
	RebootDelay   time.Duration `yaml:"reboot_delay"`
	DeleteDelay   time.Duration `yaml:"delete_delay"`
	SnapshotDelay time.Duration `yaml:"snapshot_delay"`
	// FailureRate is the fraction (0..1) of builds that end in ERROR, on
	// every simulated host, so that error paths can be exercised.
	FailureRate float64 `yaml:"failure_rate"`
	// FailNextCreates makes the next N builds on the named host fail
	// (deterministic failure injection for tests and demos).
	FailNextCreates map[string]int `yaml:"fail_next_creates"`
	// KVMHosts are real hypervisors driven through libvirt.
	KVMHosts []KVMHostConfig `yaml:"kvm_hosts"`
	// BareMetalHosts are machines driven through their BMC (IPMI).
	BareMetalHosts []BareMetalConfig `yaml:"baremetal_hosts"`
}

// Defaults matching Nova's allocation ratios and its default zone.
const (
	DefaultAvailabilityZone    = "nova"
	DefaultCPUAllocationRatio  = 16.0
	DefaultRAMAllocationRatio  = 1.5
	DefaultDiskAllocationRatio = 1.0
)

// DefaultConfig is a small pool for `canopy dev`: four simulated hosts with
// delays of a few hundred milliseconds.
func DefaultConfig() Config {
	c := Config{
		SimulatedHosts:      4,
		HostPrefix:          "sim",
		HostVCPUs:           32,
		HostRAMMB:           128 * 1024,
		HostDiskGB:          2000,
		AvailabilityZone:    DefaultAvailabilityZone,
		CPUAllocationRatio:  DefaultCPUAllocationRatio,
		RAMAllocationRatio:  DefaultRAMAllocationRatio,
		DiskAllocationRatio: DefaultDiskAllocationRatio,
	}
	c.ApplyBuildDelay(500 * time.Millisecond)
	return c
}

// ApplyBuildDelay sets BuildDelay to d and every other delay to a fraction of
// it, so one knob (`canopy dev --build-delay`, or 0 in benchmarks) sets the
// pace of the whole pool.
func (c *Config) ApplyBuildDelay(d time.Duration) {
	c.BuildDelay = d
	c.StartDelay = d * 2 / 5
	c.StopDelay = d * 2 / 5
	c.RebootDelay = d * 3 / 5
	c.DeleteDelay = d / 5
	c.SnapshotDelay = d * 3 / 5
}

// zoneOf is the availability zone of the i-th simulated host (0-based).
func (c *Config) zoneOf(i int) string {
	if len(c.AvailabilityZones) > 0 {
		return c.AvailabilityZones[i%len(c.AvailabilityZones)]
	}
	if c.AvailabilityZone == "" {
		return DefaultAvailabilityZone
	}
	return c.AvailabilityZone
}

// hostName is the name of the i-th simulated host (0-based).
func (c *Config) hostName(i int) string {
	p := c.HostPrefix
	if p == "" {
		p = "sim"
	}
	return fmt.Sprintf("%s-%d", p, i+1)
}

// ratios fills unset allocation ratios with Nova's defaults.
func (c *Config) ratios() (cpu, ram, disk float64) {
	cpu, ram, disk = c.CPUAllocationRatio, c.RAMAllocationRatio, c.DiskAllocationRatio
	if cpu == 0 {
		cpu = DefaultCPUAllocationRatio
	}
	if ram == 0 {
		ram = DefaultRAMAllocationRatio
	}
	if disk == 0 {
		disk = DefaultDiskAllocationRatio
	}
	return cpu, ram, disk
}

// Validate reports every bad field at once, naming each and the fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	nReal := len(c.KVMHosts) + len(c.BareMetalHosts)
	if c.SimulatedHosts < 0 || (c.SimulatedHosts < 1 && nReal == 0) {
		bad("simulated_hosts must be at least 1 (got %d) unless kvm_hosts or baremetal_hosts are listed", c.SimulatedHosts)
	}
	if c.SimulatedHosts > 100000 {
		bad("simulated_hosts must be at most 100000 (got %d)", c.SimulatedHosts)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"host_vcpus", c.HostVCPUs}, {"host_ram_mb", c.HostRAMMB}, {"host_disk_gb", c.HostDiskGB}} {
		if f.v < 1 {
			bad("%s must be at least 1 (got %d)", f.name, f.v)
		}
	}
	for i, z := range c.AvailabilityZones {
		if z == "" {
			bad("availability_zones[%d] must not be empty", i)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"cpu_allocation_ratio", c.CPUAllocationRatio}, {"ram_allocation_ratio", c.RAMAllocationRatio}, {"disk_allocation_ratio", c.DiskAllocationRatio}} {
		if f.v < 0 || f.v != f.v {
			bad("%s must be 0 (Nova's default) or positive (got %v)", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"build_delay", c.BuildDelay}, {"start_delay", c.StartDelay}, {"stop_delay", c.StopDelay},
		{"reboot_delay", c.RebootDelay}, {"delete_delay", c.DeleteDelay}, {"snapshot_delay", c.SnapshotDelay}} {
		if f.v < 0 {
			bad("%s must not be negative (got %s)", f.name, f.v)
		}
	}
	if !(c.FailureRate >= 0 && c.FailureRate <= 1) {
		bad("failure_rate must be between 0 and 1 (got %v)", c.FailureRate)
	}
	known := make(map[string]bool, c.SimulatedHosts)
	for i := 0; i < c.SimulatedHosts && i <= 100000; i++ {
		known[c.hostName(i)] = true
	}
	for h, n := range c.FailNextCreates {
		if !known[h] {
			bad("fail_next_creates: unknown host %q (hosts are %s..%s)", h, c.hostName(0), c.hostName(max(c.SimulatedHosts-1, 0)))
		}
		if n < 0 {
			bad("fail_next_creates[%s] must not be negative (got %d)", h, n)
		}
	}
	errs = append(errs, c.validateRealHosts()...)
	if len(errs) > 0 {
		return fmt.Errorf("local pool config: %w", errors.Join(errs...))
	}
	return nil
}
