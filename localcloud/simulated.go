package localcloud

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

// HypervisorTypeFake is what simulated hosts report, as Nova's fake virt
// driver does: they are never presented as real machines.
const HypervisorTypeFake = "fake"

// LabelSimulated marks simulated hosts in the inventory.
const LabelSimulated = "canopy.simulated"

// SimulatedHost is a host whose domains exist only in memory, like Nova's
// fake virt driver: servers go through the real lifecycle states with the
// configured delays, hold capacity, fail on demand and print a plausible
// serial console, but no guest code ever runs.
type SimulatedHost struct {
	name, zone            string
	vcpus, ramMB, diskGB  int
	cpuR, ramR, diskR     float64
	build, start, stop    time.Duration
	reboot, del, snapshot time.Duration
	clk                   *clock
	log                   *slog.Logger
	mu                    sync.Mutex
	doms                  map[string]*domain
	used                  Usage
	failNext              int
	failRate              float64
}

var _ HostDriver = (*SimulatedHost)(nil)

// domain is one simulated server. Every operation bumps op, so a pending
// transition that was superseded (a build overtaken by a delete) is dropped.
type domain struct {
	spec     proxies.ServerSpec
	bottomID string
	state    proxies.ServerState
	power    proxies.PowerState
	task     string
	fault    string
	launched time.Time
	op       uint64
	console  []string
	boots    int
	gone     chan struct{}
}

// newSimulatedHost builds the i-th simulated host of cfg.
func newSimulatedHost(cfg *Config, i int, log *slog.Logger) *SimulatedHost {
	cpu, ram, disk := cfg.ratios()
	h := &SimulatedHost{
		name: cfg.hostName(i), zone: cfg.zoneOf(i),
		vcpus: cfg.HostVCPUs, ramMB: cfg.HostRAMMB, diskGB: cfg.HostDiskGB,
		cpuR: cpu, ramR: ram, diskR: disk,
		build: cfg.BuildDelay, start: cfg.StartDelay, stop: cfg.StopDelay,
		reboot: cfg.RebootDelay, del: cfg.DeleteDelay, snapshot: cfg.SnapshotDelay,
		clk: newClock(), log: log, doms: make(map[string]*domain),
		failRate: cfg.FailureRate,
	}
	h.failNext = cfg.FailNextCreates[h.name]
	return h
}

// Name is the host's name.
func (h *SimulatedHost) Name() string { return h.name }

// FailNextCreates makes the next n builds on this host end in ERROR.
func (h *SimulatedHost) FailNextCreates(n int) {
	h.mu.Lock()
	h.failNext += n
	h.mu.Unlock()
}

// SetFailureRate sets the fraction (0..1) of builds that end in ERROR.
func (h *SimulatedHost) SetFailureRate(r float64) {
	h.mu.Lock()
	h.failRate = r
	h.mu.Unlock()
}

// Inventory reports the host's size; simulated hosts are always up.
func (h *SimulatedHost) Inventory(ctx context.Context) (proxies.Host, error) {
	return proxies.Host{
		Name: h.name, AvailabilityZone: h.zone, HypervisorType: HypervisorTypeFake,
		Up: true, Enabled: true, VCPUs: h.vcpus, RAMMB: h.ramMB, DiskGB: h.diskGB,
		Labels: map[string]string{LabelSimulated: "true"},
		Traits: []string{"CUSTOM_CANOPY_SIMULATED"},
	}, nil
}

// Usage reports what the host's domains hold.
func (h *SimulatedHost) Usage(ctx context.Context) (Usage, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.used, nil
}

// fits reports whether f fits beside what the host holds, under its ratios.
func (h *SimulatedHost) fits(f proxies.Flavor) bool {
	return float64(h.used.VCPUs+f.VCPUs) <= float64(h.vcpus)*h.cpuR &&
		float64(h.used.RAMMB+f.RAMMB) <= float64(h.ramMB)*h.ramR &&
		float64(h.used.DiskGB+f.DiskGB) <= float64(h.diskGB)*h.diskR
}

// freeRAM is the physical RAM not held by domains, for the pool's own
// placement when no host was chosen.
func (h *SimulatedHost) freeRAM() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ramMB - h.used.RAMMB
}

