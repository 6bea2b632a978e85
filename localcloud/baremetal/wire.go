package baremetal

import (
	"fmt"

	"github.com/canopy-cloud/canopy/localcloud"
)

// AddToPool enrols each of cfg.BareMetalHosts and adds it to pool.
func AddToPool(pool *localcloud.Pool, cfg localcloud.Config, opts Options) ([]*Host, error) {
	if opts.AvailabilityZone == "" {
		opts.AvailabilityZone = cfg.AvailabilityZone
	}
	var out []*Host
	for i, bc := range cfg.BareMetalHosts {
		h, err := New(bc, opts)
		if err != nil {
			return out, fmt.Errorf("baremetal_hosts[%d]: %w", i, err)
		}
		if err := pool.AddHost(h); err != nil {
			return out, fmt.Errorf("baremetal_hosts[%d]: %w", i, err)
		}
		out = append(out, h)
	}
	return out, nil
}
