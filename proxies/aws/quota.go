package aws

import (
	"context"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
)

// vcpuQuotaCode is the Service Quotas code of "Running On-Demand Standard
// (A, C, D, H, I, M, R, T, Z) instances", counted in vCPUs.
const vcpuQuotaCode = "L-1216C47A"

// quotaTTL is how long the vCPU quota is cached.
const quotaTTL = 10 * time.Minute

// quotaAPI is the part of the Service Quotas client this backend uses.
type quotaAPI interface {
	GetServiceQuota(ctx context.Context, in *servicequotas.GetServiceQuotaInput, opts ...func(*servicequotas.Options)) (*servicequotas.GetServiceQuotaOutput, error)
}

var _ quotaAPI = (*servicequotas.Client)(nil)

// vcpuQuota is the account's on-demand vCPU quota in the region from the
// Service Quotas API, cached; vcpu_quota when the API does not answer (no
// permission, a simulator without EC2 quotas).
func (b *Backend) vcpuQuota(ctx context.Context) int {
	b.quotaMu.Lock()
	defer b.quotaMu.Unlock()
	if b.quota > 0 && time.Since(b.quotaAt) < quotaTTL {
		return b.quota
	}
	out, err := b.sq.GetServiceQuota(ctx, &servicequotas.GetServiceQuotaInput{ServiceCode: awsv2.String("ec2"), QuotaCode: awsv2.String(vcpuQuotaCode)})
	if err != nil || out.Quota == nil || awsv2.ToFloat64(out.Quota.Value) < 1 {
		b.log.Info("vCPU quota from Service Quotas unavailable; using aws.vcpu_quota", "vcpu_quota", b.cfg.VCPUQuota, "err", mapErr("GetServiceQuota", err))
		b.quota, b.quotaAt = b.cfg.VCPUQuota, time.Now()
		return b.quota
	}
	b.quota, b.quotaAt = int(awsv2.ToFloat64(out.Quota.Value)), time.Now()
	return b.quota
}
