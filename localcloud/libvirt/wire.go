package libvirt

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/canopy-cloud/canopy/localcloud"
)

// AddToPool builds a Host for each of cfg.KVMHosts (with the pool's zone and
// allocation ratios), starts it and adds it to pool, which closes it. A host
// whose libvirtd does not answer fails the whole call, naming the host: a
// configured hypervisor that is missing is an error at start.
func AddToPool(ctx context.Context, pool *localcloud.Pool, cfg localcloud.Config, opts Options) ([]*Host, error) {
	if opts.AvailabilityZone == "" {
		opts.AvailabilityZone = cfg.AvailabilityZone
	}
	if opts.CPUAllocationRatio == 0 && opts.RAMAllocationRatio == 0 && opts.DiskAllocationRatio == 0 {
		opts.CPUAllocationRatio, opts.RAMAllocationRatio, opts.DiskAllocationRatio = cfg.CPUAllocationRatio, cfg.RAMAllocationRatio, cfg.DiskAllocationRatio
	}
	var out []*Host
	for i, kc := range cfg.KVMHosts {
		h, err := New(kc, opts)
		if err != nil {
			return out, fmt.Errorf("kvm_hosts[%d]: %w", i, err)
		}
		if err := h.Start(ctx); err != nil {
			h.Close()
			return out, fmt.Errorf("kvm_hosts[%d] (%s): libvirtd on %s: %w", i, kc.Name, h.cfg.Socket, err)
		}
		if err := pool.AddHost(h); err != nil {
			h.Close()
			return out, fmt.Errorf("kvm_hosts[%d]: %w", i, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// DevConfig is the KVM host `canopy dev` adds beside its simulated hosts
// when libvirtd answers (see Probe): TCG guests (domain type qemu, so it
// works without /dev/kvm), files under dataDir/kvm, a short shutdown
// timeout so the bootdisk images (which ignore ACPI) stop quickly.
func DevConfig(dataDir string) localcloud.KVMHostConfig {
	return localcloud.KVMHostConfig{
		Name: "kvm-1", DomainType: localcloud.HypervisorTypeQEMU, StateDir: filepath.Join(dataDir, "kvm"),
		ShutdownTimeout: 2 * time.Second,
	}
}
