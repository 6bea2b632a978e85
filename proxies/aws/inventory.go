package aws

import (
	"context"
	"slices"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// zonesTTL is how long the zone list is cached.
const zonesTTL = 10 * time.Minute

// inventoryDriver reports one pseudo-host per availability zone.
type inventoryDriver struct{ b *Backend }

// zoneNames are the region's available zones (filtered by
// availability_zones), cached.
func (b *Backend) zoneNames(ctx context.Context) ([]string, error) {
	b.zonesMu.Lock()
	defer b.zonesMu.Unlock()
	if b.zones != nil && time.Since(b.zonesAt) < zonesTTL {
		return b.zones, nil
	}
	out, err := b.ec2.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{
		Filters: []types.Filter{{Name: awsv2.String("state"), Values: []string{"available"}}},
	})
	if err != nil {
		return nil, mapErr("DescribeAvailabilityZones", err)
	}
	var zones []string
	for _, z := range out.AvailabilityZones {
		name := awsv2.ToString(z.ZoneName)
		if len(b.cfg.AvailabilityZones) == 0 || slices.Contains(b.cfg.AvailabilityZones, name) {
			zones = append(zones, name)
		}
	}
	slices.Sort(zones)
	if len(zones) == 0 {
		return nil, proxies.Errorf(proxies.ErrUnavailable, "DescribeAvailabilityZones",
			"no available zone of %s matches aws.availability_zones %v", b.cfg.Region, b.cfg.AvailabilityZones)
	}
	b.zones, b.zonesAt = zones, time.Now()
	return zones, nil
}

// Hosts reports one host per zone; the account's vCPU quota (Service
// Quotas, else vcpu_quota) is split evenly.
func (d inventoryDriver) Hosts(ctx context.Context) ([]proxies.Host, error) {
	b := d.b
	zones, err := b.zoneNames(ctx)
	if err != nil {
		return nil, err
	}
	vcpus := max(1, b.vcpuQuota(ctx)/len(zones))
	hosts := make([]proxies.Host, 0, len(zones))
	for _, z := range zones {
		hosts = append(hosts, proxies.Host{
			Name: b.hostName(z), AvailabilityZone: z, HypervisorType: "ec2", Up: true, Enabled: true,
			VCPUs: vcpus, RAMMB: vcpus * b.cfg.RAMPerVCPUMB, DiskGB: b.cfg.DiskGBPerZone,
			Labels: map[string]string{"cloud": "aws", "region": b.cfg.Region},
		})
	}
	return hosts, nil
}
