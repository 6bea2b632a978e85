package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
)

// volumeZones maps each availability zone to the cloud whose volumes are
// made there: the local pool's zones, then the zones of every other cloud
// that holds volumes (asked once, at start; a zone two clouds share goes to
// the first, the local pool first). A cloud that does not answer in time
// gets no volume zones until the gateway restarts, and the log says so.
func volumeZones(ctx context.Context, opts Options, log *slog.Logger) map[string]string {
	zones := localVolumeZones(opts)
	for _, b := range opts.Backends {
		if _, ok := proxies.VolumesOf(b); !ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		hosts, err := b.Inventory().Hosts(cctx)
		cancel()
		if err != nil {
			log.Warn("cloud inventory failed: its volume zones are unavailable until restart", "cloud", b.Name(), "err", err)
			continue
		}
		for _, h := range hosts {
			if _, taken := zones[h.AvailabilityZone]; !taken && h.AvailabilityZone != "" {
				zones[h.AvailabilityZone] = b.Name()
			}
		}
	}
	return zones
}

// localVolumeZones maps the local pool's availability zones to the pool.
func localVolumeZones(opts Options) map[string]string {
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
