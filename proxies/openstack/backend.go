package openstack

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

// Backend is one bottom OpenStack cloud behind Canopy.
type Backend struct {
	name   string
	cfg    Config
	log    *slog.Logger
	http   http.Client
	secret string // the password or application credential secret, resolved once

	def      *scope // the credential's own project
	userID   string
	domainID string // the credential's project domain, where canopy-* projects are made
	mapper   ProjectMapper
	maxMicro microversion // the bottom compute's maximum

	mu      sync.Mutex
	scopes  map[string]*scope    // bottom project id → clients scoped to it
	servers map[string]serverRef // top server id → where it lives
	flavors map[string]string    // top flavor id → bottom flavor id (chosen by fit)
	images  map[string]string    // top image id → bottom image id
	nets    map[string]string    // top network id → bottom network id
	sgs     map[string]string    // top security group id → bottom id
	routers map[string]string    // top router id → bottom id
	fips    map[string]string    // top floating IP id → bottom id
	vols    map[string]volumeRef // top volume id → bottom
	snaps   map[string]volumeRef // top snapshot id → bottom
	pinned  map[string]*idLock   // per top id, so concurrent creates of one id make one resource
}

// scope is the service clients of one bottom project.
type scope struct {
	projectID string
	compute   *gophercloud.ServiceClient
	network   *gophercloud.ServiceClient
	image     *gophercloud.ServiceClient
	volume    *gophercloud.ServiceClient // nil when the bottom has no Cinder
	identity  *gophercloud.ServiceClient
}

var (
	_ proxies.Backend             = (*Backend)(nil)
	_ proxies.VolumeBackend       = (*Backend)(nil)
	_ proxies.NICAttacher         = (*Backend)(nil)
	_ proxies.Rebuilder           = (*Backend)(nil)
	_ proxies.Resizer             = (*Backend)(nil)
	_ proxies.SecurityGroupDriver = (*Backend)(nil)
	_ proxies.RouterDriver        = (*Backend)(nil)
	_ proxies.FloatingIPDriver    = (*Backend)(nil)
)

// New authenticates to the bottom cloud, discovers its compute microversion
// and returns the backend. It fails when the configuration is invalid or
// the bottom cannot be reached within cfg.Timeout.
func New(ctx context.Context, name string, cfg Config, log *slog.Logger) (*Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("openstack: the cloud needs a name")
	}
	ref := cfg.Auth.PasswordFrom
	if cfg.Auth.ApplicationCredentialID != "" {
		ref = cfg.Auth.ApplicationCredentialSecretFrom
	}
	secret, err := config.Secret(ref)
	if err != nil {
		return nil, fmt.Errorf("openstack.auth: %w", err)
	}
	hc, err := newHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		name: name, cfg: cfg, log: log.With("cloud", name), http: hc, secret: secret,
		scopes: map[string]*scope{}, servers: map[string]serverRef{}, flavors: map[string]string{},
		images: map[string]string{}, nets: map[string]string{}, sgs: map[string]string{},
		routers: map[string]string{}, fips: map[string]string{}, vols: map[string]volumeRef{},
		snaps: map[string]volumeRef{}, pinned: map[string]*idLock{},
	}
	b.mapper = NewMemoryProjectMapper(cfg.ProjectMap)
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	def, res, err := b.authenticate(ctx, &gophercloud.AuthScope{
		ProjectID: cfg.Auth.ProjectID, ProjectName: cfg.Auth.ProjectName, DomainName: cfg.Auth.ProjectDomainName,
	})
	if err != nil {
		return nil, wrap("New", err)
	}
	b.def = def
	if u, err := res.ExtractUser(); err == nil {
		b.userID = u.ID
	}
	if p, err := res.ExtractProject(); err == nil && p != nil {
		b.domainID = p.Domain.ID
	}
	b.scopes[def.projectID] = def
	if b.maxMicro, err = discoverMicroversion(ctx, def.compute); err != nil {
		return nil, wrap("New", err)
	}
	b.log.Info("bottom OpenStack ready", "project", def.projectID, "compute_max_microversion", b.maxMicro.String())
	return b, nil
}

