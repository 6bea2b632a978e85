package app

import "github.com/canopy-cloud/canopy/localcloud"

// volumeZones maps the local pool's availability zones to the pool, the
// one cloud whose volumes block storage places today.
func volumeZones(opts Options) map[string]string {
	zones := map[string]string{}
	for _, z := range opts.Local.AvailabilityZones {
		zones[z] = opts.LocalName
	}
	if len(zones) == 0 {
		z := opts.Local.AvailabilityZone
		if z == "" {
			z = localcloud.DefaultAvailabilityZone
		}
		zones[z] = opts.LocalName
	}
	return zones
}