// CreateDomain boots a simulated server: building now, active (or error,
// when failure is injected) after the build delay.
func (h *SimulatedHost) CreateDomain(ctx context.Context, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	const op = "CreateServer"
	h.mu.Lock()
	defer h.mu.Unlock()
	if d, ok := h.doms[spec.ID]; ok {
		return h.status(d), nil
	}
	if !h.fits(spec.Flavor) {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrCapacity, op,
			"host %s has no room for flavor %s (%d vCPU, %d MB RAM, %d GB disk)", h.name, spec.Flavor.Name, spec.Flavor.VCPUs, spec.Flavor.RAMMB, spec.Flavor.DiskGB)
	}
	fail := false
	switch {
	case h.failNext > 0:
		h.failNext--
		fail = true
	case h.failRate > 0 && mrand.Float64() < h.failRate:
		fail = true
	}
	spec.UserData = nil // only its presence matters to the console
	d := &domain{spec: spec, bottomID: newUUID(), state: proxies.StateBuilding, task: "spawning", gone: make(chan struct{})}
	h.doms[spec.ID] = d
	h.used.VCPUs += spec.Flavor.VCPUs
	h.used.RAMMB += spec.Flavor.RAMMB
	h.used.DiskGB += spec.Flavor.DiskGB
	h.transition(d, h.build, func(d *domain) {
		d.task = ""
		if fail {
			d.state, d.power = proxies.StateError, proxies.PowerNoState
			d.fault = "Build of instance " + spec.ID + " failed on simulated host " + h.name + ": failure injected"
			h.log.Debug("simulated build failure injected", "host", h.name, "server", spec.ID)
			return
		}
		d.state, d.power, d.launched = proxies.StateActive, proxies.PowerRunning, time.Now().UTC()
		d.boots++
		d.console = appendConsole(d.console, bootLog(h.name, d)...)
	})
	return h.status(d), nil
}

// transition starts an operation on d: finish runs after delay (inline when
// delay is 0) unless another operation superseded it or d is gone.
func (h *SimulatedHost) transition(d *domain, delay time.Duration, finish func(*domain)) {
	d.op++
	if delay <= 0 {
		finish(d)
		return
	}
	op := d.op
	h.clk.after(delay, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if d.op != op || h.doms[d.spec.ID] != d {
			return
		}
		finish(d)
	})
}

func (h *SimulatedHost) status(d *domain) proxies.ServerStatus {
	return proxies.ServerStatus{
		ID: d.spec.ID, BottomID: d.bottomID, Host: h.name, State: d.state, PowerState: d.power,
		TaskState: d.task, Fault: d.fault, LaunchedAt: d.launched,
	}
}

func (h *SimulatedHost) lookup(op, id string) (*domain, error) {
	d, ok := h.doms[id]
	if !ok {
		return nil, proxies.Errorf(proxies.ErrNotFound, op, "Instance %s could not be found.", id)
	}
	return d, nil
}

// Domain reports one simulated server.
func (h *SimulatedHost) Domain(ctx context.Context, id string) (proxies.ServerStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.lookup("GetServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.status(d), nil
}

// Domains reports every simulated server of the host.
func (h *SimulatedHost) Domains(ctx context.Context) ([]proxies.ServerStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]proxies.ServerStatus, 0, len(h.doms))
	for _, d := range h.doms {
		out = append(out, h.status(d))
	}
	return out, nil
}

// conflict is Nova's 409 text for an action in the wrong state.
func conflict(op, action string, d *domain) error {
	if d.task != "" {
		return proxies.Errorf(proxies.ErrConflict, op, "Cannot '%s' instance %s while it is in task_state %s", action, d.spec.ID, d.task)
	}
	return proxies.Errorf(proxies.ErrConflict, op, "Cannot '%s' instance %s while it is in vm_state %s", action, d.spec.ID, d.state)
}

// StartDomain powers on a stopped server.
func (h *SimulatedHost) StartDomain(ctx context.Context, id string) (proxies.ServerStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.lookup("StartServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if d.state != proxies.StateStopped || d.task != "" {
		return proxies.ServerStatus{}, conflict("StartServer", "start", d)
	}
	d.task = "powering-on"
	h.transition(d, h.start, func(d *domain) {
		d.state, d.power, d.task = proxies.StateActive, proxies.PowerRunning, ""
		d.boots++
		d.console = appendConsole(d.console, bootLog(h.name, d)...)
	})
	return h.status(d), nil
}

