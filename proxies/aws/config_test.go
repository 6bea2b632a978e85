package aws

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigValidate(t *testing.T) {
	good := Config{Region: "eu-west-1"}
	cases := []struct {
		name  string
		edit  func(*Config)
		field string // "" = valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"static key", func(c *Config) { c.AccessKeyID, c.SecretAccessKeyFrom = "AKIA1", "env:AWS_SECRET" }, ""},
		{"no region", func(c *Config) { c.Region = "" }, "aws.region"},
		{"endpoint not a URL", func(c *Config) { c.Endpoint = "localhost:5000" }, "aws.endpoint"},
		{"key without secret", func(c *Config) { c.AccessKeyID = "AKIA1" }, "aws.access_key_id"},
		{"inline secret", func(c *Config) { c.AccessKeyID, c.SecretAccessKeyFrom = "AKIA1", "wJalrXUtnFEMI" }, "aws.secret_access_key_from"},
		{"role not an ARN", func(c *Config) { c.RoleARN = "admin" }, "aws.role_arn"},
		{"vpc too big", func(c *Config) { c.VPCCIDR = "10.0.0.0/8" }, "aws.vpc_cidr"},
		{"bad type", func(c *Config) { c.InstanceTypeMap = map[string]string{"1": "small"} }, "aws.instance_type_map"},
		{"bad ami", func(c *Config) { c.AMIMap = map[string]string{"img": "ubuntu"} }, "aws.ami_map"},
		{"bad subnet", func(c *Config) { c.SubnetMap = map[string]string{"sn": "10.0.0.0/24"} }, "aws.subnet_map"},
		{"negative quota", func(c *Config) { c.VCPUQuota = -1 }, "aws.vcpu_quota"},
		{"image bucket", func(c *Config) { c.ImageBucket = "canopy-images.eu-1" }, ""},
		{"bad image bucket", func(c *Config) { c.ImageBucket = "Canopy_Images" }, "aws.image_bucket"},
		{"negative rate wait", func(c *Config) { c.RateWaitTimeout = -time.Second }, "aws.call_timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			cfg.SetDefaults()
			err := cfg.Validate()
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("Validate = %v; want nil", err)
			case c.field != "" && (err == nil || !strings.Contains(err.Error(), c.field)):
				t.Fatalf("Validate = %v; want an error naming %s", err, c.field)
			}
			if err != nil && strings.Contains(err.Error(), "wJalrXUtnFEMI") {
				t.Errorf("Validate echoes the inline secret: %v", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.SetDefaults()
	if c.VPCCIDR != DefaultVPCCIDR || c.VCPUQuota != DefaultVCPUQuota || c.CallTimeout != DefaultCallTimeout || c.MaxAttempts != DefaultMaxAttempts || c.RateScale != 1 ||
		c.RateWaitTimeout != DefaultRateWait || c.ImportTimeout != DefaultImportTime {
		t.Errorf("SetDefaults = %+v", c)
	}
}

// exampleYAML is the aws section of a cloud in canopy.yaml.
const exampleYAML = `
region: eu-west-1
availability_zones: [eu-west-1a, eu-west-1b]
profile: canopy
role_arn: arn:aws:iam::123456789012:role/canopy
instance_type_map: {"1": t3.micro, "2": t3.small}
price_table: {t3.micro: 0.0114}
ami_map: {4c0ae5a7-0000-4000-8000-000000000001: ami-0abcdef1234567890}
subnet_map: {5d1b0000-0000-4000-8000-000000000002: subnet-0123456789abcdef0}
vpc_cidr: 10.20.0.0/16
vcpu_quota: 256
call_timeout: 20s
max_attempts: 8
rate_scale: 0.5
`

func TestConfigYAML(t *testing.T) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(exampleYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decoding the example: %v", err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	if c.CallTimeout != 20*time.Second || c.InstanceTypeMap["2"] != "t3.small" || len(c.AvailabilityZones) != 2 || c.RAMPerVCPUMB != DefaultRAMPerVCPUMB {
		t.Errorf("decoded %+v", c)
	}
}
