package openstack

import (
	"context"
	"fmt"
	"sort"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
)

// bottomFlavor maps a top flavor: flavor_map first, else the smallest bottom
// flavor that fits it (vCPUs, then RAM, then disk), remembered per top flavor.
func (b *Backend) bottomFlavor(ctx context.Context, s *scope, f proxies.Flavor) (string, error) {
	if id, ok := b.cfg.FlavorMap[f.ID]; ok {
		return id, nil
	}
	key := fmt.Sprintf("%s/%d/%d/%d", f.ID, f.VCPUs, f.RAMMB, f.DiskGB)
	b.mu.Lock()
	id, ok := b.flavors[key]
	b.mu.Unlock()
	if ok {
		return id, nil
	}
	opts := flavors.ListOpts{}
	if b.cfg.Admin {
		opts.AccessType = flavors.AllAccess
	}
	pages, err := flavors.ListDetail(s.compute, opts).AllPages(ctx)
	if err != nil {
		return "", err
	}
	all, err := flavors.ExtractFlavors(pages)
	if err != nil {
		return "", err
	}
	id, err = smallestFit(all, f)
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	b.flavors[key] = id
	b.mu.Unlock()
	return id, nil
}

// smallestFit picks the bottom flavor with the fewest vCPUs, then the least
// RAM, then the least disk, that is at least f in all three.
func smallestFit(all []flavors.Flavor, f proxies.Flavor) (string, error) {
	var fit []flavors.Flavor
	for _, c := range all {
		if c.VCPUs >= f.VCPUs && c.RAM >= f.RAMMB && c.Disk >= f.DiskGB {
			fit = append(fit, c)
		}
	}
	if len(fit) == 0 {
		return "", proxies.Errorf(proxies.ErrCapacity, "CreateServer",
			"the bottom cloud has no flavor of at least %d vCPUs, %d MB RAM and %d GB disk (map one in flavor_map)", f.VCPUs, f.RAMMB, f.DiskGB)
	}
	sort.SliceStable(fit, func(i, j int) bool {
		a, b := fit[i], fit[j]
		if a.VCPUs != b.VCPUs {
			return a.VCPUs < b.VCPUs
		}
		if a.RAM != b.RAM {
			return a.RAM < b.RAM
		}
		if a.Disk != b.Disk {
			return a.Disk < b.Disk
		}
		return a.ID < b.ID
	})
	return fit[0].ID, nil
}