// StopDomain powers off an active (or errored) server. A stop overtakes a
// reboot in progress, whose end state the caller may already have seen.
func (h *SimulatedHost) StopDomain(ctx context.Context, id string) (proxies.ServerStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.lookup("StopServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	rebooting := d.task == "rebooting" || d.task == "rebooting_hard"
	if (d.state != proxies.StateActive && d.state != proxies.StateError) || (d.task != "" && !rebooting) {
		return proxies.ServerStatus{}, conflict("StopServer", "stop", d)
	}
	d.task = "powering-off"
	h.transition(d, h.stop, func(d *domain) {
		d.state, d.power, d.task = proxies.StateStopped, proxies.PowerShutdown, ""
		d.console = appendConsole(d.console, shutdownLog(d)...)
	})
	return h.status(d), nil
}

// RebootDomain reboots: SOFT from active only, HARD also from stopped or
// error and over a soft reboot in progress, as Nova allows.
func (h *SimulatedHost) RebootDomain(ctx context.Context, id string, kind proxies.RebootKind) (proxies.ServerStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.lookup("RebootServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	task := "rebooting"
	ok := d.state == proxies.StateActive && d.task == ""
	if kind == proxies.RebootHard {
		task = "rebooting_hard"
		ok = slices.Contains([]proxies.ServerState{proxies.StateActive, proxies.StateStopped, proxies.StateError}, d.state) &&
			(d.task == "" || d.task == "rebooting")
	}
	if !ok {
		return proxies.ServerStatus{}, conflict("RebootServer", "reboot", d)
	}
	d.task = task
	h.transition(d, h.reboot, func(d *domain) {
		if d.state == proxies.StateActive {
			d.console = appendConsole(d.console, shutdownLog(d)...)
		}
		d.state, d.power, d.task, d.fault = proxies.StateActive, proxies.PowerRunning, "", ""
		d.boots++
		d.console = appendConsole(d.console, bootLog(h.name, d)...)
	})
	return h.status(d), nil
}

// DestroyDomain deletes a server in any state and returns once it is gone
// (after the delete delay); nil when it was already gone.
func (h *SimulatedHost) DestroyDomain(ctx context.Context, id string) error {
	h.mu.Lock()
	d, ok := h.doms[id]
	if !ok {
		h.mu.Unlock()
		return nil
	}
	if d.task != "deleting" {
		d.task = "deleting"
		h.transition(d, h.del, func(d *domain) {
			delete(h.doms, id)
			h.used.VCPUs -= d.spec.Flavor.VCPUs
			h.used.RAMMB -= d.spec.Flavor.RAMMB
			h.used.DiskGB -= d.spec.Flavor.DiskGB
			d.state, d.task = proxies.StateDeleted, ""
			close(d.gone)
		})
	}
	h.mu.Unlock()
	select {
	case <-d.gone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-h.clk.done():
		return proxies.Errorf(proxies.ErrUnavailable, "DeleteServer", "the local pool is shutting down")
	}
}

// ConsoleLog returns the last lines of the simulated serial console.
func (h *SimulatedHost) ConsoleLog(ctx context.Context, id string, lines int) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.lookup("ConsoleOutput", id)
	if err != nil {
		return "", err
	}
	return tail(d.console, lines), nil
}

// SnapshotDomain captures an active or stopped server's disk. The server
// shows task_state image_snapshot for the snapshot delay.
func (h *SimulatedHost) SnapshotDomain(ctx context.Context, id, imageID string) (proxies.ImageStatus, error) {
	const op = "SnapshotServer"
	h.mu.Lock()
	d, err := h.lookup(op, id)
	if err != nil {
		h.mu.Unlock()
		return proxies.ImageStatus{}, err
	}
	if (d.state != proxies.StateActive && d.state != proxies.StateStopped) || d.task != "" {
		h.mu.Unlock()
		return proxies.ImageStatus{}, conflict(op, "createImage", d)
	}
	d.task = "image_snapshot"
	done := make(chan struct{})
	h.transition(d, h.snapshot, func(d *domain) {
		d.task = ""
		close(done)
	})
	gone := d.gone
	h.mu.Unlock()
	select {
	case <-done:
	case <-gone:
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "Instance %s was deleted during the snapshot.", id)
	case <-ctx.Done():
		return proxies.ImageStatus{}, ctx.Err()
	case <-h.clk.done():
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrUnavailable, op, "the local pool is shutting down")
	}
	return proxies.ImageStatus{
		ID: imageID, BottomID: "snap-" + imageID, Location: "sim://" + h.name + "/snapshots/" + imageID, Ready: true,
	}, nil
}

// Close cancels pending transitions and waits for the host's goroutine.
func (h *SimulatedHost) Close() error {
	h.clk.close()
	return nil
}

// newUUID is a random (version 4) UUID, the simulated domain's bottom id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
