package openstack

import (
	"context"
	"sort"
	"strings"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/availabilityzones"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/hypervisors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/limits"
)

// Capacity reported when the bottom sets no limit and hides its hypervisors:
// large enough never to be the scheduler's reason to refuse, so the bottom's
// own answer (ErrCapacity, ErrQuota) decides.
const (
	unlimitedVCPUs  = 1024
	unlimitedRAMMB  = 4 << 20
	unlimitedDiskGB = 100 << 10
)

// inventoryDriver reports one pseudo-host per bottom availability zone.
type inventoryDriver struct{ b *Backend }

// hostName is the pseudo-host of a bottom availability zone.
func (b *Backend) hostName(az string) string {
	if az == "" {
		az = "nova"
	}
	return b.name + ":" + az
}

// bottomZone is the bottom availability zone a create goes to: the one
// behind the chosen pseudo-host, else the requested zone when it is not the
// configured top zone, else the bottom's choice.
func (b *Backend) bottomZone(host, az string) string {
	if zone, ok := strings.CutPrefix(host, b.name+":"); ok && host != "" {
		return zone
	}
	if az != "" && az != b.cfg.AvailabilityZone {
		return az
	}
	return ""
}

// Hosts lists the bottom's availability zones, each a pseudo-host whose
// capacity is the bottom project's quota (/limits maxTotalCores and
// maxTotalRAMSize; with admin credentials capped by the hypervisor
// statistics) split evenly over the zones. It is the total, not the free
// part: the top scheduler claims what Canopy's own servers use, so taking
// the bottom's "used" off as well would count them twice.
func (d inventoryDriver) Hosts(ctx context.Context) ([]proxies.Host, error) {
	const op = "Hosts"
	b := d.b
	ctx, cancel := b.call(ctx)
	defer cancel()
	pages, err := availabilityzones.List(b.def.compute).AllPages(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	zones, err := availabilityzones.ExtractAvailabilityZones(pages)
	if err != nil {
		return nil, wrap(op, err)
	}
	lim, err := limits.Get(ctx, b.def.compute, nil).Extract()
	if err != nil {
		return nil, wrap(op, err)
	}
	vcpus, ram, disk := unlimitedVCPUs, unlimitedRAMMB, unlimitedDiskGB
	if b.cfg.Admin {
		if st, err := hypervisors.GetStatistics(ctx, b.def.compute).Extract(); err == nil && st.VCPUs > 0 {
			vcpus, ram, disk = st.VCPUs, st.MemoryMB, st.LocalGB
		} else if err != nil && !isNotFound(err) {
			b.log.Debug("hypervisor statistics unavailable", "err", wrap(op, err))
		}
	}
	if a := lim.Absolute; a.MaxTotalCores >= 0 {
		vcpus = min(vcpus, a.MaxTotalCores)
	}
	if a := lim.Absolute; a.MaxTotalRAMSize >= 0 {
		ram = min(ram, a.MaxTotalRAMSize)
	}
	var names []string
	up := map[string]bool{}
	for _, z := range zones {
		if z.ZoneName == "internal" {
			continue
		}
		names = append(names, z.ZoneName)
		up[z.ZoneName] = z.ZoneState.Available
	}
	if len(names) == 0 {
		names = []string{"nova"}
		up["nova"] = true
	}
	sort.Strings(names)
	n := len(names)
	out := make([]proxies.Host, 0, n)
	for _, z := range names {
		h := proxies.Host{Name: b.hostName(z), AvailabilityZone: z, HypervisorType: "openstack",
			Up: up[z], Enabled: true, VCPUs: max(vcpus/n, 1), RAMMB: max(ram/n, 1), DiskGB: max(disk/n, 1),
			Labels: map[string]string{"cloud": b.name, "cloud_type": "openstack", "bottom_zone": z}}
		if b.cfg.AvailabilityZone != "" {
			h.AvailabilityZone = b.cfg.AvailabilityZone
		}
		out = append(out, h)
	}
	return out, nil
}
