// Package config reads canopy.yaml, the one configuration file of a Canopy
// gateway. Every struct sets its own defaults and validates itself; a bad
// file fails at start with a message that names the field and the fix.
// Secrets are given by reference (an environment variable or a file), never
// inline, and are never printed.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is canopy.yaml.
type Config struct {
	// Listen is the gateway's HTTP listen address.
	Listen string `yaml:"listen"`
	// PublicURL is the base URL clients reach the gateway at; catalog
	// endpoints are built from it. Default: http://<listen>.
	PublicURL string `yaml:"public_url"`
	// Region is the Keystone region of the catalog.
	Region string `yaml:"region"`
	// DataDir holds the image store and, by default, the Fernet keys.
	DataDir string `yaml:"data_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string   `yaml:"log_level"`
	Registry Registry `yaml:"registry"`
	Identity Identity `yaml:"identity"`
	Clouds   []Cloud  `yaml:"clouds"`
	// Scheduler tunes placement (config/scheduler.go).
	Scheduler Scheduler `yaml:"scheduler"`
}

// Registry says where Redis is.
type Registry struct {
	URL        string   `yaml:"url"`
	Addrs      []string `yaml:"addrs"`
	MasterName string   `yaml:"master_name"`
	// PasswordFrom is a secret reference: "env:NAME" or "file:/path".
	PasswordFrom string `yaml:"password_from"`
}

// Identity configures the built-in Keystone.
type Identity struct {
	// KeyRepository is the Fernet key directory (default <data_dir>/fernet-keys).
	KeyRepository string        `yaml:"key_repository"`
	TokenTTL      time.Duration `yaml:"token_ttl"`
	// AdminPasswordFrom bootstraps the admin user: "env:NAME" or "file:/path".
	AdminPasswordFrom string `yaml:"admin_password_from"`
}

// Cloud is one backend. Type selects which section below applies.
type Cloud struct {
	Name             string `yaml:"name"`
	Type             string `yaml:"type"` // local, openstack, vsphere, aws or azure
	AvailabilityZone string `yaml:"availability_zone"`
	// Country (ISO 3166-1 alpha-2, e.g. DE) and Region (free text, e.g.
	// eu-west) say where the cloud runs servers, for data residency: a
	// cloud without a country never takes a server whose project or
	// flavor restricts where it may run.
	Country string `yaml:"country"`
	Region  string `yaml:"region"`
	// One section per type, each decoded by its backend's own Config type
	// (strictly: unknown fields are errors there too).
	Local     yaml.Node `yaml:"local"`
	OpenStack yaml.Node `yaml:"openstack"`
	VSphere   yaml.Node `yaml:"vsphere"`
	AWS       yaml.Node `yaml:"aws"`
	Azure     yaml.Node `yaml:"azure"`
}

// ErrInvalid marks a cloud entry that is wrong in itself (a missing or
// unknown field, a bad value), as opposed to a cloud that cannot be
// reached: the admin API answers the first with 400.
var ErrInvalid = errors.New("invalid cloud configuration")

// CloudTypes are the cloud types this build supports.
var CloudTypes = []string{"local", "openstack", "vsphere", "aws", "azure"}

// Default returns a configuration with every default set.
func Default() Config {
	c := Config{}
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:5000"
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.Region == "" {
		c.Region = "RegionOne"
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/canopy"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.Identity.KeyRepository == "" {
		c.Identity.KeyRepository = c.DataDir + "/fernet-keys"
	}
	if c.Identity.TokenTTL == 0 {
		c.Identity.TokenTTL = time.Hour
	}
	for i := range c.Clouds {
		if c.Clouds[i].AvailabilityZone == "" {
			c.Clouds[i].AvailabilityZone = "nova"
		}
	}
}

// Load reads and validates a canopy.yaml.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(b)
}

// Parse decodes and validates YAML. Unknown fields are errors (a typo must
// not silently become a default).
func Parse(b []byte) (Config, error) {
	var c Config
	if len(bytes.TrimSpace(b)) == 0 {
		return Config{}, errors.New("config: the file is empty; at least registry.url is needed (see deploy/canopy.example.yaml)")
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c.setDefaults()
	return c, c.Validate()
}

// Validate checks every field and names the first bad one with the fix.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port (e.g. 127.0.0.1:5000)", c.Listen))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("public_url: %q must be an http(s) URL such as https://cloud.example.com", c.PublicURL))
	}
	if c.Registry.URL == "" && len(c.Registry.Addrs) == 0 {
		errs = append(errs, errors.New("registry: set registry.url (redis://host:6379/0) or registry.addrs (Sentinel/Cluster)"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	if c.Registry.PasswordFrom != "" {
		if _, err := Secret(c.Registry.PasswordFrom); err != nil {
			errs = append(errs, fmt.Errorf("registry.password_from: %w", err))
		}
	}
	seen := map[string]bool{}
	for i, cl := range c.Clouds {
		where := fmt.Sprintf("clouds[%d]", i)
		if cl.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: every cloud needs a name", where))
		} else if seen[cl.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice; cloud names must be unique", where, cl.Name))
		}
		seen[cl.Name] = true
		switch {
		case cl.Type == "":
			errs = append(errs, fmt.Errorf("%s.type: missing; this build supports: %s", where, strings.Join(CloudTypes, ", ")))
		case !slices.Contains(CloudTypes, cl.Type):
			errs = append(errs, fmt.Errorf("%s.type: %q is not supported by this build (supported: %s)", where, cl.Type, strings.Join(CloudTypes, ", ")))
		}
		if err := cl.validateLocation(where); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, c.Scheduler.validate(c.Clouds)...)
	return errors.Join(errs...)
}

// ErrSecret is a secret reference that does not resolve. Its messages
// never hold the secret (nor an inline value), so they may be shown.
var ErrSecret = errors.New("secret reference")

// Secret resolves a secret reference: "env:NAME" reads an environment
// variable, "file:/path" reads a file (trailing newline trimmed).
func Secret(ref string) (string, error) {
	kind, arg, ok := strings.Cut(ref, ":")
	if !ok || arg == "" {
		// Never echo the value: it may be a password pasted inline.
		return "", fmt.Errorf("%w: the value is not a secret reference; use env:NAME or file:/path (secrets are never written inline)", ErrSecret)
	}
	switch kind {
	case "env":
		v, ok := os.LookupEnv(arg)
		if !ok {
			return "", fmt.Errorf("%w: environment variable %s is not set", ErrSecret, arg)
		}
		return v, nil
	case "file":
		b, err := os.ReadFile(arg)
		if err != nil {
			return "", fmt.Errorf("%w: cannot read secret file: %w", ErrSecret, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", fmt.Errorf("%w: the value is not a secret reference (its kind is neither env nor file); use env:NAME or file:/path (secrets are never written inline)", ErrSecret)
}
