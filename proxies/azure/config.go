package azure

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Config is one Azure cloud's section of canopy.yaml (clouds[].azure): one
// subscription, one or more locations. Secrets are references (env:NAME or
// file:/path), resolved with config.Secret; never inline.
//
//	azure:
//	  tenant_id: 72f988bf-...
//	  subscription_id: 0b1f6471-...
//	  credential:
//	    client_id: 4c1b...            # with client_secret_from or certificate_file
//	    client_secret_from: env:AZURE_CLIENT_SECRET
//	    # certificate_file: /etc/canopy/azure.pem
//	    # managed_identity: true      # (client_id optional: a user-assigned identity)
//	    # workload_identity: true     # AKS federated token
//	  locations:
//	    - name: westeurope
//	      zones: {"1": weu-1, "2": weu-2, "3": weu-3}
//	  resource_group_prefix: canopy-
//	  cloud: AzurePublic              # AzureChina, AzureGovernment, or custom:
//	  # endpoint: https://management.local.azurestack.external
//	  # authority_host: https://login.local.azurestack.external/
//	  # ca_file: /etc/canopy/azurestack-ca.pem
//	  size_map: {"2": Standard_B2s}
//	  image_map:
//	    <top image id>: Canonical:ubuntu-24_04-lts:server:latest
//	    <top image id>: /subscriptions/.../galleries/g/images/i/versions/1.0.0
//	    <top image id>: /subscriptions/.../providers/Microsoft.Compute/images/img
type Config struct {
	TenantID       string           `yaml:"tenant_id"`
	SubscriptionID string           `yaml:"subscription_id"`
	Credential     CredentialConfig `yaml:"credential"`
	// Locations are the Azure regions this cloud uses; the first is the
	// default. Each zone maps to a Canopy availability zone.
	Locations []Location `yaml:"locations"`
	// ResourceGroupPrefix names the resource group of each Canopy project
	// (prefix + project id; default "canopy-").
	ResourceGroupPrefix string `yaml:"resource_group_prefix"`
	// Cloud is AzurePublic (default), AzureChina or AzureGovernment; it is
	// ignored when Endpoint is set.
	Cloud string `yaml:"cloud"`
	// Endpoint is a custom ARM endpoint (Azure Stack Hub, the simulator),
	// AuthorityHost its Entra ID authority and CAFile a PEM bundle to trust
	// for both.
	Endpoint      string `yaml:"endpoint"`
	AuthorityHost string `yaml:"authority_host"`
	CAFile        string `yaml:"ca_file"`
	// SizeMap maps a top flavor id to a VM size. Other flavors get the
	// smallest available size that fits (from the Resource SKUs list).
	SizeMap map[string]string `yaml:"size_map"`
	// ImageMap maps a top image id to a marketplace image
	// (publisher:offer:sku:version), a gallery image version id or a
	// managed image id. The key "*" is the image for every top image that
	// is neither mapped nor captured here (dev setups).
	ImageMap map[string]string `yaml:"image_map"`
	// VolumeTypeMap maps a Cinder volume type to a disk SKU (default:
	// "" → StandardSSD_LRS).
	VolumeTypeMap map[string]string `yaml:"volume_type_map"`
	// AdminUsername is the Linux admin user of every VM (default canopy).
	AdminUsername string `yaml:"admin_username"`
	// CallTimeout bounds every single HTTP try (default 30s); MaxRetries is
	// how often a throttled or failed call is retried (default 4).
	CallTimeout time.Duration `yaml:"call_timeout"`
	MaxRetries  int           `yaml:"max_retries"`
	// PollInterval is the pause between two polls of a long-running
	// operation (default 5s) and OperationTimeout bounds a whole operation
	// (default 30m).
	PollInterval     time.Duration `yaml:"poll_interval"`
	OperationTimeout time.Duration `yaml:"operation_timeout"`
	// RateLimitPause is the pause before each call while ARM reports fewer
	// than 25 requests left in the subscription's budget (default 2s).
	RateLimitPause time.Duration `yaml:"ratelimit_pause"`
	// SKUCacheTTL is how long the Resource SKUs list is cached (default 1h).
	SKUCacheTTL time.Duration `yaml:"sku_cache_ttl"`

	// retryDelay is the SDK's base retry delay (tests shorten it).
	retryDelay time.Duration
}

// CredentialConfig chooses one azidentity credential.
type CredentialConfig struct {
	// ClientID is the application (service principal) or user-assigned
	// managed identity id.
	ClientID string `yaml:"client_id"`
	// ClientSecretFrom is a reference to the client secret.
	ClientSecretFrom string `yaml:"client_secret_from"`
	// CertificateFile is a PEM or PKCS#12 file with the client certificate
	// and key; CertificatePasswordFrom a reference to its password.
	CertificateFile         string `yaml:"certificate_file"`
	CertificatePasswordFrom string `yaml:"certificate_password_from"`
	// ManagedIdentity uses the VM's or pod's managed identity.
	ManagedIdentity bool `yaml:"managed_identity"`
	// WorkloadIdentity uses AKS workload identity (federated token file).
	WorkloadIdentity bool `yaml:"workload_identity"`
}

// Location is one Azure region and the Canopy AZ of each of its zones.
type Location struct {
	Name string `yaml:"name"`
	// Zones maps an Azure zone ("1", "2", "3") to a Canopy availability
	// zone. With no zones the region is one AZ named AvailabilityZone
	// (default: the region's name).
	Zones            map[string]string `yaml:"zones"`
	AvailabilityZone string            `yaml:"availability_zone"`
}

