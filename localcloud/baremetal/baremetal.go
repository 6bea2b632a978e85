// Package baremetal is the local pool's driver for bare-metal machines
// enrolled by their BMC: a localcloud.HostDriver that powers a machine on
// and off, resets it and sets its boot device over IPMI (go-ipmi, IPMI 2.0
// "lanplus" or 1.5 "lan"), reported as hypervisor type "ironic" as Nova's
// Ironic driver reports its nodes.
//
// A machine holds at most one server, which takes all of it. What the
// driver does not do, it answers with ErrNotSupported: writing the image to
// the machine's disk (Ironic's deploy ramdisk; here the machine boots from
// its disk or from the operator's PXE service, per boot_device), the
// serial console (IPMI SOL) and snapshots. Which server a machine holds is
// kept in memory (IPMI has nowhere to store a tag), so a retried create
// finds the deployment only while the process lives.
package baremetal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
)

// DefaultCallTimeout bounds one IPMI session (connect, command, close).
const DefaultCallTimeout = 10 * time.Second

// LabelBareMetal marks bare-metal machines in the inventory.
const LabelBareMetal = "canopy.baremetal"

// Options are what a Host needs beyond its configuration.
type Options struct {
	// Secret resolves the BMC password reference ("env:NAME", "file:/path");
	// the wiring passes config.Secret. Required.
	Secret func(ref string) (string, error)
	// AvailabilityZone is the zone used when the machine's config names none.
	AvailabilityZone string
	// Log receives the driver's operational messages (nil: discarded).
	Log *slog.Logger
}

// bmc is the part of go-ipmi's client the driver uses, so tests could swap
// it; one value is one IPMI session.
type bmc interface {
	ChassisControl(ctx context.Context, control chassis.ChassisControl) (*chassis.ChassisControlResponse, error)
	GetChassisStatus(ctx context.Context) (*chassis.GetChassisStatusResponse, error)
	SetBootDevice(ctx context.Context, dev types.BootDeviceSelector, bootType types.BIOSBootType, persist bool) error
}

// Host is one bare-metal machine of the pool.
type Host struct {
	cfg      localcloud.BareMetalConfig
	host     string
	port     int
	password string
	log      *slog.Logger
	dial     func(ctx context.Context) (bmc, func(), error)

	mu       sync.Mutex // serialises IPMI sessions and guards deployed
	deployed *deployment
}

// deployment is the server a machine holds.
type deployment struct {
	spec     proxies.ServerSpec
	launched time.Time
	task     string
}

var _ localcloud.HostDriver = (*Host)(nil)

// New enrols the machine cfg describes. It resolves the password but
// contacts nothing.
func New(cfg localcloud.BareMetalConfig, opts Options) (*Host, error) {
	if cfg.Name == "" {
		return nil, errors.New("bare-metal machine: name is required")
	}
	hostPart, portPart, err := net.SplitHostPort(cfg.BMCAddress)
	if err != nil {
		return nil, fmt.Errorf("bare-metal machine %s: bmc_address must be host:port: %w", cfg.Name, err)
	}
	port, err := strconv.Atoi(portPart)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("bare-metal machine %s: bmc_address port %q is not a port", cfg.Name, portPart)
	}
	if opts.Secret == nil {
		return nil, fmt.Errorf("bare-metal machine %s: no secret resolver for password_from", cfg.Name)
	}
	password, err := opts.Secret(cfg.PasswordFrom)
	if err != nil {
		// The reference names where the secret is, never the secret.
		return nil, fmt.Errorf("bare-metal machine %s: password_from: %w", cfg.Name, err)
	}
	if cfg.Interface == "" {
		cfg.Interface = "lanplus"
	}
	if cfg.CipherSuite == 0 {
		cfg.CipherSuite = int(types.CipherSuiteID3)
	}
	if cfg.BootDevice == "" {
		cfg.BootDevice = "disk"
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
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Host{cfg: cfg, host: hostPart, port: port, password: password, log: log}
	h.dial = h.session
	return h, nil
}

// session opens one IPMI session to the BMC.
func (h *Host) session(ctx context.Context) (bmc, func(), error) {
	c, err := client.NewClient(h.host, h.port, h.cfg.Username, h.password)
	if err != nil {
		return nil, nil, err
	}
	c.WithInterface(client.Interface(h.cfg.Interface)).WithTimeout(h.cfg.CallTimeout)
	if h.cfg.Interface == "lanplus" {
		c.WithCipherSuiteID(types.CipherSuiteID(h.cfg.CipherSuite))
	}
	if err := c.Connect(ctx); err != nil {
		return nil, nil, err
	}
	return c, func() { _ = c.Close(context.WithoutCancel(ctx)) }, nil
}

