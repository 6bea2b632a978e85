// Package app wires every part of Canopy into one running gateway: the
// registry, identity, the API services, the broker, the scheduler and the
// clouds. It is the one visible place where backends are wired (STYLE.md,
// habit 3: no init() magic), shared by `canopy dev`, `canopy gateway`, the
// end-to-end tests and the benchmarks.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/admin"
	"github.com/canopy-cloud/canopy/gateway/blockstorage"
	"github.com/canopy-cloud/canopy/gateway/compute"
	"github.com/canopy-cloud/canopy/gateway/identity"
	"github.com/canopy-cloud/canopy/gateway/image"
	"github.com/canopy-cloud/canopy/gateway/network"
	"github.com/canopy-cloud/canopy/imagestore"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/localcloud/baremetal"
	"github.com/canopy-cloud/canopy/localcloud/libvirt"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/metered"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options are what the app needs beyond the registry.
type Options struct {
	PublicURL     string
	Region        string
	DataDir       string
	KeyRepository string
	TokenTTL      time.Duration
	// Local is the built-in pool's configuration (simulated hosts today).
	Local     localcloud.Config
	LocalName string // cloud name of the pool (default "local")
	// Backends are the other clouds (OpenStack, vSphere, AWS, Azure
	// proxies), built by the caller from canopy.yaml; each is wrapped in the
	// metered path here. Names must be unique and differ from LocalName.
	Backends []proxies.Backend
	// CloudTypes names each backend's type (openstack, vsphere, aws, azure)
	// for the admin API.
	CloudTypes map[string]string
	// Secret resolves secret references (env:NAME, file:/path) for the
	// local pool's bare-metal BMC passwords; cmd passes config.Secret.
	Secret func(ref string) (string, error)
	// InventoryInterval is how often every cloud's inventory is refreshed
	// (default 30s).
	InventoryInterval time.Duration
	// ComputeQuota is every project's default compute quota (zero value:
	// Nova's defaults; -1 fields are unlimited).
	ComputeQuota broker.Quota
	// BuildCloud builds a cloud registered through the admin API while the
	// gateway runs (app/backends.BuildOne); nil makes registration answer
	// 501. Clouds registered earlier are built with it at New.
	BuildCloud CloudBuilder
}

