// Package azure is Canopy's Azure proxy: one Azure subscription (one or
// more locations) behind the proxies contract, over the Azure SDK for Go
// (armcompute/v8, armnetwork/v9, armresources, azidentity).
//
// The mapping:
//
//   - A Canopy project is a resource group, prefix + project id, created on
//     first use in the first location and tagged canopy-project.
//   - A server is a VM named canopy-<top id> (so a retried create is a
//     create-or-update of the same VM), tagged canopy-id, canopy-project and
//     canopy-cloud. Its size is size_map[flavor] or the smallest available
//     size that fits (Resource SKUs list, cached); its image is
//     image_map[image] (marketplace URN, gallery image version or managed
//     image) or an image Canopy captured. Each Canopy port is a NIC named
//     canopy-port-<port id> with the registry's address as a static private
//     IP; a server with no ports gets a NIC on the project's default
//     network. The SSH key and user data go to osProfile; boot diagnostics
//     (managed storage) serve the console log. Stop is deallocate (no
//     compute billing), start, soft reboot is restart, hard reboot is
//     power-off without shutdown then start, resize is a size update, a
//     snapshot is an OS-disk snapshot turned into a managed image, delete
//     removes the VM with its NICs and OS disk.
//   - A volume is a managed disk canopy-vol-<top id> (SKU from
//     volume_type_map), attached at the lowest free LUN; a snapshot is an
//     incremental snapshot canopy-snap-<top id>.
//   - A network is a virtual network canopy-net-<top id> with one subnet
//     per IPv4 Canopy subnet; an external network has no Azure resource
//     (public IPs are Azure's). A security group is a network security
//     group whose rules are rewritten to exactly the Canopy rules, with
//     priorities allocated in rule-id order and a final deny-all in each
//     direction (Neutron's default deny). A rule with a remote group names
//     that group's application security group (canopy-asg-<id>, one per
//     Canopy group; every NIC joins the groups of its security groups), so
//     it admits exactly the members' NICs. A floating IP is a Standard
//     static public IP whose address Azure assigns (PublicAddress).
//   - A router is a route table canopy-rt-<top id> associated with the
//     subnets of its interfaces; its extra routes go to a VirtualAppliance
//     next hop and its external gateway is an explicit 0.0.0.0/0 →
//     Internet route (routers.go).
//   - An imported image is a managed image canopy-img-<top id> in the
//     resource group <prefix>images, made from a managed disk the raw bytes
//     were uploaded to as a fixed VHD page blob (images.go; qcow2, vmdk,
//     vhd, vhdx and vdi are converted with qemu-img first).
//
// Declared unsupported, and why: live migration, NIC hot-plug (Azure needs
// the VM deallocated) and rebuild. An ICMP rule with a type or code, or a
// protocol NSGs cannot filter, answers ErrNotSupported. Azure takes one
// NSG per NIC: a port with several groups gets a "set" NSG with the union
// of their rules (sgsets.go). Imported images are Linux (the contract's
// ImageSpec carries no os_type).
//
// Every long-running operation (Begin*) is stepped with Poll and its resume
// token kept in a TokenStore until it ends, so a gateway that restarts
// resumes the wait instead of starting the operation again.
package azure

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/proxies"
)

// Tags every Canopy resource carries.
const (
	tagID      = "canopy-id"
	tagProject = "canopy-project"
	tagCloud   = "canopy-cloud"
	tagVolume  = "canopy-volume"
)

// Backend is one Azure subscription as a Canopy cloud.
type Backend struct {
	name   string
	cfg    Config
	log    *slog.Logger
	tokens TokenStore

	rgs      *armresources.ResourceGroupsClient
	vms      *armcompute.VirtualMachinesClient
	disks    *armcompute.DisksClient
	snaps    *armcompute.SnapshotsClient
	images   *armcompute.ImagesClient
	skus     *armcompute.ResourceSKUsClient
	usage    *armcompute.UsageClient
	vnets    *armnetwork.VirtualNetworksClient
	nics     *armnetwork.InterfacesClient
	nsgs     *armnetwork.SecurityGroupsClient
	pips     *armnetwork.PublicIPAddressesClient
	rts      *armnetwork.RouteTablesClient
	asgs     *armnetwork.ApplicationSecurityGroupsClient
	http     *http.Client
	rgMu     sync.Mutex
	rgDone   map[string]bool
	skuMu    sync.Mutex
	skuList  []vmSize
	skuUntil time.Time
}

var (
	_ proxies.Backend             = (*Backend)(nil)
	_ proxies.VolumeBackend       = (*Backend)(nil)
	_ proxies.Resizer             = (*Backend)(nil)
	_ proxies.SecurityGroupDriver = (*Backend)(nil)
	_ proxies.FloatingIPDriver    = (*Backend)(nil)
)