// do runs fn in one IPMI session under the call timeout; errors become
// ErrUnavailable with the cause kept for logs (never the password).
func (h *Host) do(ctx context.Context, op string, fn func(ctx context.Context, b bmc) error) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.CallTimeout)
	defer cancel()
	b, done, err := h.dial(ctx)
	if err == nil {
		err = fn(ctx, b)
		done()
	}
	if err != nil {
		return &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "the BMC of machine " + h.cfg.Name + " failed the operation", Cause: err}
	}
	return nil
}

// Name is the machine's name.
func (h *Host) Name() string { return h.cfg.Name }

// Close ends nothing: every IPMI session is closed after its call.
func (h *Host) Close() error { return nil }

// Inventory reports the machine's enrolled size; it is up when its BMC
// answers (the heartbeat).
func (h *Host) Inventory(ctx context.Context) (proxies.Host, error) {
	inv := proxies.Host{
		Name: h.cfg.Name, AvailabilityZone: h.cfg.AvailabilityZone, HypervisorType: localcloud.HypervisorTypeIronic,
		Enabled: true, VCPUs: h.cfg.VCPUs, RAMMB: h.cfg.RAMMB, DiskGB: h.cfg.DiskGB,
		Labels: map[string]string{LabelBareMetal: "true"}, Traits: []string{"CUSTOM_BAREMETAL"},
	}
	for k, v := range h.cfg.Labels {
		inv.Labels[k] = v
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.do(ctx, "Inventory", func(ctx context.Context, b bmc) error { _, err := b.GetChassisStatus(ctx); return err })
	if err != nil {
		h.log.Warn("bare-metal machine is down", "machine", h.cfg.Name, "err", err)
	}
	inv.Up = err == nil
	return inv, nil
}

// Usage is the whole machine while it holds a server.
func (h *Host) Usage(ctx context.Context) (localcloud.Usage, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.deployed == nil {
		return localcloud.Usage{}, nil
	}
	return localcloud.Usage{VCPUs: h.cfg.VCPUs, RAMMB: h.cfg.RAMMB, DiskGB: h.cfg.DiskGB}, nil
}

// powerOn reads the chassis power state.
func (h *Host) powerOn(ctx context.Context, op string) (bool, error) {
	var on bool
	err := h.do(ctx, op, func(ctx context.Context, b bmc) error {
		st, err := b.GetChassisStatus(ctx)
		if err == nil {
			on = st.PowerIsOn
		}
		return err
	})
	return on, err
}

// status reports the deployment from the chassis power state.
func (h *Host) status(ctx context.Context, op string) (proxies.ServerStatus, error) {
	d := h.deployed
	on, err := h.powerOn(ctx, op)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	st := proxies.ServerStatus{ID: d.spec.ID, BottomID: h.cfg.Name, Host: h.cfg.Name, TaskState: d.task, LaunchedAt: d.launched,
		State: proxies.StateStopped, PowerState: proxies.PowerShutdown}
	if on {
		st.State, st.PowerState = proxies.StateActive, proxies.PowerRunning
	}
	return st, nil
}

// held returns the deployment of server id, or ErrNotFound.
func (h *Host) held(op, id string) error {
	if h.deployed == nil || h.deployed.spec.ID != id {
		return proxies.Errorf(proxies.ErrNotFound, op, "Instance %s could not be found.", id)
	}
	return nil
}

// CreateDomain deploys server spec on the machine: the boot device is set
// (disk or PXE, persistently) and the machine powered on. ErrCapacity when
// it holds another server or the flavor is larger than the machine. A
// retry returns the deployment the first call made.
func (h *Host) CreateDomain(ctx context.Context, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	const op = "CreateServer"
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.deployed != nil {
		if h.deployed.spec.ID == spec.ID {
			return h.status(ctx, op)
		}
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrCapacity, op, "machine %s holds another server", h.cfg.Name)
	}
	f := spec.Flavor
	if f.VCPUs > h.cfg.VCPUs || f.RAMMB > h.cfg.RAMMB || f.DiskGB > h.cfg.DiskGB {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrCapacity, op, "machine %s is smaller than flavor %s", h.cfg.Name, f.Name)
	}
	dev := types.BootDeviceSelectorForceHardDrive
	if h.cfg.BootDevice == "pxe" {
		dev = types.BootDeviceSelectorForcePXE
	}
	err := h.do(ctx, op, func(ctx context.Context, b bmc) error {
		if err := b.SetBootDevice(ctx, dev, types.BIOSBootTypeLegacy, true); err != nil {
			return err
		}
		_, err := b.ChassisControl(ctx, chassis.ChassisControlPowerUp)
		return err
	})
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	spec.UserData = nil
	h.deployed = &deployment{spec: spec, launched: time.Now().UTC()}
	h.log.Info("bare-metal machine deployed", "machine", h.cfg.Name, "server", spec.ID, "boot_device", h.cfg.BootDevice)
	return h.status(ctx, op)
}

