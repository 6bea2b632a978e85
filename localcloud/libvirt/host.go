// Package libvirt is the local pool's driver for real KVM hosts: a
// localcloud.HostDriver over libvirtd's local socket, spoken in pure Go with
// go-libvirt, with domain XML built by libvirtxml.
//
// Each server is a libvirt domain named "canopy-<top id>" that carries the top
// id, project, flavor and image in its <metadata>, so a retried create finds
// the domain it defined and the pool's routing can be rebuilt from the host.
// Its root disk is a qcow2 overlay on a cached base image, a cloud-init
// NoCloud config drive (ISO 9660, volume id "cidata") gives it its instance
// id, key and network configuration, its NICs are plugged into the Linux
// bridges the pool names after each network (localcloud.BridgeName), and its
// first serial port is logged to a file that ConsoleLog reads.
//
// The host's files live under KVMHostConfig.StateDir:
//
//	images/<image id>            cached base images (raw or qcow2) and snapshots
//	domains/<top id>/root.qcow2  the overlay, seed.iso, console.log
//	volumes/<volume id>.qcow2    block volumes attached as virtio disks
package libvirt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
)

// Defaults of a KVMHostConfig's optional fields.
const (
	DefaultSocket          = "/var/run/libvirt/libvirt-sock"
	DefaultStateDir        = "/var/lib/canopy/kvm"
	DefaultShutdownTimeout = 60 * time.Second
	DefaultCallTimeout     = 30 * time.Second
)

// ImageSource opens the bytes of a Canopy image by id. The gateway's image
// store (imagestore.FS) is one; the host caches what it reads.
type ImageSource interface {
	Open(ctx context.Context, id string) (io.ReadSeekCloser, int64, error)
}

// Options are what a Host needs beyond its configuration.
type Options struct {
	// Images is where base images are read from on a cache miss (required
	// to create servers from images the host has not cached).
	Images ImageSource
	// Subnets, when set, returns a network's subnets so the config drive can
	// give each NIC its prefix length and gateway; without it addresses are
	// written as host routes (/32, /128).
	Subnets func(ctx context.Context, networkID string) ([]proxies.SubnetSpec, error)
	// AvailabilityZone is the zone used when the host's config names none.
	AvailabilityZone string
	// Allocation ratios the host enforces (0: Nova's defaults), as the
	// pool's Config holds them.
	CPUAllocationRatio, RAMAllocationRatio, DiskAllocationRatio float64
	// Log receives the host's operational messages (nil: discarded).
	Log *slog.Logger
}

// Host is one KVM host of the pool, driven through libvirtd.
type Host struct {
	cfg               localcloud.KVMHostConfig
	opts              Options
	log               *slog.Logger
	cpuR, ramR, diskR float64

	connMu sync.Mutex
	lv     *golibvirt.Libvirt
	name   string

	mu     sync.Mutex
	tasks  map[string]string // top id → task in progress (powering-off, ...)
	create sync.Mutex        // serialises capacity checks with defines
	images sync.Mutex        // serialises base image fetches

	wg     sync.WaitGroup // libvirt calls in flight
	closed chan struct{}
	once   sync.Once
}

var _ localcloud.HostDriver = (*Host)(nil)

// New builds a Host from cfg, filling its defaults. It connects to nothing
// (Start does); every call dials libvirtd again after a lost connection.
func New(cfg localcloud.KVMHostConfig, opts Options) (*Host, error) {
	if cfg.Socket == "" {
		cfg.Socket = DefaultSocket
	}
	if cfg.DomainType == "" {
		cfg.DomainType = localcloud.HypervisorTypeKVM
	}
	if cfg.DomainType != localcloud.HypervisorTypeKVM && cfg.DomainType != localcloud.HypervisorTypeQEMU {
		return nil, fmt.Errorf("kvm host: domain_type must be kvm or qemu (got %q)", cfg.DomainType)
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.AvailabilityZone == "" {
		cfg.AvailabilityZone = opts.AvailabilityZone
	}
	if cfg.AvailabilityZone == "" {
		cfg.AvailabilityZone = localcloud.DefaultAvailabilityZone
	}
	abs, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("kvm host: state_dir: %w", err)
	}
	cfg.StateDir = abs
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Host{cfg: cfg, opts: opts, log: log, name: cfg.Name, tasks: map[string]string{}, closed: make(chan struct{})}
	h.cpuR, h.ramR, h.diskR = orDefault(opts.CPUAllocationRatio, localcloud.DefaultCPUAllocationRatio),
		orDefault(opts.RAMAllocationRatio, localcloud.DefaultRAMAllocationRatio),
		orDefault(opts.DiskAllocationRatio, localcloud.DefaultDiskAllocationRatio)
	return h, nil
}

