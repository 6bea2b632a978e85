package aws

import (
	"cmp"
	"context"
	"slices"
	"sync"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// instanceType is one entry of the region's instance-type catalogue.
type instanceType struct {
	Name  string
	VCPUs int
	MemMB int
}

// builtinPrices are on-demand Linux prices (USD an hour, us-east-1) of
// common general-purpose types, used when price_table does not name a type.
// Only priced types are chosen automatically: an unpriced type may be
// exotic (GPU, metal) and far dearer than its size suggests.
var builtinPrices = map[string]float64{
	"t3.nano": 0.0052, "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416,
	"t3.large": 0.0832, "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
	"t3a.nano": 0.0047, "t3a.micro": 0.0094, "t3a.small": 0.0188, "t3a.medium": 0.0376,
	"t3a.large": 0.0752, "t3a.xlarge": 0.1504, "t3a.2xlarge": 0.3008,
	"m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384, "m5.4xlarge": 0.768, "m5.8xlarge": 1.536,
	"c5.large": 0.085, "c5.xlarge": 0.17, "c5.2xlarge": 0.34, "c5.4xlarge": 0.68,
	"r5.large": 0.126, "r5.xlarge": 0.252, "r5.2xlarge": 0.504, "r5.4xlarge": 1.008,
}

// price is the hourly price of a type and whether it is known.
func (b *Backend) price(name string) (float64, bool) {
	if p, ok := b.cfg.PriceTable[name]; ok {
		return p, true
	}
	p, ok := builtinPrices[name]
	return p, ok
}

// instanceTypeFor maps a flavor to an instance type: instance_type_map, else
// the cheapest priced x86_64 type with at least the flavor's vCPUs and RAM.
func (b *Backend) instanceTypeFor(ctx context.Context, f proxies.Flavor) (string, error) {
	const op = "InstanceType"
	if t, ok := b.cfg.InstanceTypeMap[f.ID]; ok {
		return t, nil
	}
	catalogue, err := b.instanceTypes(ctx)
	if err != nil {
		return "", err
	}
	best, bestPrice := "", 0.0
	for _, t := range catalogue {
		p, ok := b.price(t.Name)
		if !ok || t.VCPUs < f.VCPUs || t.MemMB < f.RAMMB {
			continue
		}
		if best == "" || p < bestPrice || (p == bestPrice && t.Name < best) {
			best, bestPrice = t.Name, p
		}
	}
	if best == "" {
		return "", proxies.Errorf(proxies.ErrCapacity, op,
			"no priced instance type in %s has %d vCPUs and %d MB; map flavor %s in aws.instance_type_map or price a type in aws.price_table",
			b.cfg.Region, f.VCPUs, f.RAMMB, f.ID)
	}
	return best, nil
}

// catalogue is one region's instance types, described once and shared by
// every backend of that region (and endpoint) in the process.
type catalogue struct {
	mu    sync.Mutex
	types []instanceType
}

var (
	cataloguesMu sync.Mutex
	catalogues   = map[string]*catalogue{}
)

func catalogueFor(key string) *catalogue {
	cataloguesMu.Lock()
	defer cataloguesMu.Unlock()
	if c, ok := catalogues[key]; ok {
		return c
	}
	c := &catalogue{}
	catalogues[key] = c
	return c
}

// instanceTypes is the region's x86_64 catalogue, described once and cached.
func (b *Backend) instanceTypes(ctx context.Context) ([]instanceType, error) {
	b.types.mu.Lock()
	defer b.types.mu.Unlock()
	if b.types.types != nil {
		return b.types.types, nil
	}
	var out []instanceType
	p := ec2.NewDescribeInstanceTypesPaginator(b.ec2, &ec2.DescribeInstanceTypesInput{
		Filters: []types.Filter{{Name: awsv2.String("processor-info.supported-architecture"), Values: []string{"x86_64"}}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapErr("DescribeInstanceTypes", err)
		}
		for _, t := range page.InstanceTypes {
			it := instanceType{Name: string(t.InstanceType)}
			if t.VCpuInfo != nil {
				it.VCPUs = int(awsv2.ToInt32(t.VCpuInfo.DefaultVCpus))
			}
			if t.MemoryInfo != nil {
				it.MemMB = int(awsv2.ToInt64(t.MemoryInfo.SizeInMiB))
			}
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(x, y instanceType) int { return cmp.Compare(x.Name, y.Name) })
	b.types.types = out
	return out, nil
}
