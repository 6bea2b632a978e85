package vmware

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/canopy-cloud/canopy/config"
)

// Config is the vsphere section of a cloud in canopy.yaml.
//
//	vsphere:
//	  url: https://vcenter.example.com/sdk
//	  username: canopy@vsphere.local
//	  password_from: env:VSPHERE_PASSWORD
//	  ca_file: /etc/canopy/vcenter-ca.pem
//	  datacenter: DC0
//	  clusters:
//	    - {path: DC0_C0, availability_zone: vsphere-a}
//	  datastore: LocalDS_0
//	  folder: canopy
//	  templates: {<image id>: /DC0/vm/templates/ubuntu-24.04}
//	  network_map: {<network id>: VM Network}
//	  dvs: DC0_DVS
//	  port_group_prefix: canopy-
type Config struct {
	// URL is the vCenter SDK URL (https://host/sdk), without credentials.
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	// PasswordFrom is a secret reference: "env:NAME" or "file:/path".
	PasswordFrom string `yaml:"password_from"`
	// Insecure skips TLS verification (default false: verified). Prefer
	// CAFile for a vCenter with a private CA.
	Insecure bool   `yaml:"insecure"`
	CAFile   string `yaml:"ca_file"`
	// Datacenter is the datacenter's name or inventory path.
	Datacenter string `yaml:"datacenter"`
	// Clusters are the clusters or resource pools servers are placed in;
	// each is one availability zone.
	Clusters []Cluster `yaml:"clusters"`
	// Datastore is a datastore or a datastore cluster (the child with the
	// most free space is used).
	Datastore string `yaml:"datastore"`
	// Folder is the VM folder Canopy's VMs and templates live in (created
	// under the datacenter's VM folder when missing; default "canopy").
	Folder string `yaml:"folder"`
	// Templates maps a top image id to an existing template (or VM) path.
	Templates map[string]string `yaml:"templates"`
	// NetworkMap maps a top network id to an existing port group.
	NetworkMap map[string]string `yaml:"network_map"`
	// DVS is the distributed switch unmapped networks get a port group on
	// ("" = only mapped networks are accepted).
	DVS string `yaml:"dvs"`
	// VLANs is the range of VLAN ids port groups Canopy creates get, one each
	// (unset: no VLAN, and isolation between networks is the physical
	// network's).
	VLANs *VLANRange `yaml:"vlans"`
	// PortGroupPrefix names the port groups Canopy creates (default "canopy-").
	PortGroupPrefix string `yaml:"port_group_prefix"`
	// Volumes picks what a Cinder volume is: "fcd" (a first-class disk,
	// vSphere 6.5+), "vmdk" (a plain VMDK file in [datastore]
	// canopy-volumes/, for a vCenter without the vStorageObject API) or
	// "auto" (default: fcd when the vCenter's vStorageObjectManager answers,
	// else vmdk).
	Volumes string `yaml:"volumes"`
	// CallTimeout bounds every call into vCenter (default 2m; clones of big
	// disks take long).
	CallTimeout time.Duration `yaml:"call_timeout"`
}

// DecodeConfig decodes the vsphere section of a cloud in canopy.yaml
// strictly (an unknown field is an error naming it) and validates it.
func DecodeConfig(node *yaml.Node) (Config, error) {
	var cfg Config
	raw, err := yaml.Marshal(node)
	if err != nil {
		return cfg, fmt.Errorf("vsphere: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("vsphere: %w", err)
	}
	return cfg, cfg.Validate()
}

// The values of Config.Volumes.
const (
	VolumesAuto = "auto"
	VolumesFCD  = "fcd"
	VolumesVMDK = "vmdk"
)

// VLANRange is an inclusive range of VLAN ids (1-4094).
type VLANRange struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

// Cluster is one availability zone: a cluster or a resource pool path.
type Cluster struct {
	Path             string `yaml:"path"`
	AvailabilityZone string `yaml:"availability_zone"`
}

func (c *Config) setDefaults() {
	if c.Folder == "" {
		c.Folder = "canopy"
	}
	if c.PortGroupPrefix == "" {
		c.PortGroupPrefix = "canopy-"
	}
	if c.Volumes == "" {
		c.Volumes = VolumesAuto
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 2 * time.Minute
	}
}

// Validate checks the configuration and names the bad field and the fix.
func (c *Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("vsphere.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("url", "want the vCenter SDK URL, e.g. https://vcenter.example.com/sdk")
	} else if u.User != nil {
		bad("url", "must not carry credentials; use username and password_from")
	}
	if c.Username == "" {
		bad("username", "is required (e.g. canopy@vsphere.local)")
	}
	if kind, _, _ := strings.Cut(c.PasswordFrom, ":"); kind != "env" && kind != "file" {
		// Not a reference: the value may be the password itself, so it is
		// not repeated here.
		bad("password_from", "is not a secret reference; use env:NAME or file:/path")
	} else if _, err := config.Secret(c.PasswordFrom); err != nil {
		bad("password_from", "%v", err)
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			bad("ca_file", "cannot read %s; give a PEM file of the vCenter's CA", c.CAFile)
		}
		if c.Insecure {
			bad("insecure", "is true while ca_file is set; drop one of them")
		}
	}
	if c.Datacenter == "" {
		bad("datacenter", "is required (the datacenter's name, e.g. DC0)")
	}
	if len(c.Clusters) == 0 {
		bad("clusters", "list at least one cluster or resource pool, each with an availability_zone")
	}
	zones := map[string]bool{}
	for i, cl := range c.Clusters {
		if cl.Path == "" {
			bad(fmt.Sprintf("clusters[%d].path", i), "is required (a cluster or resource pool path)")
		}
		if cl.AvailabilityZone == "" {
			bad(fmt.Sprintf("clusters[%d].availability_zone", i), "is required (each cluster is one zone)")
		} else if zones[cl.AvailabilityZone] {
			bad(fmt.Sprintf("clusters[%d].availability_zone", i), "%q is used twice; each cluster is its own zone", cl.AvailabilityZone)
		}
		zones[cl.AvailabilityZone] = true
	}
	if c.Datastore == "" {
		bad("datastore", "is required (a datastore or datastore cluster name)")
	}
	for id, path := range c.Templates {
		if id == "" || path == "" {
			bad("templates", "entries map an image id to a template path; %q: %q is incomplete", id, path)
		}
	}
	if v := c.VLANs; v != nil && (v.Min < 1 || v.Max > 4094 || v.Min > v.Max) {
		bad("vlans", "want 1 <= min <= max <= 4094, got %d-%d", v.Min, v.Max)
	}
	if c.VLANs != nil && c.DVS == "" {
		bad("vlans", "only applies to port groups created on vsphere.dvs; set dvs")
	}
	switch c.Volumes {
	case VolumesAuto, VolumesFCD, VolumesVMDK:
	default:
		bad("volumes", "%q is not fcd, vmdk or auto", c.Volumes)
	}
	for id, pg := range c.NetworkMap {
		if id == "" || pg == "" {
			bad("network_map", "entries map a network id to a port group; %q: %q is incomplete", id, pg)
		}
	}
	return errors.Join(errs...)
}