// Option changes how New builds a Backend.
type Option func(*Backend)

// WithTokenStore keeps long-running operations' resume tokens (and the top
// id → resource group index) in s instead of in memory, so that a new
// Backend over the same store resumes them.
func WithTokenStore(s TokenStore) Option { return func(b *Backend) { b.tokens = s } }

// New builds the backend. It resolves the credential and builds the SDK
// clients; it makes no call to Azure.
func New(ctx context.Context, name string, cfg Config, log *slog.Logger, opts ...Option) (*Backend, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{name: name, cfg: cfg, log: log.With("cloud", name), tokens: NewMemoryTokenStore(), rgDone: map[string]bool{}}
	for _, o := range opts {
		o(b)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("azure.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("azure.ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	tr.ResponseHeaderTimeout = cfg.CallTimeout
	b.http = &http.Client{Transport: tr}
	cc := cloudConfig(cfg)
	cred, err := credential(cfg, cc, b.http)
	if err != nil {
		return nil, err
	}
	copts := &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Cloud:     cc,
		Transport: b.http,
		Retry: policy.RetryOptions{MaxRetries: int32(cfg.MaxRetries), TryTimeout: cfg.CallTimeout,
			RetryDelay: cfg.retryDelay, MaxRetryDelay: 30 * time.Second},
		Telemetry:        policy.TelemetryOptions{ApplicationID: "canopy"},
		PerRetryPolicies: []policy.Policy{newRateGuard(cfg.RateLimitPause)},
	}}
	sub := cfg.SubscriptionID
	rf, err := armresources.NewClientFactory(sub, cred, copts)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	cf, err := armcompute.NewClientFactory(sub, cred, copts)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	nf, err := armnetwork.NewClientFactory(sub, cred, copts)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	b.rgs = rf.NewResourceGroupsClient()
	b.vms, b.disks, b.snaps, b.images = cf.NewVirtualMachinesClient(), cf.NewDisksClient(), cf.NewSnapshotsClient(), cf.NewImagesClient()
	b.skus, b.usage = cf.NewResourceSKUsClient(), cf.NewUsageClient()
	b.vnets, b.nics, b.nsgs, b.pips = nf.NewVirtualNetworksClient(), nf.NewInterfacesClient(), nf.NewSecurityGroupsClient(), nf.NewPublicIPAddressesClient()
	b.rts, b.asgs = nf.NewRouteTablesClient(), nf.NewApplicationSecurityGroupsClient()
	return b, nil
}

func cloudConfig(cfg Config) cloud.Configuration {
	if cfg.Endpoint != "" {
		return cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.AuthorityHost, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: cfg.Endpoint, Audience: cfg.Endpoint}}}
	}
	switch cfg.Cloud {
	case "AzureChina":
		return cloud.AzureChina
	case "AzureGovernment":
		return cloud.AzureGovernment
	}
	return cloud.AzurePublic
}

// credential builds the azidentity credential the config names.
func credential(cfg Config, cc cloud.Configuration, hc *http.Client) (azcore.TokenCredential, error) {
	co := azcore.ClientOptions{Cloud: cc, Transport: hc}
	custom := cfg.Endpoint != ""
	cr := cfg.Credential
	switch {
	case cr.ClientSecretFrom != "":
		secret, err := config.Secret(cr.ClientSecretFrom)
		if err != nil {
			return nil, fmt.Errorf("azure.credential.client_secret_from: %w", err)
		}
		c, err := azidentity.NewClientSecretCredential(cfg.TenantID, cr.ClientID, secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: custom})
		if err != nil {
			return nil, errors.New("azure.credential: the client secret credential could not be built; check tenant_id and client_id")
		}
		return c, nil
	case cr.CertificateFile != "":
		data, err := os.ReadFile(cr.CertificateFile)
		if err != nil {
			return nil, fmt.Errorf("azure.credential.certificate_file: %w", err)
		}
		var pw []byte
		if cr.CertificatePasswordFrom != "" {
			p, err := config.Secret(cr.CertificatePasswordFrom)
			if err != nil {
				return nil, fmt.Errorf("azure.credential.certificate_password_from: %w", err)
			}
			pw = []byte(p)
		}
		certs, key, err := azidentity.ParseCertificates(data, pw)
		if err != nil {
			return nil, errors.New("azure.credential.certificate_file: not a PEM or PKCS#12 certificate with its key (or wrong password)")
		}
		c, err := azidentity.NewClientCertificateCredential(cfg.TenantID, cr.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: custom})
		if err != nil {
			return nil, errors.New("azure.credential: the certificate credential could not be built")
		}
		return c, nil
	case cr.ManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
		if cr.ClientID != "" {
			o.ID = azidentity.ClientID(cr.ClientID)
		}
		return azidentity.NewManagedIdentityCredential(o)
	default:
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: co, TenantID: cfg.TenantID, ClientID: cr.ClientID, DisableInstanceDiscovery: custom})
	}
}