// Domain reports the machine's server.
func (h *Host) Domain(ctx context.Context, id string) (proxies.ServerStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.held("GetServer", id); err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.status(ctx, "GetServer")
}

// Domains reports the machine's server, if it holds one.
func (h *Host) Domains(ctx context.Context) ([]proxies.ServerStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.deployed == nil {
		return nil, nil
	}
	st, err := h.status(ctx, "ListServers")
	if err != nil {
		return nil, err
	}
	return []proxies.ServerStatus{st}, nil
}

// power changes the power of the machine's server id, refusing (409) when
// it is not in the state from which the action starts.
func (h *Host) power(ctx context.Context, op, action, id string, wantOn bool, ctl chassis.ChassisControl) (proxies.ServerStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.held(op, id); err != nil {
		return proxies.ServerStatus{}, err
	}
	on, err := h.powerOn(ctx, op)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if on != wantOn {
		state := proxies.StateStopped
		if on {
			state = proxies.StateActive
		}
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrConflict, op, "Cannot '%s' instance %s while it is in vm_state %s", action, id, state)
	}
	if err := h.do(ctx, op, func(ctx context.Context, b bmc) error { _, err := b.ChassisControl(ctx, ctl); return err }); err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.status(ctx, op)
}

// StartDomain powers the machine on.
func (h *Host) StartDomain(ctx context.Context, id string) (proxies.ServerStatus, error) {
	return h.power(ctx, "StartServer", "start", id, false, chassis.ChassisControlPowerUp)
}

// StopDomain powers the machine off (hard, as `baremetal node power off`
// without --soft).
func (h *Host) StopDomain(ctx context.Context, id string) (proxies.ServerStatus, error) {
	return h.power(ctx, "StopServer", "stop", id, true, chassis.ChassisControlPowerDown)
}

// RebootDomain reboots: SOFT power-cycles a running machine; HARD resets a
// running one or powers a stopped one on.
func (h *Host) RebootDomain(ctx context.Context, id string, kind proxies.RebootKind) (proxies.ServerStatus, error) {
	const op = "RebootServer"
	if kind == proxies.RebootSoft {
		return h.power(ctx, op, "reboot", id, true, chassis.ChassisControlPowerCycle)
	}
	h.mu.Lock()
	on, err := h.powerOn(ctx, op)
	h.mu.Unlock()
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if on {
		return h.power(ctx, op, "reboot", id, true, chassis.ChassisControlHardReset)
	}
	return h.power(ctx, op, "reboot", id, false, chassis.ChassisControlPowerUp)
}

// DestroyDomain powers the machine off and frees it; nil when it holds no
// such server. (Ironic would also clean its disks; this driver cannot.)
func (h *Host) DestroyDomain(ctx context.Context, id string) error {
	const op = "DeleteServer"
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held(op, id) != nil {
		return nil
	}
	err := h.do(ctx, op, func(ctx context.Context, b bmc) error {
		st, err := b.GetChassisStatus(ctx)
		if err != nil || !st.PowerIsOn {
			return err
		}
		_, err = b.ChassisControl(ctx, chassis.ChassisControlPowerDown)
		return err
	})
	if err != nil {
		return err
	}
	h.deployed = nil
	return nil
}

// ConsoleLog is not supported: reading the console needs IPMI SOL.
func (h *Host) ConsoleLog(ctx context.Context, id string, lines int) (string, error) {
	return "", proxies.Errorf(proxies.ErrNotSupported, "ConsoleOutput", "machine %s has no console log (IPMI SOL is not supported)", h.cfg.Name)
}

// SnapshotDomain is not supported: a machine's disk cannot be read over
// IPMI.
func (h *Host) SnapshotDomain(ctx context.Context, id, imageID string) (proxies.ImageStatus, error) {
	return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrNotSupported, "SnapshotServer", "machine %s cannot be snapshotted", h.cfg.Name)
}
