// Package brokertest holds hand-written fakes of what the broker depends on
// (a cloud backend, the scheduler, the image and network services), each
// with knobs and a call log, for the tests of broker and gateway/compute.
package brokertest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// calls is a concurrency-safe call log.
type calls struct {
	mu  sync.Mutex
	log []string
}

func (c *calls) add(s string) {
	c.mu.Lock()
	c.log = append(c.log, s)
	c.mu.Unlock()
}

// Calls returns a copy of the log.
func (c *calls) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

// Count returns how many logged calls equal s.
func (c *calls) Count(s string) int {
	n := 0
	for _, x := range c.Calls() {
		if x == s {
			n++
		}
	}
	return n
}

// Backend is a fake cloud. Servers settle at once unless BuildPolls is set,
// in which case GetServer reports building that many times first.
type Backend struct {
	calls
	CloudName string
	Caps      proxies.Capabilities
	// CreateErr fails CreateServer; BuildFault makes the build end in error.
	CreateErr  error
	BuildFault string
	BuildPolls int
	// CreateDelay holds CreateServer (until ctx ends) to test deletes while building.
	CreateDelay time.Duration
	DeleteErr   error
	Console     string
	// RebuildErr and ResizeErr fail RebuildServer and ResizeServer.
	RebuildErr error
	ResizeErr  error
	// AttachErr fails AttachNIC.
	AttachErr error

	mu      sync.Mutex
	servers map[string]*proxies.ServerStatus
	polls   map[string]int
}

var _ proxies.Backend = (*Backend)(nil)

// NewBackend returns a fake cloud that can do everything.
func NewBackend(name string) *Backend {
	return &Backend{
		CloudName: name,
		Caps: proxies.Capabilities{Servers: true, StartStop: true, Reboot: true, HardReboot: true, Snapshot: true,
			ConsoleOutput: true, UserData: true, Keypairs: true, Images: true, Networks: true, HostsVisible: true},
		servers: map[string]*proxies.ServerStatus{}, polls: map[string]int{},
	}
}

func (b *Backend) Name() string                       { return b.CloudName }
func (b *Backend) Capabilities() proxies.Capabilities { return b.Caps }
func (b *Backend) Servers() proxies.ServerDriver      { return b }
func (b *Backend) Images() proxies.ImageDriver        { return nil }
func (b *Backend) Networks() proxies.NetworkDriver    { return nil }
func (b *Backend) Inventory() proxies.InventoryDriver { return nil }

// Has reports whether the fake holds server id.
func (b *Backend) Has(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.servers[id]
	return ok
}

// SetState changes a server behind the broker's back (for the sync loop).
func (b *Backend) SetState(id string, st proxies.ServerState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.servers[id]; ok {
		s.State = st
	}
}

func (b *Backend) CreateServer(ctx context.Context, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	b.add("create " + spec.ID)
	if b.CreateDelay > 0 {
		select {
		case <-time.After(b.CreateDelay):
		case <-ctx.Done():
			return proxies.ServerStatus{}, ctx.Err()
		}
	}
	if b.CreateErr != nil {
		return proxies.ServerStatus{}, b.CreateErr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.servers[spec.ID]; ok {
		return *s, nil // idempotent by top id
	}
	st := &proxies.ServerStatus{ID: spec.ID, BottomID: "bottom-" + spec.ID, Host: spec.Host, State: proxies.StateActive,
		PowerState: proxies.PowerRunning, LaunchedAt: time.Now().UTC()}
	if b.BuildPolls > 0 {
		st.State = proxies.StateBuilding
		b.polls[spec.ID] = b.BuildPolls
	}
	b.servers[spec.ID] = st
	return *st, nil
}

func (b *Backend) GetServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.servers[id]
	if !ok {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrNotFound, "GetServer", "no server %s", id)
	}
	if s.State == proxies.StateBuilding {
		if b.polls[id]--; b.polls[id] <= 0 {
			s.State = proxies.StateActive
			if b.BuildFault != "" {
				s.State, s.Fault = proxies.StateError, b.BuildFault
			}
		}
	}
	return *s, nil
}

func (b *Backend) ListServers(ctx context.Context) ([]proxies.ServerStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]proxies.ServerStatus, 0, len(b.servers))
	for _, s := range b.servers {
		out = append(out, *s)
	}
	return out, nil
}

func (b *Backend) setPower(id, op string, st proxies.ServerState, p proxies.PowerState) (proxies.ServerStatus, error) {
	b.add(op + " " + id)
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.servers[id]
	if !ok {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "no server %s", id)
	}
	s.State, s.PowerState = st, p
	return *s, nil
}

func (b *Backend) StartServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	return b.setPower(id, "start", proxies.StateActive, proxies.PowerRunning)
}

func (b *Backend) StopServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	return b.setPower(id, "stop", proxies.StateStopped, proxies.PowerShutdown)
}

func (b *Backend) RebootServer(ctx context.Context, id string, kind proxies.RebootKind) (proxies.ServerStatus, error) {
	return b.setPower(id, "reboot-"+string(kind), proxies.StateActive, proxies.PowerRunning)
}

func (b *Backend) DeleteServer(ctx context.Context, id string) error {
	b.add("delete " + id)
	if b.DeleteErr != nil {
		return b.DeleteErr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.servers, id)
	return nil
}

func (b *Backend) ConsoleOutput(ctx context.Context, id string, lines int) (string, error) {
	b.add("console " + id)
	return b.Console, nil
}

func (b *Backend) SnapshotServer(ctx context.Context, id, imageID string) (proxies.ImageStatus, error) {
	b.add("snapshot " + id + " " + imageID)
	return proxies.ImageStatus{ID: imageID, BottomID: "bottom-" + imageID, Ready: true}, nil
}

