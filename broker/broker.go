package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// Options tune the broker. The zero value is usable: Defaults fills it.
type Options struct {
	// PollInterval is how often a building or changing server is polled
	// at its backend when the backend answers before the server settles.
	PollInterval time.Duration
	// BuildTimeout bounds one server build; past it the server goes ERROR.
	BuildTimeout time.Duration
	// SyncInterval is how often each backend's servers are listed to
	// correct records that drifted (0 disables the sync loops).
	SyncInterval time.Duration
	// Quota is the per-project default quota enforced on create.
	Quota Quota
	// Now is the clock (tests pin it).
	Now func() time.Time
	// NewID mints top ids (uuid v4 by default).
	NewID func() string
	// Clouds, when set, is the gateway's live set of clouds (registered
	// and removed while it runs: AddCloud, RemoveCloud); it replaces New's
	// map.
	Clouds *proxies.Set
}

// Quota is a project's compute quota; -1 means unlimited.
type Quota struct {
	Instances          int `json:"instances"`
	Cores              int `json:"cores"`
	RAM                int `json:"ram"`
	KeyPairs           int `json:"key_pairs"`
	MetadataItems      int `json:"metadata_items"`
	ServerGroups       int `json:"server_groups"`
	ServerGroupMembers int `json:"server_group_members"`
	InjectedFiles      int `json:"injected_files"`
	InjectedFileBytes  int `json:"injected_file_content_bytes"`
	InjectedPathBytes  int `json:"injected_file_path_bytes"`
}

// DefaultQuota is Nova's default quota.
var DefaultQuota = Quota{
	Instances: 10, Cores: 20, RAM: 51200, KeyPairs: 100, MetadataItems: 128,
	ServerGroups: 10, ServerGroupMembers: 10, InjectedFiles: 5, InjectedFileBytes: 10240, InjectedPathBytes: 255,
}

// Defaults returns o with every unset field given its default.
func (o Options) Defaults() Options {
	if o.PollInterval <= 0 {
		o.PollInterval = 200 * time.Millisecond
	}
	if o.BuildTimeout <= 0 {
		o.BuildTimeout = 10 * time.Minute
	}
	if o.SyncInterval < 0 {
		o.SyncInterval = 0
	}
	if o.Quota == (Quota{}) {
		o.Quota = DefaultQuota
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC() }
	}
	if o.NewID == nil {
		o.NewID = NewUUID
	}
	return o
}

// Broker turns compute commands into placements, registry intents, backend
// calls and recorded outcomes. It owns every goroutine it starts: Close
// cancels them and waits.
type Broker struct {
	reg    *registry.Registry
	placer Placer
	images Images
	ports  Ports
	// secgroups is the network service's groups (SetSecurityGroups); nil
	// makes the security-group actions answer 501.
	secgroups SecurityGroups
	backends  *proxies.Set
	log       *slog.Logger
	opts      Options

	// volumes is block storage (SetVolumes); nil makes volume attach 501.
	volumes Volumes
	// imageStore holds image bytes for imports into backends
	// (SetImageStore); nil imports nothing.
	imageStore   ImageStore
	imageRecords *registry.Collection[registry.Image]

	servers *registry.Collection[registry.Server]
	flavors *registry.Collection[registry.Flavor]
	groups  *registry.Collection[registry.ServerGroup]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	builds map[string]*buildHandle // running builds by server id
	closed bool
	// runCtx is Run's context (nil before Run); syncs are the running
	// sync loops by cloud, each with the cancel that stops it.
	runCtx context.Context
	syncs  map[string]context.CancelFunc
}