// Defaults applied by SetDefaults.
const (
	DefaultResourceGroupPrefix = "canopy-"
	DefaultAdminUsername       = "canopy"
	DefaultCallTimeout         = 30 * time.Second
	DefaultMaxRetries          = 4
	DefaultPollInterval        = 5 * time.Second
	DefaultOperationTimeout    = 30 * time.Minute
	DefaultSKUCacheTTL         = time.Hour
)

// SetDefaults fills the zero fields with their defaults.
func (c *Config) SetDefaults() {
	if c.ResourceGroupPrefix == "" {
		c.ResourceGroupPrefix = DefaultResourceGroupPrefix
	}
	if c.AdminUsername == "" {
		c.AdminUsername = DefaultAdminUsername
	}
	if c.Cloud == "" {
		c.Cloud = "AzurePublic"
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.OperationTimeout <= 0 {
		c.OperationTimeout = DefaultOperationTimeout
	}
	if c.RateLimitPause <= 0 {
		c.RateLimitPause = 2 * time.Second
	}
	if c.SKUCacheTTL <= 0 {
		c.SKUCacheTTL = DefaultSKUCacheTTL
	}
	for i := range c.Locations {
		if len(c.Locations[i].Zones) == 0 && c.Locations[i].AvailabilityZone == "" {
			c.Locations[i].AvailabilityZone = c.Locations[i].Name
		}
	}
}

var (
	guidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	rgNameRE = regexp.MustCompile(`^[-\w._()]{1,40}$`)
)

func isRef(s string) bool { return strings.HasPrefix(s, "env:") || strings.HasPrefix(s, "file:") }

// Validate checks the configuration; each error names the field and the fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("azure.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !guidRE.MatchString(c.TenantID) {
		bad("tenant_id", "%q is not a tenant GUID; copy the Directory (tenant) ID from Entra ID", c.TenantID)
	}
	if !guidRE.MatchString(c.SubscriptionID) {
		bad("subscription_id", "%q is not a subscription GUID; see `az account show --query id`", c.SubscriptionID)
	}
	cr := c.Credential
	kinds := 0
	for _, on := range []bool{cr.ClientSecretFrom != "", cr.CertificateFile != "", cr.ManagedIdentity, cr.WorkloadIdentity} {
		if on {
			kinds++
		}
	}
	switch {
	case kinds != 1:
		bad("credential", "set exactly one of client_secret_from, certificate_file, managed_identity or workload_identity")
	case (cr.ClientSecretFrom != "" || cr.CertificateFile != "") && cr.ClientID == "":
		bad("credential.client_id", "is required with client_secret_from or certificate_file; use the app registration's Application (client) ID")
	}
	if cr.ClientSecretFrom != "" && !isRef(cr.ClientSecretFrom) {
		bad("credential.client_secret_from", "must be a reference (env:NAME or file:/path), never the secret itself")
	}
	if cr.CertificatePasswordFrom != "" && !isRef(cr.CertificatePasswordFrom) {
		bad("credential.certificate_password_from", "must be a reference (env:NAME or file:/path)")
	}
	if len(c.Locations) == 0 {
		bad("locations", "is required; list at least one region, e.g. [{name: westeurope, zones: {\"1\": weu-1}}]")
	}
	seen := map[string]bool{}
	for i, l := range c.Locations {
		if l.Name == "" || strings.ContainsAny(l.Name, " /") {
			bad(fmt.Sprintf("locations[%d].name", i), "%q is not a region name; use e.g. westeurope", l.Name)
		}
		for z, az := range l.Zones {
			if z != "1" && z != "2" && z != "3" {
				bad(fmt.Sprintf("locations[%d].zones", i), "%q is not an Azure zone; zones are \"1\", \"2\" and \"3\"", z)
			}
			if az == "" || seen[az] {
				bad(fmt.Sprintf("locations[%d].zones", i), "zone %s maps to %q; each zone needs its own non-empty Canopy AZ", z, az)
			}
			seen[az] = true
		}
	}
	if c.ResourceGroupPrefix != "" && !rgNameRE.MatchString(c.ResourceGroupPrefix) {
		bad("resource_group_prefix", "%q has characters a resource group name cannot have; use letters, digits, - _ . ( )", c.ResourceGroupPrefix)
	}
	switch c.Cloud {
	case "", "AzurePublic", "AzureChina", "AzureGovernment":
	default:
		bad("cloud", "%q is not a known cloud; use AzurePublic, AzureChina or AzureGovernment, or set endpoint", c.Cloud)
	}
	for field, v := range map[string]string{"endpoint": c.Endpoint, "authority_host": c.AuthorityHost} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || u.Scheme != "https" || u.Host == "" {
			bad(field, "%q is not an https URL (ARM and Entra ID require TLS)", v)
		}
	}
	if (c.Endpoint == "") != (c.AuthorityHost == "") {
		bad("endpoint", "endpoint and authority_host go together for a custom cloud; set both or neither")
	}
	for image, ref := range c.ImageMap {
		if _, err := parseImageRef(ref); err != nil {
			bad("image_map", "image %q: %v", image, err)
		}
	}
	for flavor, size := range c.SizeMap {
		if !strings.HasPrefix(size, "Standard_") && !strings.HasPrefix(size, "Basic_") {
			bad("size_map", "flavor %q maps to %q, which is not a VM size; use e.g. Standard_B2s", flavor, size)
		}
	}
	for vt, sku := range c.VolumeTypeMap {
		if diskSKU(sku) == "" {
			bad("volume_type_map", "volume type %q maps to %q; use Standard_LRS, StandardSSD_LRS, Premium_LRS, PremiumV2_LRS or UltraSSD_LRS", vt, sku)
		}
	}
	return errors.Join(errs...)
}