// authenticate gets a token scoped as asked and builds the service clients.
func (b *Backend) authenticate(ctx context.Context, sc *gophercloud.AuthScope) (*scope, tokens.CreateResult, error) {
	var res tokens.CreateResult
	pc, err := openstack.NewClient(b.cfg.AuthURL)
	if err != nil {
		return nil, res, err
	}
	pc.HTTPClient = b.http
	opts := gophercloud.AuthOptions{IdentityEndpoint: b.cfg.AuthURL, AllowReauth: true}
	if b.cfg.Auth.ApplicationCredentialID != "" {
		opts.ApplicationCredentialID, opts.ApplicationCredentialSecret = b.cfg.Auth.ApplicationCredentialID, b.secret
	} else {
		opts.Username, opts.Password, opts.DomainName = b.cfg.Auth.Username, b.secret, b.cfg.Auth.UserDomainName
		if sc.ProjectID != "" {
			sc.ProjectName, sc.DomainName = "", ""
		}
		opts.Scope = sc
	}
	if err := openstack.Authenticate(ctx, pc, opts); err != nil {
		return nil, res, err
	}
	ar, ok := pc.GetAuthResult().(tokens.CreateResult)
	if !ok {
		return nil, res, fmt.Errorf("unexpected auth result %T", pc.GetAuthResult())
	}
	res = ar
	p, err := res.ExtractProject()
	if err != nil || p == nil {
		return nil, res, fmt.Errorf("the token is not scoped to a project")
	}
	eo := gophercloud.EndpointOpts{Region: b.cfg.RegionName, Availability: gophercloud.Availability(b.cfg.Interface)}
	s := &scope{projectID: p.ID}
	if s.compute, err = openstack.NewComputeV2(pc, eo); err != nil {
		return nil, res, err
	}
	if s.network, err = openstack.NewNetworkV2(pc, eo); err != nil {
		return nil, res, err
	}
	if s.image, err = openstack.NewImageV2(pc, eo); err != nil {
		return nil, res, err
	}
	if s.identity, err = openstack.NewIdentityV3(pc, eo); err != nil {
		return nil, res, err
	}
	if v, err := openstack.NewBlockStorageV3(pc, eo); err == nil {
		s.volume = v
	}
	return s, res, nil
}

// Name is the cloud's name in canopy.yaml.
func (b *Backend) Name() string { return b.name }

// Capabilities declares what a bottom OpenStack does. Live migration stays
// false (a bottom's hosts are its own business); hosts are not visible (one
// pseudo-host per bottom availability zone).
func (b *Backend) Capabilities() proxies.Capabilities {
	return proxies.Capabilities{
		Servers: true, StartStop: true, Reboot: true, HardReboot: true, Snapshot: true,
		ConsoleOutput: true, Resize: true, UserData: true, Keypairs: true, Images: true,
		Networks: true, SecurityGroups: true, Routers: true, FloatingIPs: true,
		Volumes: b.def.volume != nil,
	}
}

// Servers returns the server driver.
func (b *Backend) Servers() proxies.ServerDriver { return b }

// Images returns the image driver.
func (b *Backend) Images() proxies.ImageDriver { return imageDriver{b} }

// Networks returns the network driver.
func (b *Backend) Networks() proxies.NetworkDriver { return networkDriver{b} }

// Inventory returns the inventory driver.
func (b *Backend) Inventory() proxies.InventoryDriver { return inventoryDriver{b} }

// Volumes returns the Cinder-backed volume driver (nil without Cinder).
func (b *Backend) Volumes() proxies.VolumeDriver {
	if b.def.volume == nil {
		return nil
	}
	return volumeDriver{b}
}

// SetProjectMapper replaces the in-memory project mapping (the registry will
// hold it). Call it before the backend serves.
func (b *Backend) SetProjectMapper(m ProjectMapper) { b.mapper = m }

// call bounds one call into the bottom with the configured deadline.
func (b *Backend) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.cfg.Timeout)
}

// lockID serialises work on one top id (two concurrent creates of the same
// id must make one bottom resource). It returns the unlock.
func (b *Backend) lockID(id string) func() {
	b.mu.Lock()
	l := b.pinned[id]
	if l == nil {
		l = &idLock{}
		b.pinned[id] = l
	}
	l.waiters++
	b.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		b.mu.Lock()
		if l.waiters--; l.waiters == 0 {
			delete(b.pinned, id)
		}
		b.mu.Unlock()
	}
}

// idLock is the lock of one top id, dropped when nobody holds or waits.
type idLock struct {
	mu      sync.Mutex
	waiters int
}

// allScopes is every bottom project this backend has used.
func (b *Backend) allScopes() []*scope {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []*scope{b.def}
	for id, s := range b.scopes {
		if id != b.def.projectID {
			out = append(out, s)
		}
	}
	return out
}
