package aws

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Config is one AWS cloud's section of canopy.yaml (clouds[].aws): one
// account in one region. Secrets are references (env:NAME or file:/path),
// resolved with config.Secret; with no static key the SDK's standard chain
// (environment, shared profile, IMDS, web identity) is used.
type Config struct {
	// Region is the EC2 region, e.g. eu-west-1.
	Region string `yaml:"region"`
	// AvailabilityZones limits the zones Canopy uses (default: every zone
	// of the region that is available). Each becomes one pseudo-host.
	AvailabilityZones []string `yaml:"availability_zones"`
	// Endpoint overrides the EC2 endpoint (moto, a VPC endpoint, LocalStack).
	Endpoint string `yaml:"endpoint"`
	// Profile is a shared-config profile name (~/.aws/config).
	Profile string `yaml:"profile"`
	// RoleARN, when set, is assumed (STS AssumeRole) over the base
	// credentials.
	RoleARN string `yaml:"role_arn"`
	// AccessKeyID and SecretAccessKeyFrom are a static key; the secret is a
	// reference (env:NAME or file:/path), never inline.
	AccessKeyID         string `yaml:"access_key_id"`
	SecretAccessKeyFrom string `yaml:"secret_access_key_from"`
	// InstanceTypeMap maps a top flavor id to an instance type. Flavors not
	// in it get the cheapest type that fits (PriceTable, then a built-in
	// table of on-demand prices).
	InstanceTypeMap map[string]string `yaml:"instance_type_map"`
	// PriceTable is the hourly price of instance types, used to choose the
	// cheapest type that fits a flavor (overrides the built-in table).
	PriceTable map[string]float64 `yaml:"price_table"`
	// AMIMap maps a top image id to an AMI. An image in it is never
	// uploaded: ImportImage reuses the AMI (the others are imported
	// through ImageBucket).
	AMIMap map[string]string `yaml:"ami_map"`
	// VPCCIDR is the primary CIDR of the VPC made for each project (default
	// 10.0.0.0/16). Subnets outside it are added as secondary CIDR blocks.
	VPCCIDR string `yaml:"vpc_cidr"`
	// SubnetMap maps a top subnet id to an existing EC2 subnet to use
	// instead of creating one.
	SubnetMap map[string]string `yaml:"subnet_map"`
	// ServiceQuotasEndpoint overrides the Service Quotas endpoint (default:
	// endpoint when that is set, since simulators serve every service on
	// one port; else AWS's own).
	ServiceQuotasEndpoint string `yaml:"service_quotas_endpoint"`
	// VCPUQuota is the vCPU capacity reported when the Service Quotas API
	// does not give the account's on-demand standard vCPU quota (no
	// servicequotas:GetServiceQuota permission, a simulator); default 64,
	// the usual quota of a new account. Split evenly across the zones.
	VCPUQuota int `yaml:"vcpu_quota"`
	// RAMPerVCPUMB and DiskGBPerZone size the pseudo-hosts' RAM and disk
	// (defaults 4096 MB per vCPU and 16384 GB per zone).
	RAMPerVCPUMB  int `yaml:"ram_per_vcpu_mb"`
	DiskGBPerZone int `yaml:"disk_gb_per_zone"`
	// ImageBucket is the S3 bucket image bytes are uploaded to for VM
	// Import (created when missing). Without it only ami_map images and
	// server snapshots exist on this cloud: importing image bytes answers
	// "not supported" naming this key.
	ImageBucket string `yaml:"image_bucket"`
	// ImportRole is the IAM service role VM Import uses to read the bucket
	// (default: AWS's default, vmimport).
	ImportRole string `yaml:"import_role"`
	// ImportTimeout bounds one image import: upload, conversion and AMI
	// registration (default 2h).
	ImportTimeout time.Duration `yaml:"import_timeout"`
	// CallTimeout bounds each attempt of an EC2 call: the request and its
	// answer, not the wait for a request token (default 30s).
	CallTimeout time.Duration `yaml:"call_timeout"`
	// RateWaitTimeout bounds the wait for a token of the client-side
	// request buckets before each attempt (default 60s); a call that waits
	// longer answers "unavailable", and waits over a second are logged.
	RateWaitTimeout time.Duration `yaml:"rate_wait_timeout"`
	// MaxAttempts is how many times the SDK tries a throttled or failed
	// call (default 5).
	MaxAttempts int `yaml:"max_attempts"`
	// RateScale scales EC2's documented request-rate buckets (default 1;
	// 0.5 halves every bucket for an account shared with other tools).
	RateScale float64 `yaml:"rate_scale"`

	// maxBackoff caps the retryer's backoff (tests shorten it).
	maxBackoff time.Duration
	// importPoll is how often an import task is polled (default 10s;
	// SimConfig shortens it).
	importPoll time.Duration
	// simVMImport puts the simulated VM Import (vmimportsim.go) in front
	// of the EC2 client: set by SimConfig only, for moto, which has no
	// VM Import.
	simVMImport bool
}