// New returns a broker. It starts nothing: Run starts the sync loops, and
// work goroutines start with the commands that need them.
func New(reg *registry.Registry, placer Placer, images Images, ports Ports, backends map[string]proxies.Backend, log *slog.Logger, opts Options) *Broker {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	set := opts.Clouds
	if set == nil {
		set = proxies.SetFromMap(backends)
	}
	return &Broker{
		reg: reg, placer: placer, images: images, ports: ports, backends: set, log: log, syncs: map[string]context.CancelFunc{},
		opts:    opts.Defaults(),
		servers: registry.NewCollection[registry.Server](reg, registry.KindServer, nil),
		flavors: registry.NewCollection(reg, registry.KindFlavor, func(f *registry.Flavor) string { return f.Name }),
		groups:  registry.NewCollection[registry.ServerGroup](reg, registry.KindServerGroup, nil),
		ctx:     ctx, cancel: cancel,
		builds: map[string]*buildHandle{},

		imageRecords: registry.NewCollection[registry.Image](reg, registry.KindImage, nil),
	}
}

// Run starts one sync loop per backend and returns at once; the loops stop
// when ctx ends or Close is called. Clouds added later (AddCloud) get
// theirs then.
func (b *Broker) Run(ctx context.Context) {
	if b.opts.SyncInterval <= 0 {
		return
	}
	b.mu.Lock()
	b.runCtx = ctx
	b.mu.Unlock()
	for name := range b.backends.All() {
		b.startSync(name)
	}
}

// startSync (re)starts the sync loop of cloud, stopping the one it
// replaces. Before Run, or with syncs off, it does nothing.
func (b *Broker) startSync(cloud string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if stop := b.syncs[cloud]; stop != nil {
		stop()
		delete(b.syncs, cloud)
	}
	be, ok := b.backends.Get(cloud)
	if b.runCtx == nil || b.closed || !ok || b.opts.SyncInterval <= 0 {
		return
	}
	ctx, cancel := mergeCancel(b.runCtx, b.ctx)
	b.syncs[cloud] = cancel
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer cancel()
		b.syncLoop(ctx, cloud, be)
	}()
}

// AddCloud puts be in the broker's set of clouds (replacing the cloud of
// the same name, whose sync loop stops) and starts its sync loop. The app
// calls it when a cloud is registered or reconfigured while the gateway
// runs.
func (b *Broker) AddCloud(be proxies.Backend) {
	b.backends.Put(be)
	b.startSync(be.Name())
}

// RemoveCloud stops the sync loop of cloud, takes it out of the set and
// forgets its pending pushes. The caller has checked nothing lives there.
func (b *Broker) RemoveCloud(ctx context.Context, cloud string) {
	b.mu.Lock()
	if stop := b.syncs[cloud]; stop != nil {
		stop()
		delete(b.syncs, cloud)
	}
	b.mu.Unlock()
	b.backends.Remove(cloud)
	if err := b.forgetCloud(ctx, cloud); err != nil {
		b.log.Warn("cannot forget what was realised in a removed cloud", "cloud", cloud, "err", err)
	}
	if err := b.reg.Client().Del(ctx, pendingKey(cloud)).Err(); err != nil {
		b.log.Warn("cannot drop the pending pushes of a removed cloud", "cloud", cloud, "err", err)
	}
	b.refreshPendingGauge(ctx)
}

// Clouds is the broker's set of clouds.
func (b *Broker) Clouds() *proxies.Set { return b.backends }

// Close cancels every goroutine the broker started and waits for them.
func (b *Broker) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}

// Quota is the default quota the broker enforces.
func (b *Broker) Quota() Quota { return b.opts.Quota }

// Servers is the registry collection of server records, for readers (the
// compute API answers show and list from it).
func (b *Broker) Servers() *registry.Collection[registry.Server] { return b.servers }

// spawn runs fn in a goroutine the broker owns. After Close it does nothing.
func (b *Broker) spawn(fn func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn(b.ctx)
	}()
	return true
}

// backend returns the backend named cloud.
func (b *Broker) backend(cloud, op string) (proxies.Backend, error) {
	be, ok := b.backends.Get(cloud)
	if !ok {
		return nil, proxies.Errorf(proxies.ErrUnavailable, op, "cloud %s is not configured", cloud)
	}
	return be, nil
}

// mergeCancel returns a context cancelled when either a or b is.
func mergeCancel(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() { stop(); cancel() }
}

// NewUUID returns a random (version 4) UUID in its canonical text form.
func NewUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}