// Name is the cloud's name in canopy.yaml.
func (b *Backend) Name() string { return b.name }

// Capabilities declares what the Azure proxy does (see the package doc).
func (b *Backend) Capabilities() proxies.Capabilities {
	return proxies.Capabilities{Servers: true, StartStop: true, Reboot: true, HardReboot: true, Snapshot: true,
		ConsoleOutput: true, Resize: true, UserData: true, Keypairs: true, Images: true, Networks: true,
		SecurityGroups: true, Routers: true, FloatingIPs: true, Volumes: true}
}

// Servers returns the server driver.
func (b *Backend) Servers() proxies.ServerDriver { return (*servers)(b) }

// Images returns the image driver: imports as managed images (images.go).
func (b *Backend) Images() proxies.ImageDriver { return (*images)(b) }

// Networks returns the network driver.
func (b *Backend) Networks() proxies.NetworkDriver { return (*networks)(b) }

// Inventory returns the capacity reporter.
func (b *Backend) Inventory() proxies.InventoryDriver { return (*inventory)(b) }

// Volumes returns the managed-disk driver.
func (b *Backend) Volumes() proxies.VolumeDriver { return (*volumes)(b) }

// callCtx bounds a whole backend operation.
func (b *Backend) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.cfg.OperationTimeout)
}

// resourceGroup is the project's resource group name.
func (b *Backend) resourceGroup(project string) string {
	if project == "" {
		project = "default"
	}
	return b.cfg.ResourceGroupPrefix + project
}

// ensureRG creates the project's resource group once (tagged).
func (b *Backend) ensureRG(ctx context.Context, op, project string) (string, error) {
	rg := b.resourceGroup(project)
	b.rgMu.Lock()
	done := b.rgDone[rg]
	b.rgMu.Unlock()
	if done {
		return rg, nil
	}
	_, err := b.rgs.CreateOrUpdate(ctx, rg, armresources.ResourceGroup{Location: to.Ptr(b.cfg.Locations[0].Name),
		Tags: map[string]*string{tagProject: to.Ptr(project), tagCloud: to.Ptr(b.name)}}, nil)
	if err != nil {
		return "", mapErr(op, "could not create the project's resource group", err)
	}
	b.rgMu.Lock()
	b.rgDone[rg] = true
	b.rgMu.Unlock()
	return rg, nil
}

// remember records which resource group holds top id's resources.
func (b *Backend) remember(ctx context.Context, kind, id, rg string) {
	if err := b.tokens.Put(ctx, "rg/"+kind+"/"+id, rg); err != nil {
		b.log.Warn("azure: could not record a resource group", "id", id, "err", err)
	}
}

// lookupRG finds where top id's resource lives ("" when unknown).
func (b *Backend) lookupRG(ctx context.Context, kind, id string) string {
	rg, _, _ := b.tokens.Get(ctx, "rg/"+kind+"/"+id)
	return rg
}

func (b *Backend) forget(ctx context.Context, kind, id string) {
	_ = b.tokens.Delete(ctx, "rg/"+kind+"/"+id)
}

func (b *Backend) tags(id, project string) map[string]*string {
	return map[string]*string{tagID: to.Ptr(id), tagProject: to.Ptr(project), tagCloud: to.Ptr(b.name)}
}

// run starts (or resumes, from the stored token) a long-running operation
// and steps it with Poll until it ends. The token stays stored while the
// operation runs, so that a Backend built after a restart resumes it; it
// is removed when the operation ends.
func run[T any](ctx context.Context, b *Backend, key string, begin func(ctx context.Context, resumeToken string) (*runtime.Poller[T], error)) (T, error) {
	var zero T
	tok, ok, err := b.tokens.Get(ctx, "lro/"+key)
	if err != nil {
		return zero, err
	}
	var p *runtime.Poller[T]
	if ok {
		p, err = begin(ctx, tok)
		if err == nil && !p.Done() {
			if _, perr := p.Poll(ctx); perr != nil {
				if ctx.Err() != nil {
					return zero, perr
				}
				// The operation is gone from Azure's side: start afresh.
				b.log.Info("azure: a stored operation could not be resumed; starting it again", "op", key)
				p, err = nil, nil
			}
		}
		if err != nil || p == nil {
			_ = b.tokens.Delete(ctx, "lro/"+key)
			p, err = begin(ctx, "")
		}
	} else {
		p, err = begin(ctx, "")
	}
	if err != nil {
		return zero, err
	}
	if !p.Done() {
		if t, err := p.ResumeToken(); err == nil {
			if err := b.tokens.Put(ctx, "lro/"+key, t); err != nil {
				b.log.Warn("azure: could not store a resume token", "op", key, "err", err)
			}
		}
	}
	for !p.Done() {
		select {
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-time.After(b.cfg.PollInterval):
		}
		if _, err := p.Poll(ctx); err != nil {
			if ctx.Err() == nil {
				_ = b.tokens.Delete(context.WithoutCancel(ctx), "lro/"+key)
			}
			return zero, err
		}
	}
	_ = b.tokens.Delete(context.WithoutCancel(ctx), "lro/"+key)
	return p.Result(ctx)
}