// Defaults applied by SetDefaults.
const (
	DefaultVPCCIDR      = "10.0.0.0/16"
	DefaultVCPUQuota    = 64
	DefaultRAMPerVCPUMB = 4096
	DefaultDiskGBPerAZ  = 16384
	DefaultCallTimeout  = 30 * time.Second
	DefaultRateWait     = 60 * time.Second
	DefaultImportTime   = 2 * time.Hour
	DefaultMaxAttempts  = 5
)

// SetDefaults fills the zero fields with their defaults.
func (c *Config) SetDefaults() {
	if c.VPCCIDR == "" {
		c.VPCCIDR = DefaultVPCCIDR
	}
	if c.VCPUQuota == 0 {
		c.VCPUQuota = DefaultVCPUQuota
	}
	if c.RAMPerVCPUMB == 0 {
		c.RAMPerVCPUMB = DefaultRAMPerVCPUMB
	}
	if c.DiskGBPerZone == 0 {
		c.DiskGBPerZone = DefaultDiskGBPerAZ
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.RateWaitTimeout == 0 {
		c.RateWaitTimeout = DefaultRateWait
	}
	if c.ImportTimeout == 0 {
		c.ImportTimeout = DefaultImportTime
	}
	if c.importPoll == 0 {
		c.importPoll = 10 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RateScale == 0 {
		c.RateScale = 1
	}
}

// quotasEndpoint is the Service Quotas endpoint override, if any.
func (c *Config) quotasEndpoint() string {
	if c.ServiceQuotasEndpoint != "" {
		return c.ServiceQuotasEndpoint
	}
	return c.Endpoint
}

// Validate reports the first bad field, naming it and the fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("aws.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Region == "" {
		bad("region", "is required; set the EC2 region, e.g. us-east-1")
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("endpoint", "%q is not an http(s) URL; use e.g. http://127.0.0.1:5000", c.Endpoint)
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKeyFrom == "") {
		bad("access_key_id", "access_key_id and secret_access_key_from go together; set both or neither (neither uses the SDK's credential chain)")
	}
	if c.SecretAccessKeyFrom != "" && !strings.HasPrefix(c.SecretAccessKeyFrom, "env:") && !strings.HasPrefix(c.SecretAccessKeyFrom, "file:") {
		bad("secret_access_key_from", "must be a reference (env:NAME or file:/path), never the secret itself")
	}
	if c.RoleARN != "" && !strings.HasPrefix(c.RoleARN, "arn:") {
		bad("role_arn", "%q is not an ARN; use arn:aws:iam::<account>:role/<name>", c.RoleARN)
	}
	if c.VPCCIDR != "" {
		if p, err := netip.ParsePrefix(c.VPCCIDR); err != nil || !p.Addr().Is4() || p.Bits() < 16 || p.Bits() > 28 {
			bad("vpc_cidr", "%q is not an IPv4 CIDR between /16 and /28 (EC2's VPC limits); use e.g. 10.0.0.0/16", c.VPCCIDR)
		}
	}
	for flavor, it := range c.InstanceTypeMap {
		if !strings.Contains(it, ".") {
			bad("instance_type_map", "flavor %q maps to %q, which is not an instance type; use e.g. t3.micro", flavor, it)
		}
	}
	for image, ami := range c.AMIMap {
		if !strings.HasPrefix(ami, "ami-") {
			bad("ami_map", "image %q maps to %q, which is not an AMI id (ami-...)", image, ami)
		}
	}
	for subnet, id := range c.SubnetMap {
		if !strings.HasPrefix(id, "subnet-") {
			bad("subnet_map", "subnet %q maps to %q, which is not a subnet id (subnet-...)", subnet, id)
		}
	}
	if c.VCPUQuota < 0 || c.RAMPerVCPUMB < 0 || c.DiskGBPerZone < 0 {
		bad("vcpu_quota", "vcpu_quota, ram_per_vcpu_mb and disk_gb_per_zone must not be negative")
	}
	if c.CallTimeout < 0 || c.MaxAttempts < 0 || c.RateScale < 0 || c.RateWaitTimeout < 0 || c.ImportTimeout < 0 {
		bad("call_timeout", "call_timeout, rate_wait_timeout, import_timeout, max_attempts and rate_scale must not be negative")
	}
	if c.ImageBucket != "" && !validBucket(c.ImageBucket) {
		bad("image_bucket", "%q is not an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", c.ImageBucket)
	}
	return errors.Join(errs...)
}

// validBucket reports whether name follows S3's bucket naming rules (the
// subset that matters for a config check).
func validBucket(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !ok && (i == 0 || i == len(name)-1 || (r != '-' && r != '.')) {
			return false
		}
	}
	return true
}
