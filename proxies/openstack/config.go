package openstack

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config is the section of canopy.yaml under a cloud of type openstack. Its
// shape follows clouds.yaml so that operators can copy theirs; secrets are
// references (env:NAME or file:/path), never inline.
type Config struct {
	// AuthURL is the bottom Keystone v3 endpoint, e.g. https://keystone:5000/v3.
	AuthURL string `yaml:"auth_url"`
	// RegionName picks the catalog region ("" = the first endpoint found).
	RegionName string `yaml:"region_name"`
	// Interface is the catalog interface: public (default), internal or admin.
	Interface string `yaml:"interface"`
	// CACert is a PEM file of CAs that sign the bottom's TLS certificates.
	CACert string `yaml:"cacert"`
	// Auth is the credential.
	Auth Auth `yaml:"auth"`
	// ProjectMap maps a top project id to the bottom project id its
	// resources live in.
	ProjectMap map[string]string `yaml:"project_map"`
	// FlavorMap maps a top flavor id to a bottom flavor id; an unmapped
	// flavor becomes the smallest bottom flavor that fits it.
	FlavorMap map[string]string `yaml:"flavor_map"`
	// ImageMap maps a top image id to a bottom image id; an unmapped image is
	// the bottom copy ImportImage made, else the bottom image of the same id.
	ImageMap map[string]string `yaml:"image_map"`
	// NetworkMap maps a top network id to a bottom network id; an unmapped
	// network is the one EnsureNetwork made.
	NetworkMap map[string]string `yaml:"network_map"`
	// Admin says the credential may create bottom projects (one per top
	// project, named canopy-<top project id>) and read hypervisor statistics.
	Admin bool `yaml:"admin"`
	// AvailabilityZone, when set, is the top zone every bottom zone's
	// pseudo-host is reported in; else each bottom zone keeps its name.
	AvailabilityZone string `yaml:"availability_zone"`
	// Timeout bounds each call into the bottom cloud (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// ImageTimeout bounds an image upload (ImportImage), which moves whole
	// disks and so outlasts Timeout (default 30m).
	ImageTimeout time.Duration `yaml:"image_timeout"`
	// Retries is how many times a throttled (413/429 with Retry-After) or
	// unavailable (503) answer is retried (default 3; -1 for none).
	Retries int `yaml:"retries"`
}

// Auth is the credential part of a clouds.yaml entry: a password or an
// application credential.
type Auth struct {
	// Username is the bottom Keystone user.
	Username string `yaml:"username"`
	// PasswordFrom is the password's reference: env:NAME or file:/path.
	PasswordFrom string `yaml:"password_from"`
	// ProjectName (with ProjectDomainName) or ProjectID is the project the
	// credential works in when a top project has no bottom project of its own.
	ProjectName string `yaml:"project_name"`
	ProjectID   string `yaml:"project_id"`
	// UserDomainName and ProjectDomainName default to Default.
	UserDomainName    string `yaml:"user_domain_name"`
	ProjectDomainName string `yaml:"project_domain_name"`
	// ApplicationCredentialID and ApplicationCredentialSecretFrom are an
	// application credential, used instead of username and password.
	ApplicationCredentialID         string `yaml:"application_credential_id"`
	ApplicationCredentialSecretFrom string `yaml:"application_credential_secret_from"`
}

// DefaultTimeout is the per-call deadline when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// SetDefaults fills the fields left empty.
func (c *Config) SetDefaults() {
	if c.Interface == "" {
		c.Interface = "public"
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ImageTimeout <= 0 {
		c.ImageTimeout = 30 * time.Minute
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	if c.Retries < 0 {
		c.Retries = 0
	}
	if c.Auth.ApplicationCredentialID == "" {
		if c.Auth.UserDomainName == "" {
			c.Auth.UserDomainName = "Default"
		}
		if c.Auth.ProjectDomainName == "" && c.Auth.ProjectID == "" {
			c.Auth.ProjectDomainName = "Default"
		}
	}
}

// Validate names the first bad fields and how to fix them.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("openstack."+field+": "+format, args...))
	}
	if u, err := url.Parse(c.AuthURL); c.AuthURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("auth_url", "%q is not an http(s) URL; give the bottom Keystone v3 endpoint, e.g. https://keystone.example:5000/v3", c.AuthURL)
	}
	switch c.Interface {
	case "", "public", "internal", "admin":
	default:
		bad("interface", "%q is not one of public, internal, admin", c.Interface)
	}
	a := c.Auth
	switch {
	case a.ApplicationCredentialID != "":
		if a.ApplicationCredentialSecretFrom == "" {
			bad("auth.application_credential_secret_from", "missing; give env:NAME or file:/path of the application credential's secret")
		}
		if a.PasswordFrom != "" {
			bad("auth.password_from", "set together with an application credential; use one or the other")
		}
		if len(c.ProjectMap) > 0 || c.Admin {
			bad("auth.application_credential_id", "an application credential is bound to one project; remove project_map and admin, or use a password credential")
		}
	case a.Username == "" || a.PasswordFrom == "":
		bad("auth", "give username and password_from (env:NAME or file:/path), or application_credential_id and application_credential_secret_from")
	case a.ProjectID == "" && a.ProjectName == "":
		bad("auth.project_name", "missing; give project_name (with project_domain_name) or project_id of the credential's project")
	}
	for _, ref := range []struct{ field, v string }{{"auth.password_from", a.PasswordFrom}, {"auth.application_credential_secret_from", a.ApplicationCredentialSecretFrom}} {
		if ref.v != "" && !isSecretRef(ref.v) {
			bad(ref.field, "must be a reference (env:NAME or file:/path), never the secret itself")
		}
	}
	if c.Timeout < 0 {
		bad("timeout", "%s is negative; give a duration such as 30s", c.Timeout)
	}
	for name, m := range map[string]map[string]string{"project_map": c.ProjectMap, "flavor_map": c.FlavorMap, "image_map": c.ImageMap, "network_map": c.NetworkMap} {
		for k, v := range m {
			if k == "" || v == "" {
				bad(name, "has an empty key or value (%q: %q); map a top id to a bottom id", k, v)
			}
		}
	}
	return errors.Join(errs...)
}

func isSecretRef(ref string) bool {
	for _, p := range []string{"env:", "file:"} {
		if len(ref) > len(p) && ref[:len(p)] == p {
			return true
		}
	}
	return false
}