// App is a wired Canopy gateway.
type App struct {
	Registry  *registry.Registry
	Identity  *identity.Service
	Compute   *compute.Service
	Image     *image.Service
	Network   *network.Service
	Volumes   *blockstorage.Service
	Admin     *admin.Service
	Broker    *broker.Broker
	Scheduler *scheduler.Scheduler
	Pool      *localcloud.Pool
	Gateway   *gateway.Gateway
	Metrics   *prometheus.Registry

	log    *slog.Logger
	opts   Options
	clouds *proxies.Set // every cloud, behind the metered path
	ct     cloudTable
	runCtx context.Context // Start's, for watches started later
	health cloudHealth
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds an App over reg. It starts nothing; call Start.
func New(ctx context.Context, reg *registry.Registry, opts Options, log *slog.Logger) (*App, error) {
	if opts.LocalName == "" {
		opts.LocalName = "local"
	}
	if opts.InventoryInterval <= 0 {
		opts.InventoryInterval = 30 * time.Second
	}
	if opts.KeyRepository == "" {
		opts.KeyRepository = filepath.Join(opts.DataDir, "fernet-keys")
	}
	a := &App{Registry: reg, log: log, opts: opts}

	id, err := identity.New(ctx, reg, identity.Options{
		PublicURL: opts.PublicURL, Region: opts.Region, Services: append(slices.Clone(gateway.DefaultServices), admin.CatalogEntry),
		KeyRepository: opts.KeyRepository, TokenTTL: opts.TokenTTL,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	a.Identity = id

	store, err := imagestore.NewFS(filepath.Join(opts.DataDir, "images"))
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	a.Image = image.New(reg, store, image.Options{})
	a.Network = network.New(reg, network.Options{AvailabilityZone: opts.Local.AvailabilityZone})

	pool, err := localcloud.New(opts.LocalName, opts.Local, log)
	if err != nil {
		return nil, fmt.Errorf("local pool: %w", err)
	}
	a.Pool = pool
	// Real hosts beside the simulated ones: KVM through libvirt, bare metal
	// through IPMI. A configured host that does not answer fails the start.
	if _, err := libvirt.AddToPool(ctx, pool, opts.Local, libvirt.Options{Images: store, Log: log,
		Subnets: func(ctx context.Context, networkID string) ([]proxies.SubnetSpec, error) {
			spec, err := a.Network.NetworkSpec(ctx, networkID)
			return spec.Subnets, err
		}}); err != nil {
		pool.Close()
		return nil, fmt.Errorf("local pool: %w", err)
	}
	if len(opts.Local.BareMetalHosts) > 0 {
		if opts.Secret == nil {
			pool.Close()
			return nil, errors.New("local pool: bare-metal hosts need Options.Secret to resolve BMC passwords")
		}
		if _, err := baremetal.AddToPool(pool, opts.Local, baremetal.Options{Secret: opts.Secret, Log: log}); err != nil {
			pool.Close()
			return nil, fmt.Errorf("local pool: %w", err)
		}
	}
	a.Scheduler = scheduler.New(reg, scheduler.Options{})
	a.ct = cloudTable{types: map[string]string{}, fixed: map[string]bool{opts.LocalName: true},
		registered: map[string]registeredCloud{}, broken: map[string]string{}, watches: map[string]context.CancelFunc{}}
	wrapped := []proxies.Backend{metered.Wrap(pool)}
	for _, b := range opts.Backends {
		wrapped = append(wrapped, metered.Wrap(b))
		a.ct.fixed[b.Name()] = true
		a.ct.types[b.Name()] = opts.CloudTypes[b.Name()]
	}
	clouds, err := proxies.NewSet(wrapped...)
	if err != nil {
		pool.Close()
		return nil, err
	}
	a.clouds = clouds
	a.Broker = broker.New(reg, a.Scheduler, a.Image, a.Network, nil, log, broker.Options{SyncInterval: 10 * time.Second, Quota: opts.ComputeQuota, Clouds: clouds})
	a.Broker.SetSecurityGroups(a.Network)
	a.Network.SetRealiser(a.Broker)
	a.Broker.SetImageStore(store)
	a.Compute = compute.New(reg, a.Broker, compute.Options{Zones: a.zones})
	a.Volumes = blockstorage.New(reg, a.Image, nil, blockstorage.Options{Zones: volumeZones(ctx, opts, log), Clouds: clouds})
	a.Broker.SetVolumes(a.Volumes)
	// Clouds registered through the admin API, by this gateway or another.
	a.reconcileRegistered(ctx)

	a.Gateway = gateway.New(log, a.Identity)
	a.Admin = admin.New(reg, a.Scheduler, a)
	a.Admin.SetPushes(a.Broker)
	a.Gateway.Mount(a.Identity, a.Compute, a.Image, a.Network, a.Volumes, a.Admin,
		gateway.ServiceFunc(func(rt *gateway.Router) { a.Compute.RegisterImageProxy(rt, a.Image) }))

	a.Metrics = prometheus.NewRegistry()
	a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Metrics.MustRegister(gateway.Collectors()...)
	a.Metrics.MustRegister(registry.RequestDuration, metered.CallDuration, broker.RealisePending)
	a.Gateway.HandleRaw("GET /metrics", promhttp.HandlerFor(a.Metrics, promhttp.HandlerOpts{}))
	a.Gateway.HandleRaw("GET /healthz", http.HandlerFunc(a.healthz))
	return a, nil
}

// Start registers the pool's hosts with the scheduler and starts the
// background loops (revocation feed, broker workers and sync loops). Close
// stops them.
func (a *App) Start(ctx context.Context) error {
	a.refreshInventory(ctx)
	if h := a.health.get(a.opts.LocalName); h.Status != "up" {
		return fmt.Errorf("cloud %s: inventory: %s", a.opts.LocalName, h.Error)
	}
	ctx, a.cancel = context.WithCancel(ctx)
	a.goRun(ctx, "inventory", a.inventoryLoop)
	a.goRun(ctx, "identity", a.Identity.Run)
	a.goRun(ctx, "image", a.Image.Run)
	a.startWatches(ctx) // clouds that push changes (vSphere), fed into the broker
	a.goRun(ctx, "broker", func(ctx context.Context) error { a.Broker.Run(ctx); return nil })
	return nil
}

func (a *App) goRun(ctx context.Context, name string, run func(context.Context) error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("background loop stopped", "loop", name, "err", err)
		}
	}()
}

// Handler is the gateway's HTTP handler.
func (a *App) Handler() http.Handler { return a.Gateway.Handler() }

// Serve serves HTTP on l until ctx ends, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

// Close stops the background loops and the pool, and waits for them.
func (a *App) Close() {
	if a.cancel != nil {
		a.cancel()
	}
	a.Broker.Close()
	a.Image.Close()
	a.wg.Wait()
	_ = a.Pool.Close()
	for _, b := range a.opts.Backends {
		switch c := b.(type) {
		case interface{ Close() error }:
			if err := c.Close(); err != nil {
				a.log.Warn("closing cloud", "cloud", b.Name(), "err", err)
			}
		case interface{ Close() }:
			c.Close()
		}
	}
	a.ct.mu.Lock()
	for _, r := range a.ct.registered {
		closeBackend(r.raw)
	}
	a.ct.registered = map[string]registeredCloud{}
	a.ct.mu.Unlock()
}

func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.Registry.Client().Ping(ctx).Err(); err != nil {
		http.Error(w, "registry unreachable", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// zones lists the availability zones of the scheduler's hosts for Nova's
// os-availability-zone: a zone is available when one of its hosts is up and
// enabled.
func (a *App) zones(ctx context.Context) ([]compute.Zone, error) {
	snap, err := a.Scheduler.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*compute.Zone{}
	var order []string
	for _, h := range snap.Hosts {
		z := byName[h.AvailabilityZone]
		if z == nil {
			z = &compute.Zone{Name: h.AvailabilityZone}
			byName[h.AvailabilityZone] = z
			order = append(order, h.AvailabilityZone)
		}
		z.Hosts = append(z.Hosts, h.Host)
		if h.Up && h.Enabled {
			z.Available = true
		}
	}
	sort.Strings(order)
	out := make([]compute.Zone, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	return out, nil
}
