package localcloud

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Hypervisor types real hosts report (proxies.Host.HypervisorType), beside
// HypervisorTypeFake for simulated ones.
const (
	HypervisorTypeKVM    = "kvm"    // libvirt with hardware virtualisation
	HypervisorTypeQEMU   = "qemu"   // libvirt with TCG emulation (no /dev/kvm)
	HypervisorTypeIronic = "ironic" // a bare-metal machine, as Nova's ironic driver reports
)

// KVMHostConfig is one real hypervisor of the pool (clouds[].local.kvm_hosts[]),
// driven through libvirtd's local socket by localcloud/libvirt (in-process
// by `canopy dev`, or by `canopy agent` on the host itself).
type KVMHostConfig struct {
	// Name is the host's hypervisor_hostname (default: libvirt's hostname).
	Name string `yaml:"name"`
	// Socket is libvirtd's unix socket (default /var/run/libvirt/libvirt-sock).
	Socket string `yaml:"socket"`
	// DomainType is "kvm" (default, hardware virtualisation) or "qemu" (TCG
	// emulation: slow, but works without /dev/kvm; tests use it).
	DomainType string `yaml:"domain_type"`
	// StateDir holds the image cache, the domains' disks, config drives and
	// serial logs (default /var/lib/canopy/kvm). QEMU must be able to read
	// it: it is created with mode 0755.
	StateDir string `yaml:"state_dir"`
	// AvailabilityZone of the host (default: the pool's zone).
	AvailabilityZone string `yaml:"availability_zone"`
	// Labels are the host aggregate labels the scheduler filters on.
	Labels map[string]string `yaml:"labels"`
	// ShutdownTimeout is how long a stop or soft reboot waits for the guest
	// to power off by ACPI before it is powered off hard (default 60s, as
	// Nova's shutdown_timeout).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// CallTimeout bounds each call into libvirtd (default 30s).
	CallTimeout time.Duration `yaml:"call_timeout"`
	// Bridges is "create" (default: a missing Linux bridge for a tenant
	// network is created with iproute2) or "existing" (bridges are made by
	// the operator; a missing one fails the create).
	Bridges string `yaml:"bridges"`
}

// BareMetalConfig is one machine enrolled by its BMC
// (clouds[].local.baremetal_hosts[]), driven by localcloud/baremetal and
// reported as hypervisor type "ironic". IPMI does not report the machine's
// size, so the enrolment states it, as Ironic's node properties do.
type BareMetalConfig struct {
	// Name is the node's name (hypervisor_hostname).
	Name string `yaml:"name"`
	// BMCAddress is the BMC's host:port (IPMI over LAN, UDP 623 by default).
	BMCAddress string `yaml:"bmc_address"`
	// Username is the BMC user; PasswordFrom its password as a secret
	// reference ("env:NAME" or "file:/path"), never inline.
	Username     string `yaml:"username"`
	PasswordFrom string `yaml:"password_from"`
	// Interface is "lanplus" (IPMI 2.0, default) or "lan" (IPMI 1.5).
	Interface string `yaml:"interface"`
	// CipherSuite is the RMCP+ cipher suite id (default 3; 17 for SHA-256).
	CipherSuite int `yaml:"cipher_suite"`
	// VCPUs, RAMMB and DiskGB are the machine's size; a server takes all of it.
	VCPUs  int `yaml:"vcpus"`
	RAMMB  int `yaml:"ram_mb"`
	DiskGB int `yaml:"disk_gb"`
	// BootDevice is where the machine boots its deployed image from:
	// "disk" (default) or "pxe".
	BootDevice string `yaml:"boot_device"`
	// AvailabilityZone of the machine (default: the pool's zone).
	AvailabilityZone string `yaml:"availability_zone"`
	// Labels are the host aggregate labels the scheduler filters on.
	Labels map[string]string `yaml:"labels"`
	// CallTimeout bounds each IPMI exchange (default 10s).
	CallTimeout time.Duration `yaml:"call_timeout"`
}

// BridgeName is the Linux bridge a KVM host plugs a network's ports into:
// the same name the pool records as the network's bottom id.
func BridgeName(networkID string) string { return bridgeName(networkID) }

// validateRealHosts checks the kvm_hosts and baremetal_hosts lists.
func (c *Config) validateRealHosts() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := map[string]bool{}
	for i := range c.SimulatedHosts {
		if i > 100000 {
			break
		}
		names[c.hostName(i)] = true
	}
	for i, k := range c.KVMHosts {
		f := fmt.Sprintf("kvm_hosts[%d]", i)
		if k.Name != "" && names[k.Name] {
			bad("%s.name %q is used by another host; give each host its own name", f, k.Name)
		}
		names[k.Name] = k.Name != ""
		switch k.DomainType {
		case "", HypervisorTypeKVM, HypervisorTypeQEMU:
		default:
			bad("%s.domain_type must be kvm or qemu (got %q)", f, k.DomainType)
		}
		switch k.Bridges {
		case "", "create", "existing":
		default:
			bad("%s.bridges must be create or existing (got %q)", f, k.Bridges)
		}
		if k.ShutdownTimeout < 0 || k.CallTimeout < 0 {
			bad("%s: shutdown_timeout and call_timeout must not be negative", f)
		}
	}
	for i, b := range c.BareMetalHosts {
		f := fmt.Sprintf("baremetal_hosts[%d]", i)
		if b.Name == "" {
			bad("%s.name is required", f)
		} else if names[b.Name] {
			bad("%s.name %q is used by another host; give each host its own name", f, b.Name)
		}
		names[b.Name] = true
		if _, err := netip.ParseAddrPort(b.BMCAddress); err != nil && !strings.Contains(b.BMCAddress, ":") {
			bad("%s.bmc_address must be host:port (got %q)", f, b.BMCAddress)
		}
		if b.Username == "" {
			bad("%s.username is required", f)
		}
		if !strings.HasPrefix(b.PasswordFrom, "env:") && !strings.HasPrefix(b.PasswordFrom, "file:") {
			bad("%s.password_from must be a secret reference, env:NAME or file:/path", f)
		}
		switch b.Interface {
		case "", "lanplus", "lan":
		default:
			bad("%s.interface must be lanplus or lan (got %q)", f, b.Interface)
		}
		switch b.BootDevice {
		case "", "disk", "pxe":
		default:
			bad("%s.boot_device must be disk or pxe (got %q)", f, b.BootDevice)
		}
		if b.VCPUs < 1 || b.RAMMB < 1 || b.DiskGB < 1 {
			bad("%s: vcpus, ram_mb and disk_gb must each be at least 1 (IPMI does not report the size)", f)
		}
		if b.CallTimeout < 0 {
			bad("%s.call_timeout must not be negative", f)
		}
	}
	return errs
}
