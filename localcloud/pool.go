// Package localcloud is Canopy's built-in pool of hosts. It implements the
// same proxies.Backend contract as the public-cloud proxies, so the broker
// treats it as one more cloud; unlike them it reports each of its hosts, and
// the scheduler chooses the host (ServerSpec.Host).
//
// The Pool routes every server to a HostDriver, one small interface per kind
// of host: SimulatedHost (like Nova's fake virt driver: for demos, scale
// tests and benchmarks, reported with hypervisor_type "fake" and never
// presented as a real machine), libvirt (KVM) hosts (localcloud/libvirt) and
// IPMI/Redfish bare-metal machines (localcloud/baremetal). Optional
// interfaces add what only some hosts do: SecurityGroupHost for hosts that
// enforce security groups on the wire (KVM: libvirt nwfilters).
//
// The package imports nothing of Canopy's but the proxies contract.
package localcloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"

	"github.com/canopy-cloud/canopy/proxies"
)

// Pool is the local pool as one cloud backend.
type Pool struct {
	name  string
	log   *slog.Logger
	hosts map[string]HostDriver
	order []HostDriver // stable order for listing and self-placement

	mu     sync.Mutex
	routes map[string]*route // top id → host

	images   *imageStore
	networks *networkStore
	netres   *netResources
	closed   sync.Once
	// groupsEnforced: the pool has hosts that enforce security groups
	// (simulated or KVM ones), or no host at all.
	groupsEnforced bool
}

// route is where one server lives. ready is closed once the create that
// made the route has finished; err is then its outcome.
type route struct {
	host  HostDriver
	ready chan struct{}
	err   error
}

var _ proxies.Backend = (*Pool)(nil)