func orDefault(v, d float64) float64 {
	if v > 0 {
		return v
	}
	return d
}

// Probe reports whether libvirtd answers on socket within ctx (for
// `canopy dev`, which adds a KVM host only when one is there).
func Probe(ctx context.Context, socket string) error {
	if socket == "" {
		socket = DefaultSocket
	}
	if _, err := os.Stat(socket); err != nil {
		return err
	}
	h, err := New(localcloud.KVMHostConfig{Socket: socket, StateDir: os.TempDir()}, Options{})
	if err != nil {
		return err
	}
	defer h.Close()
	return h.do(ctx, "Probe", func(lv *golibvirt.Libvirt) error {
		_, err := lv.ConnectGetHostname()
		return err
	})
}

// Start prepares the state directory, connects to libvirtd and names the
// host after libvirt's hostname when its config names none. Call it before
// adding the host to a pool (AddToPool does): Name is final only then.
func (h *Host) Start(ctx context.Context) error {
	for _, d := range []string{h.cfg.StateDir, h.path("images"), h.path("domains"), h.path("volumes")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("kvm host: state_dir: %w", err)
		}
		// QEMU runs as its own user and must traverse to the disks.
		if err := os.Chmod(d, 0o755); err != nil {
			return fmt.Errorf("kvm host: state_dir: %w", err)
		}
	}
	var hostname string
	err := h.do(ctx, "Start", func(lv *golibvirt.Libvirt) error {
		var err error
		hostname, err = lv.ConnectGetHostname()
		return err
	})
	if err != nil {
		return err
	}
	if h.name == "" {
		h.name = hostname
	}
	return h.ensureBaseFilter(ctx)
}

// Name is the host's hypervisor_hostname.
func (h *Host) Name() string { return h.name }

// Close disconnects from libvirtd and waits for calls in flight.
func (h *Host) Close() error {
	h.once.Do(func() {
		close(h.closed)
		h.connMu.Lock()
		if h.lv != nil {
			_ = h.lv.Disconnect()
			h.lv = nil
		}
		h.connMu.Unlock()
		h.wg.Wait()
	})
	return nil
}

// conn returns a connected client, dialling libvirtd when needed.
func (h *Host) conn() (*golibvirt.Libvirt, error) {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	select {
	case <-h.closed:
		return nil, errors.New("the host driver is closed")
	default:
	}
	if h.lv != nil && h.lv.IsConnected() {
		return h.lv, nil
	}
	lv := golibvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(h.cfg.Socket), dialers.WithLocalTimeout(5*time.Second)))
	if err := lv.ConnectToURI(golibvirt.QEMUSystem); err != nil {
		return nil, err
	}
	h.lv = lv
	return lv, nil
}

// do runs one exchange with libvirtd under the per-call deadline. go-libvirt
// takes no context, so the call runs on a goroutine that Close waits for
// (Close disconnects, which ends any call still waiting for an answer).
func (h *Host) do(ctx context.Context, op string, fn func(*golibvirt.Libvirt) error) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.CallTimeout)
	defer cancel()
	done := make(chan error, 1)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		lv, err := h.conn()
		if err != nil {
			done <- &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "libvirtd on host " + h.name + " does not answer", Cause: err}
			return
		}
		done <- fn(lv)
	}()
	select {
	case err := <-done:
		return h.typed(op, err)
	case <-ctx.Done():
		return &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "libvirtd on host " + h.name + " timed out", Cause: ctx.Err()}
	}
}

// typed turns a libvirt error into the contract's typed errors.
func (h *Host) typed(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *proxies.Error
	if errors.As(err, &pe) {
		return err
	}
	if golibvirt.IsNotFound(err) {
		return &proxies.Error{Kind: proxies.ErrNotFound, Op: op, Message: "the domain is not defined on host " + h.name, Cause: err}
	}
	return &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "libvirtd on host " + h.name + " failed the operation", Cause: err}
}

// path joins parts under the state directory.
func (h *Host) path(parts ...string) string {
	return filepath.Join(append([]string{h.cfg.StateDir}, parts...)...)
}

// setTask records (or with "" clears) the task in progress on server id.
func (h *Host) setTask(id, task string) {
	h.mu.Lock()
	if task == "" {
		delete(h.tasks, id)
	} else {
		h.tasks[id] = task
	}
	h.mu.Unlock()
}

// beginTask claims server id for task; ErrConflict when another task runs.
func (h *Host) beginTask(op, action, id, task string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, busy := h.tasks[id]; busy {
		return proxies.Errorf(proxies.ErrConflict, op, "Cannot '%s' instance %s while it is in task_state %s", action, id, t)
	}
	h.tasks[id] = task
	return nil
}

func (h *Host) task(id string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tasks[id]
}