// pendingOps lists the long-running operations stored for a top id.
func (b *Backend) pendingOps(ctx context.Context, id string) []string {
	keys, err := b.tokens.List(ctx, "lro/"+id+"/")
	if err != nil {
		return nil
	}
	return keys
}

// mapErr turns an Azure or transport error into a typed proxies error with
// a safe message; the raw error is kept as Cause.
func mapErr(op, msg string, err error) error {
	if err == nil {
		return nil
	}
	var pe *proxies.Error
	if errors.As(err, &pe) {
		return err
	}
	kind := proxies.ErrUnavailable
	var re *azcore.ResponseError
	var ne net.Error
	switch {
	case errors.As(err, &re):
		kind = kindOf(re)
		switch kind {
		case proxies.ErrUnavailable:
			msg += ": Azure is unavailable or throttling (" + re.ErrorCode + ")"
		default:
			msg += " (" + re.ErrorCode + ")"
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.As(err, &ne):
		msg += ": Azure did not answer in time"
	default:
		msg += ": Azure could not be reached"
	}
	return &proxies.Error{Kind: kind, Op: op, Message: msg, Cause: err}
}

func kindOf(re *azcore.ResponseError) error {
	code := re.ErrorCode
	switch {
	case code == "QuotaExceeded", strings.Contains(strings.ToLower(re.Error()), "quota"):
		return proxies.ErrQuota
	case code == "SkuNotAvailable", code == "AllocationFailed", code == "ZonalAllocationFailed",
		code == "OverconstrainedAllocationRequest", code == "OverconstrainedZonalAllocationRequest":
		return proxies.ErrCapacity
	case strings.Contains(code, "NotFound"):
		return proxies.ErrNotFound
	case strings.Contains(code, "InUse"), code == "PublicIPAddressCannotBeDeleted", code == "OperationNotAllowed",
		code == "Conflict", code == "OperationPreempted":
		return proxies.ErrConflict
	}
	switch s := re.StatusCode; {
	case s == http.StatusNotFound:
		return proxies.ErrNotFound
	case s == http.StatusConflict:
		return proxies.ErrConflict
	case s == http.StatusBadRequest:
		return proxies.ErrInvalid
	}
	return proxies.ErrUnavailable
}

// isNotFound reports whether err is Azure's 404.
func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// imageRef is a parsed image_map value.
func parseImageRef(ref string) (*armcompute.ImageReference, error) {
	if strings.HasPrefix(strings.ToLower(ref), "/subscriptions/") {
		l := strings.ToLower(ref)
		if strings.Contains(l, "/providers/microsoft.compute/galleries/") && strings.Contains(l, "/versions/") ||
			strings.Contains(l, "/providers/microsoft.compute/images/") {
			return &armcompute.ImageReference{ID: to.Ptr(ref)}, nil
		}
		return nil, fmt.Errorf("%q is neither a gallery image version id nor a managed image id", ref)
	}
	parts := strings.Split(ref, ":")
	if len(parts) != 4 || slicesContainEmpty(parts) {
		return nil, fmt.Errorf("%q is not publisher:offer:sku:version, a gallery image version id or a managed image id", ref)
	}
	return &armcompute.ImageReference{Publisher: &parts[0], Offer: &parts[1], SKU: &parts[2], Version: &parts[3]}, nil
}

func slicesContainEmpty(p []string) bool {
	for _, s := range p {
		if s == "" {
			return true
		}
	}
	return false
}

// diskSKU validates a disk SKU name ("" when unknown).
func diskSKU(s string) armcompute.DiskStorageAccountTypes {
	for _, t := range armcompute.PossibleDiskStorageAccountTypesValues() {
		if strings.EqualFold(string(t), s) {
			return t
		}
	}
	return ""
}

// randomPassword is an admin password for VMs created without a key; it is
// never stored or logged (password login is disabled over SSH by cloud-init
// images only when a key is set, so Azure requires one or the other).
func randomPassword() string {
	var buf [18]byte
	_, _ = rand.Read(buf[:])
	return "Cn0!" + hex.EncodeToString(buf[:])
}
