package openstack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies/openstack"
	"gopkg.in/yaml.v3"
)

// exampleYAML is the openstack section of a cloud in canopy.yaml, in
// clouds.yaml's shape.
const exampleYAML = `
auth_url: https://keystone.example:5000/v3
region_name: RegionOne
interface: internal
cacert: /etc/canopy/bottom-ca.pem
auth:
  username: canopy
  password_from: env:BOTTOM_PASSWORD
  project_name: canopy
  user_domain_name: Default
  project_domain_name: Default
project_map: {top-proj-1: 0f1e2d3c}
flavor_map: {"1": m1.tiny}
image_map: {a1b2: 9f8e}
network_map: {top-public: ext-net}
admin: true
availability_zone: bottom-east
timeout: 45s
image_timeout: 1h
retries: 5
`

// TestConfigYAML: the section decodes strictly into Config with every field.
func TestConfigYAML(t *testing.T) {
	dec := yaml.NewDecoder(strings.NewReader(exampleYAML))
	dec.KnownFields(true)
	var cfg openstack.Config
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if cfg.Interface != "internal" || cfg.Auth.PasswordFrom != "env:BOTTOM_PASSWORD" || !cfg.Admin ||
		cfg.Timeout != 45*time.Second || cfg.ImageTimeout != time.Hour || cfg.Retries != 5 ||
		cfg.ProjectMap["top-proj-1"] != "0f1e2d3c" || cfg.FlavorMap["1"] != "m1.tiny" || cfg.NetworkMap["top-public"] != "ext-net" ||
		cfg.AvailabilityZone != "bottom-east" || cfg.CACert == "" {
		t.Errorf("decoded %+v; want every field of the example", cfg)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate(example) = %v", err)
	}
	bad := yaml.NewDecoder(strings.NewReader("auth_url: x\npasword_from: oops\n"))
	bad.KnownFields(true)
	if err := bad.Decode(&openstack.Config{}); err == nil {
		t.Error("a misspelt field decoded without error; want strict decoding to refuse it")
	}
}