// Placer is a fake scheduler: one host, claims kept in a map.
type Placer struct {
	calls
	Cloud, Host, Zone string
	// Err fails every Place (scheduler.ErrNoValidHost for "no room").
	Err error
	// ResizeErr fails every ResizeClaim.
	ResizeErr error
	mu        sync.Mutex
	claims    map[string]scheduler.Request
}

// NewPlacer returns a placer that puts everything on cloud/host in zone "nova".
func NewPlacer(cloud, host string) *Placer {
	return &Placer{Cloud: cloud, Host: host, Zone: "nova", claims: map[string]scheduler.Request{}}
}

func (p *Placer) Place(ctx context.Context, req scheduler.Request) (scheduler.Placement, error) {
	p.add("place " + req.ServerID)
	if p.Err != nil {
		return scheduler.Placement{}, p.Err
	}
	if req.AvailabilityZone != "" && req.AvailabilityZone != p.Zone {
		return scheduler.Placement{}, scheduler.ErrNoValidHost
	}
	p.mu.Lock()
	p.claims[req.ServerID] = req
	p.mu.Unlock()
	return scheduler.Placement{Cloud: p.Cloud, Host: p.Host, AvailabilityZone: p.Zone}, nil
}

func (p *Placer) Release(ctx context.Context, serverID string) error {
	p.add("release " + serverID)
	p.mu.Lock()
	delete(p.claims, serverID)
	p.mu.Unlock()
	return nil
}

// Claims is the number of claims held.
func (p *Placer) Claims() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.claims)
}

// Images is a fake image service.
type Images struct {
	calls
	mu     sync.Mutex
	images map[string]*registry.Image
	n      int
}

// NewImages returns an image service holding imgs.
func NewImages(imgs ...*registry.Image) *Images {
	m := &Images{images: map[string]*registry.Image{}}
	for _, i := range imgs {
		m.images[i.ID] = i
	}
	return m
}

// Get returns image id (nil if absent).
func (m *Images) Get(id string) *registry.Image {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.images[id]
}

func (m *Images) VisibleImage(ctx context.Context, projectID string, isAdmin bool, id string) (*registry.Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.images[id]
	if !ok || (i.Visibility != "public" && i.Owner != projectID && !isAdmin) {
		return nil, fmt.Errorf("image %s: %w", id, registry.ErrNotFound)
	}
	return i, nil
}

func (m *Images) CreateSnapshotImage(ctx context.Context, projectID, name string, props map[string]string) (*registry.Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	i := &registry.Image{ID: fmt.Sprintf("5a9e0000-0000-4000-8000-%012d", m.n), Name: name, Owner: projectID,
		Status: "queued", Visibility: "private", Properties: props}
	m.images[i.ID] = i
	m.add("snapshot-image " + i.ID)
	return i, nil
}

func (m *Images) CompleteSnapshotImage(ctx context.Context, imageID, source string, failed bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.images[imageID]
	if !ok {
		return registry.ErrNotFound
	}
	i.Status = "active"
	if failed {
		i.Status = "killed"
	}
	m.add("complete " + imageID)
	return nil
}

// Ports is a fake network service: networks by id, one address per port.
type Ports struct {
	calls
	// Err fails CreateServerPort.
	Err      error
	mu       sync.Mutex
	networks map[string]*registry.Network
	held     map[string][]string // server id → port ids
	records  map[string]*registry.Port
	n        int
}

// NewPorts returns a network service with nets.
func NewPorts(nets ...*registry.Network) *Ports {
	p := &Ports{networks: map[string]*registry.Network{}, held: map[string][]string{}, records: map[string]*registry.Port{}}
	for _, n := range nets {
		p.networks[n.ID] = n
	}
	return p
}

// Held is the number of ports currently held by servers.
func (p *Ports) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, ps := range p.held {
		n += len(ps)
	}
	return n
}

func (p *Ports) CreateServerPort(ctx context.Context, projectID, networkID, fixedIP, serverID string) (*registry.Port, *registry.Network, error) {
	p.add("port " + serverID)
	if p.Err != nil {
		return nil, nil, p.Err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.networks[networkID]
	if !ok || (n.ProjectID != projectID && !n.Shared) {
		return nil, nil, fmt.Errorf("network %s: %w", networkID, registry.ErrNotFound)
	}
	p.n++
	ip := fixedIP
	if ip == "" {
		ip = fmt.Sprintf("10.0.%d.%d", p.n/250, p.n%250+2)
	}
	pt := &registry.Port{ID: fmt.Sprintf("b0e70000-0000-4000-8000-%012d", p.n), ProjectID: projectID, NetworkID: networkID,
		MACAddress: fmt.Sprintf("fa:16:3e:00:%02x:%02x", (p.n/256)%256, p.n%256), DeviceID: serverID,
		FixedIPs: []registry.FixedIP{{SubnetID: "subnet", IPAddress: ip}}}
	p.held[serverID] = append(p.held[serverID], pt.ID)
	p.records[pt.ID] = pt
	return pt, n, nil
}

func (p *Ports) BindPort(ctx context.Context, projectID, portID, serverID string) (*registry.Port, *registry.Network, error) {
	return nil, nil, fmt.Errorf("port %s: %w", portID, registry.ErrNotFound)
}

func (p *Ports) ReleaseServerPorts(ctx context.Context, projectID, serverID string) error {
	p.add("release-ports " + serverID)
	p.mu.Lock()
	delete(p.held, serverID)
	p.mu.Unlock()
	return nil
}

func (p *Ports) ProjectNetworks(ctx context.Context, projectID string) ([]*registry.Network, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*registry.Network
	for _, n := range p.networks {
		if n.ProjectID == projectID || n.Shared {
			out = append(out, n)
		}
	}
	return out, nil
}
