package azure

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/canopy-cloud/canopy/proxies"
)

// vmSize is one VM size from the Resource SKUs list.
type vmSize struct {
	name  string
	vcpus int
	memMB int
	// zones holds, per location, the zones the size is offered in; a
	// location missing from it does not offer the size at all.
	zones map[string][]string
}

// sizes returns the subscription's VM sizes (cached for SKUCacheTTL).
func (b *Backend) sizes(ctx context.Context, op string) ([]vmSize, error) {
	b.skuMu.Lock()
	defer b.skuMu.Unlock()
	if b.skuList != nil && time.Now().Before(b.skuUntil) {
		return b.skuList, nil
	}
	var out []vmSize
	pager := b.skus.NewListPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, mapErr(op, "could not list VM sizes", err)
		}
		for _, s := range page.Value {
			if s.ResourceType == nil || *s.ResourceType != "virtualMachines" || s.Name == nil {
				continue
			}
			z := vmSize{name: *s.Name, zones: map[string][]string{}}
			for _, c := range s.Capabilities {
				if c.Name == nil || c.Value == nil {
					continue
				}
				switch *c.Name {
				case "vCPUs":
					z.vcpus, _ = strconv.Atoi(*c.Value)
				case "MemoryGB":
					gb, _ := strconv.ParseFloat(*c.Value, 64)
					z.memMB = int(gb * 1024)
				}
			}
			restricted := map[string]bool{}
			for _, r := range s.Restrictions {
				if r.Type != nil && *r.Type == armcompute.ResourceSKURestrictionsTypeLocation {
					for _, v := range r.Values {
						restricted[strings.ToLower(*v)] = true
					}
				}
			}
			for _, li := range s.LocationInfo {
				if li.Location == nil || restricted[strings.ToLower(*li.Location)] {
					continue
				}
				zs := []string{}
				for _, zz := range li.Zones {
					zs = append(zs, *zz)
				}
				z.zones[strings.ToLower(*li.Location)] = zs
			}
			if z.vcpus > 0 && z.memMB > 0 {
				out = append(out, z)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, c := out[i], out[j]
		if a.vcpus != c.vcpus {
			return a.vcpus < c.vcpus
		}
		if a.memMB != c.memMB {
			return a.memMB < c.memMB
		}
		return a.name < c.name
	})
	b.skuList, b.skuUntil = out, time.Now().Add(b.cfg.SKUCacheTTL)
	return out, nil
}

// chooseSize is size_map[flavor] or the smallest size offered in loc (and
// zone) that has the flavor's vCPUs and RAM.
func (b *Backend) chooseSize(ctx context.Context, op string, f proxies.Flavor, loc, zone string) (string, error) {
	if s, ok := b.cfg.SizeMap[f.ID]; ok {
		return s, nil
	}
	all, err := b.sizes(ctx, op)
	if err != nil {
		return "", err
	}
	for _, s := range all {
		zs, offered := s.zones[strings.ToLower(loc)]
		if !offered || (zone != "" && !slices.Contains(zs, zone)) {
			continue
		}
		if s.vcpus >= f.VCPUs && s.memMB >= f.RAMMB {
			return s.name, nil
		}
	}
	return "", proxies.Errorf(proxies.ErrCapacity, op, "no VM size in %s fits %d vCPUs and %d MB", loc, f.VCPUs, f.RAMMB)
}

type inventory Backend

// Hosts reports one pseudo-host per location zone (or per location with
// no zones), sized from the subscription's regional vCPU quota (Usage API)
// split evenly across the location's zones.
func (d *inventory) Hosts(ctx context.Context) ([]proxies.Host, error) {
	const op = "Hosts"
	b := (*Backend)(d)
	var out []proxies.Host
	for _, l := range b.cfg.Locations {
		limit := 0
		pager := b.usage.NewListPager(l.Name, nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, mapErr(op, "could not read the compute usage of "+l.Name, err)
			}
			for _, u := range page.Value {
				if u.Name != nil && u.Name.Value != nil && *u.Name.Value == "cores" && u.Limit != nil {
					limit = int(*u.Limit)
				}
			}
		}
		type hz struct{ zone, az string }
		var hs []hz
		for z, az := range l.Zones {
			hs = append(hs, hz{z, az})
		}
		if len(hs) == 0 {
			hs = []hz{{"", l.AvailabilityZone}}
		}
		sort.Slice(hs, func(i, j int) bool { return hs[i].zone < hs[j].zone })
		per := limit / len(hs)
		for _, h := range hs {
			out = append(out, proxies.Host{Name: hostName(l.Name, h.zone), AvailabilityZone: h.az, HypervisorType: "azure",
				Up: per > 0, Enabled: true, VCPUs: per, RAMMB: per * 4096, DiskGB: 65536,
				Labels: map[string]string{"cloud": "azure", "location": l.Name, "zone": h.zone}})
		}
	}
	return out, nil
}
