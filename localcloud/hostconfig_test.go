package localcloud

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// realHostsYAML is a clouds[].local section with real hosts only.
const realHostsYAML = `
simulated_hosts: 0
kvm_hosts:
  - name: kvm-a
    domain_type: qemu
    state_dir: /var/lib/canopy/kvm
    shutdown_timeout: 30s
    labels: {rack: r1}
baremetal_hosts:
  - name: bm-1
    bmc_address: 10.0.0.10:623
    username: admin
    password_from: env:BMC1_PASSWORD
    vcpus: 32
    ram_mb: 262144
    disk_gb: 960
    boot_device: pxe
`

func TestRealHostsFromYAML(t *testing.T) {
	cfg := DefaultConfig()
	if err := yaml.Unmarshal([]byte(realHostsYAML), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate = %v; want a pool of real hosts only to be valid", err)
	}
	k, b := cfg.KVMHosts[0], cfg.BareMetalHosts[0]
	if k.Name != "kvm-a" || k.DomainType != "qemu" || k.ShutdownTimeout.Seconds() != 30 || k.Labels["rack"] != "r1" {
		t.Errorf("kvm host decoded as %+v", k)
	}
	if b.PasswordFrom != "env:BMC1_PASSWORD" || b.RAMMB != 262144 || b.BootDevice != "pxe" {
		t.Errorf("bare-metal machine decoded as %+v", b)
	}
}

func TestRealHostsValidate(t *testing.T) {
	good := func() BareMetalConfig {
		return BareMetalConfig{Name: "bm", BMCAddress: "10.0.0.1:623", Username: "u", PasswordFrom: "file:/etc/canopy/bmc", VCPUs: 1, RAMMB: 1, DiskGB: 1}
	}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{name: "kvm only", edit: func(c *Config) { c.SimulatedHosts, c.KVMHosts = 0, []KVMHostConfig{{}} }},
		{name: "bad domain type", edit: func(c *Config) { c.KVMHosts = []KVMHostConfig{{DomainType: "xen"}} }, want: "kvm_hosts[0].domain_type must be kvm or qemu"},
		{name: "bad bridges", edit: func(c *Config) { c.KVMHosts = []KVMHostConfig{{Bridges: "ovs"}} }, want: "kvm_hosts[0].bridges"},
		{name: "name clash", edit: func(c *Config) { c.KVMHosts = []KVMHostConfig{{Name: "sim-2"}} }, want: `kvm_hosts[0].name "sim-2" is used`},
		{name: "inline password", edit: func(c *Config) { b := good(); b.PasswordFrom = "hunter2"; c.BareMetalHosts = []BareMetalConfig{b} },
			want: "baremetal_hosts[0].password_from must be a secret reference"},
		{name: "no size", edit: func(c *Config) { b := good(); b.RAMMB = 0; c.BareMetalHosts = []BareMetalConfig{b} }, want: "IPMI does not report the size"},
		{name: "bad boot device", edit: func(c *Config) { b := good(); b.BootDevice = "usb"; c.BareMetalHosts = []BareMetalConfig{b} }, want: "boot_device"},
		{name: "machine without address", edit: func(c *Config) { b := good(); b.BMCAddress = "bmc"; c.BareMetalHosts = []BareMetalConfig{b} }, want: "bmc_address must be host:port"},
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
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows an inline password: %v", err)
			}
		})
	}
}