// New builds a pool named name (the cloud's name in canopy.yaml) with the
// simulated hosts cfg describes. It starts nothing: goroutines start on the
// first delayed operation and stop in Close.
func New(name string, cfg Config, log *slog.Logger) (*Pool, error) {
	if name == "" {
		return nil, errors.New("local pool: the cloud needs a name")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pool{
		name: name, log: log, hosts: make(map[string]HostDriver, cfg.SimulatedHosts),
		routes: make(map[string]*route), images: newImageStore(), networks: newNetworkStore(),
		netres:         newNetResources(),
		groupsEnforced: len(cfg.BareMetalHosts) == 0 || cfg.SimulatedHosts > 0 || len(cfg.KVMHosts) > 0,
	}
	for i := range cfg.SimulatedHosts {
		if err := p.AddHost(newSimulatedHost(&cfg, i, log.With("cloud", name))); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// AddHost adds a host of any kind to the pool (before it serves requests).
func (p *Pool) AddHost(h HostDriver) error {
	if _, dup := p.hosts[h.Name()]; dup {
		return fmt.Errorf("local pool %s: two hosts are named %q", p.name, h.Name())
	}
	p.hosts[h.Name()] = h
	p.order = append(p.order, h)
	return nil
}

// Host returns the driver of the named host.
func (p *Pool) Host(name string) (HostDriver, bool) {
	h, ok := p.hosts[name]
	return h, ok
}

// SimulatedHost returns the named host when it is simulated, for the
// failure-injection knobs.
func (p *Pool) SimulatedHost(name string) (*SimulatedHost, bool) {
	h, ok := p.hosts[name].(*SimulatedHost)
	return h, ok
}

// Close stops every host's background work and waits for it. Idempotent.
func (p *Pool) Close() error {
	var errs []error
	p.closed.Do(func() {
		for _, h := range p.order {
			errs = append(errs, h.Close())
		}
	})
	return errors.Join(errs...)
}

// Name is the cloud's name.
func (p *Pool) Name() string { return p.name }

// Capabilities of the local pool: everything a hypervisor does, except
// live migration (not built yet).
func (p *Pool) Capabilities() proxies.Capabilities {
	return proxies.Capabilities{
		Servers: true, StartStop: true, Reboot: true, HardReboot: true, Snapshot: true,
		ConsoleOutput: true, UserData: true, Keypairs: true, Images: true, Networks: true, Volumes: true, Resize: true,
		// Simulated hosts "enforce" groups in memory and KVM hosts with
		// libvirt nwfilters; bare-metal machines cannot filter, so a pool
		// of bare metal only declares no security groups, and a mixed
		// pool refuses groups other than the default one on servers
		// placed on bare metal (checkUnfiltered).
		SecurityGroups: p.groupsEnforced, Routers: true, FloatingIPs: true,
		HostsVisible: true,
	}
}

// Servers is the pool's server driver.
func (p *Pool) Servers() proxies.ServerDriver { return poolServers{p} }

// Images is the pool's image driver.
func (p *Pool) Images() proxies.ImageDriver { return p.images }

// Networks is the pool's network driver.
func (p *Pool) Networks() proxies.NetworkDriver { return p.networks }

// Inventory reports every host.
func (p *Pool) Inventory() proxies.InventoryDriver { return poolInventory{p} }

type poolInventory struct{ p *Pool }

func (i poolInventory) Hosts(ctx context.Context) ([]proxies.Host, error) {
	out := make([]proxies.Host, 0, len(i.p.order))
	for _, h := range i.p.order {
		inv, err := h.Inventory(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, nil
}

type poolServers struct{ p *Pool }

// CreateServer creates spec on spec.Host (chosen by the scheduler), or on
// the host with the most free RAM that fits when no host was chosen. A retry
// with the same top id returns the server the first call made.
func (s poolServers) CreateServer(ctx context.Context, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	const op = "CreateServer"
	p := s.p
	if spec.ID == "" {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the server needs an id")
	}
	if spec.Flavor.VCPUs < 0 || spec.Flavor.RAMMB < 0 || spec.Flavor.DiskGB < 0 {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "flavor %s has a negative size", spec.Flavor.ID)
	}
	if err := p.checkNICGroups(op, spec.NICs); err != nil {
		return proxies.ServerStatus{}, err
	}
	var candidates []HostDriver
	if spec.Host != "" {
		h, ok := p.hosts[spec.Host]
		if !ok {
			return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "host %s is not in cloud %s", spec.Host, p.name)
		}
		candidates = []HostDriver{h}
	} else {
		candidates = p.bySpace()
	}

	p.mu.Lock()
	if r, ok := p.routes[spec.ID]; ok {
		p.mu.Unlock()
		return s.existing(ctx, r, spec.ID)
	}
	r := &route{ready: make(chan struct{})}
	p.routes[spec.ID] = r
	p.mu.Unlock()

	var st proxies.ServerStatus
	var err error = proxies.Errorf(proxies.ErrCapacity, op, "no host in cloud %s has room for flavor %s", p.name, spec.Flavor.Name)
	groups := nicGroups(spec.NICs)
	for _, h := range candidates {
		if err = p.checkHostNICs(op, h, spec.NICs); err != nil {
			continue // a host that cannot enforce the NICs' groups
		}
		if sh, ok := h.(SecurityGroupHost); ok {
			// The host defines the NICs' filters with the domain; the
			// groups they reference must be there first.
			if err = p.pushGroups(ctx, []SecurityGroupHost{sh}, groups); err != nil {
				break
			}
		}
		if st, err = h.CreateDomain(ctx, spec); err == nil {
			r.host = h
			break
		}
		if !errors.Is(err, proxies.ErrCapacity) {
			break
		}
	}
	r.err = err
	if err != nil {
		p.mu.Lock()
		delete(p.routes, spec.ID)
		p.mu.Unlock()
	}
	close(r.ready)
	if err == nil {
		p.membersChanged(ctx, groups)
	}
	return st, err
}

// checkHostNICs refuses NICs whose groups host h cannot enforce.
func (p *Pool) checkHostNICs(op string, h HostDriver, nics []proxies.NIC) error {
	for _, n := range nics {
		if err := p.checkUnfiltered(op, h, n.PortID, n.SecurityGroupIDs); err != nil {
			return err
		}
	}
	return nil
}

// existing answers a create retried while (or after) the first one ran.
func (s poolServers) existing(ctx context.Context, r *route, id string) (proxies.ServerStatus, error) {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return proxies.ServerStatus{}, ctx.Err()
	}
	if r.err != nil {
		return proxies.ServerStatus{}, r.err
	}
	return r.host.Domain(ctx, id)
}

// bySpace orders hosts by free RAM, most first (a spreading fallback for
// callers that bypass the scheduler, such as the contract suite).
func (p *Pool) bySpace() []HostDriver {
	type hf struct {
		h    HostDriver
		free int
	}
	hs := make([]hf, 0, len(p.order))
	for _, h := range p.order {
		free := 0
		if sh, ok := h.(*SimulatedHost); ok {
			free = sh.freeRAM()
		}
		hs = append(hs, hf{h, free})
	}
	slices.SortStableFunc(hs, func(a, b hf) int { return b.free - a.free })
	out := make([]HostDriver, len(hs))
	for i, x := range hs {
		out[i] = x.h
	}
	return out
}

// host finds the host of server id.
func (p *Pool) host(op, id string) (HostDriver, error) {
	p.mu.Lock()
	r, ok := p.routes[id]
	p.mu.Unlock()
	if ok {
		<-r.ready
		if r.err == nil {
			return r.host, nil
		}
	}
	return nil, proxies.Errorf(proxies.ErrNotFound, op, "Instance %s could not be found.", id)
}

func (s poolServers) GetServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	h, err := s.p.host("GetServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.Domain(ctx, id)
}

func (s poolServers) ListServers(ctx context.Context) ([]proxies.ServerStatus, error) {
	var out []proxies.ServerStatus
	for _, h := range s.p.order {
		ds, err := h.Domains(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

func (s poolServers) StartServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	h, err := s.p.host("StartServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.StartDomain(ctx, id)
}

func (s poolServers) StopServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	h, err := s.p.host("StopServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.StopDomain(ctx, id)
}

func (s poolServers) RebootServer(ctx context.Context, id string, kind proxies.RebootKind) (proxies.ServerStatus, error) {
	if kind != proxies.RebootSoft && kind != proxies.RebootHard {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, "RebootServer", "reboot type must be SOFT or HARD, not %q", kind)
	}
	h, err := s.p.host("RebootServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.RebootDomain(ctx, id, kind)
}

// DeleteServer removes the server and returns once it is gone; nil when it
// was already gone.
func (s poolServers) DeleteServer(ctx context.Context, id string) error {
	h, err := s.p.host("DeleteServer", id)
	if err != nil {
		return nil // not found: already gone
	}
	var groups []string
	if len(s.p.filterHosts()) > 0 {
		if nics, err := s.p.serverNICs(ctx, "DeleteServer", id); err == nil {
			groups = nicGroups(nics)
		}
	}
	if err := h.DestroyDomain(ctx, id); err != nil {
		return err
	}
	s.p.mu.Lock()
	if r, ok := s.p.routes[id]; ok && r.host == h {
		delete(s.p.routes, id)
	}
	s.p.mu.Unlock()
	s.p.membersChanged(ctx, groups)
	return nil
}

func (s poolServers) ConsoleOutput(ctx context.Context, id string, lines int) (string, error) {
	h, err := s.p.host("ConsoleOutput", id)
	if err != nil {
		return "", err
	}
	return h.ConsoleLog(ctx, id, lines)
}

// SnapshotServer captures the server's disk as imageID and records the copy
// among the pool's images.
func (s poolServers) SnapshotServer(ctx context.Context, id, imageID string) (proxies.ImageStatus, error) {
	if imageID == "" {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrInvalid, "SnapshotServer", "the snapshot needs an image id")
	}
	h, err := s.p.host("SnapshotServer", id)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	st, err := h.SnapshotDomain(ctx, id, imageID)
	if err != nil {
		return st, err
	}
	s.p.images.put(proxies.ImageSpec{ID: imageID}, st)
	return st, nil
}

// readAll drains r into w, stopping early when ctx ends.
func readAll(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, err := r.Read(buf)
		if k > 0 {
			w.Write(buf[:k])
			n += int64(k)
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
