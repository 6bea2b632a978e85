package libvirt

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
)

// LabelDomainType is the inventory label that says how the host runs guests
// (kvm or qemu).
const LabelDomainType = "canopy.libvirt.domain_type"

// dom is one domain as the host reads it.
type dom struct {
	ref   golibvirt.Domain
	p     parsedDomain
	state golibvirt.DomainState
}

// lookup reads server id's domain; ErrNotFound when it is not defined.
func (h *Host) lookup(ctx context.Context, op, id string) (dom, error) {
	if !validID(id) {
		return dom{}, proxies.Errorf(proxies.ErrNotFound, op, "Instance %s could not be found.", id)
	}
	var d dom
	err := h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
		ref, err := lv.DomainLookupByName(domainName(id))
		if err != nil {
			return err
		}
		return h.read(lv, ref, &d)
	})
	if errors.Is(err, proxies.ErrNotFound) {
		return dom{}, proxies.Errorf(proxies.ErrNotFound, op, "Instance %s could not be found.", id)
	}
	return d, err
}

// read fills d from the domain ref (called inside do).
func (h *Host) read(lv *golibvirt.Libvirt, ref golibvirt.Domain, d *dom) error {
	doc, err := lv.DomainGetXMLDesc(ref, 0)
	if err != nil {
		return err
	}
	p, ok, err := parseDomainXML(doc)
	if err != nil {
		return err
	}
	if !ok {
		return golibvirt.Error{Code: uint32(golibvirt.ErrNoDomain), Message: "not a Canopy domain: " + ref.Name}
	}
	st, _, err := lv.DomainGetState(ref, 0)
	if err != nil {
		return err
	}
	*d = dom{ref: ref, p: p, state: golibvirt.DomainState(st)}
	return nil
}

// status is the contract's view of d.
func (h *Host) status(d dom) proxies.ServerStatus {
	st := proxies.ServerStatus{ID: d.p.meta.ID, BottomID: d.p.uuid, Host: h.name, TaskState: h.task(d.p.meta.ID), LaunchedAt: d.p.meta.createdAt()}
	switch d.state {
	case golibvirt.DomainRunning, golibvirt.DomainBlocked:
		st.State, st.PowerState = proxies.StateActive, proxies.PowerRunning
	case golibvirt.DomainPaused:
		st.State, st.PowerState = proxies.StateActive, proxies.PowerPaused
	case golibvirt.DomainPmsuspended:
		st.State, st.PowerState = proxies.StateActive, proxies.PowerSuspend
	case golibvirt.DomainShutdown:
		st.State, st.PowerState = proxies.StateActive, proxies.PowerRunning // shutting down
	case golibvirt.DomainShutoff:
		st.State, st.PowerState = proxies.StateStopped, proxies.PowerShutdown
	case golibvirt.DomainCrashed:
		st.State, st.PowerState, st.Fault = proxies.StateError, proxies.PowerCrashed, "the guest crashed"
	default:
		st.State, st.PowerState = proxies.StateBuilding, proxies.PowerNoState
	}
	if st.TaskState == "spawning" {
		st.State = proxies.StateBuilding
	}
	return st
}

// Inventory reports the host's size from libvirt (CPUs, memory), the state
// directory's file system (disk), and its CPU model and features as traits.
// A host whose libvirtd does not answer is reported down, not as an error,
// so one host never hides the others.
func (h *Host) Inventory(ctx context.Context) (proxies.Host, error) {
	inv := proxies.Host{
		Name: h.name, AvailabilityZone: h.cfg.AvailabilityZone, HypervisorType: h.cfg.DomainType,
		Enabled: true, Labels: map[string]string{LabelDomainType: h.cfg.DomainType},
	}
	for k, v := range h.cfg.Labels {
		inv.Labels[k] = v
	}
	var caps libvirtxml.Caps
	err := h.do(ctx, "Inventory", func(lv *golibvirt.Libvirt) error {
		_, memKiB, cpus, _, _, _, _, _, err := lv.NodeGetInfo()
		if err != nil {
			return err
		}
		inv.VCPUs, inv.RAMMB = int(cpus), int(memKiB/1024)
		doc, err := lv.ConnectGetCapabilities()
		if err != nil {
			return err
		}
		return caps.Unmarshal(doc)
	})
	if err != nil {
		h.log.Warn("kvm host is down", "host", h.name, "err", err)
		return inv, nil
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(h.cfg.StateDir, &fs); err == nil {
		inv.DiskGB = int(fs.Blocks * uint64(fs.Bsize) / gib)
	}
	inv.Up = inv.DiskGB > 0
	inv.Traits = cpuTraits(caps.Host.CPU)
	return inv, nil
}

// cpuTraits names the host CPU's model and features as placement traits:
// os-traits' HW_CPU_X86_<FEATURE> (dots dropped, dashes to underscores, as
// "sse4.2" → HW_CPU_X86_SSE42) and CUSTOM_CPU_MODEL_<MODEL>.
func cpuTraits(cpu *libvirtxml.CapsHostCPU) []string {
	if cpu == nil {
		return nil
	}
	norm := func(s string) string {
		s = strings.ToUpper(strings.NewReplacer(".", "", "-", "_", " ", "_").Replace(s))
		return s
	}
	var out []string
	if cpu.Model != "" {
		out = append(out, "CUSTOM_CPU_MODEL_"+norm(cpu.Model))
	}
	prefix := "HW_CPU_X86_"
	if cpu.Arch != "" && cpu.Arch != "x86_64" && cpu.Arch != "i686" {
		prefix = "CUSTOM_CPU_" + norm(cpu.Arch) + "_"
	}
	for _, f := range cpu.FeatureFlags {
		out = append(out, prefix+norm(f.Name))
	}
	if cpu.Features != nil && cpu.Features.VMX != nil {
		out = append(out, "HW_CPU_X86_VMX")
	}
	if cpu.Features != nil && cpu.Features.SVM != nil {
		out = append(out, "HW_CPU_X86_SVM")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// list reads every Canopy domain of the host.
func (h *Host) list(ctx context.Context, op string) ([]dom, error) {
	var out []dom
	err := h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
		refs, _, err := lv.ConnectListAllDomains(1, 0)
		if err != nil {
			return err
		}
		for _, ref := range refs {
			if !strings.HasPrefix(ref.Name, domainPrefix) {
				continue
			}
			var d dom
			if err := h.read(lv, ref, &d); err != nil {
				if golibvirt.IsNotFound(err) {
					continue // undefined meanwhile, or not ours
				}
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// Usage sums the flavors of the host's Canopy domains.
func (h *Host) Usage(ctx context.Context) (localcloud.Usage, error) {
	doms, err := h.list(ctx, "Usage")
	if err != nil {
		return localcloud.Usage{}, err
	}
	var u localcloud.Usage
	for _, d := range doms {
		u.VCPUs += d.p.meta.Flavor.VCPUs
		u.RAMMB += d.p.meta.Flavor.RAMMB
		u.DiskGB += d.p.meta.Flavor.DiskGB
	}
	return u, nil
}

// fits reports whether delta fits beside usage u under the ratios.
func (h *Host) fits(inv proxies.Host, u localcloud.Usage, delta proxies.Flavor) bool {
	return float64(u.VCPUs+delta.VCPUs) <= float64(inv.VCPUs)*h.cpuR &&
		float64(u.RAMMB+delta.RAMMB) <= float64(inv.RAMMB)*h.ramR &&
		float64(u.DiskGB+delta.DiskGB) <= float64(inv.DiskGB)*h.diskR
}

// checkRoom returns ErrCapacity unless delta fits on the host.
func (h *Host) checkRoom(ctx context.Context, op string, f, delta proxies.Flavor) error {
	inv, err := h.Inventory(ctx)
	if err != nil {
		return err
	}
	if !inv.Up {
		return proxies.Errorf(proxies.ErrUnavailable, op, "host %s is down", h.name)
	}
	u, err := h.Usage(ctx)
	if err != nil {
		return err
	}
	if !h.fits(inv, u, delta) {
		return proxies.Errorf(proxies.ErrCapacity, op, "host %s has no room for flavor %s (%d vCPU, %d MB RAM, %d GB disk)",
			h.name, f.Name, f.VCPUs, f.RAMMB, f.DiskGB)
	}
	return nil
}

// CreateDomain defines and boots a domain for spec: the base image cached,
// a qcow2 overlay of the flavor's disk size, a NoCloud config drive, the
// NICs on their bridges. A retry finds the domain the first call defined.
func (h *Host) CreateDomain(ctx context.Context, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	const op = "CreateServer"
	if !validID(spec.ID) {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "server id %q is not valid", spec.ID)
	}
	if spec.ImageID == "" {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "server %s needs an image", spec.ID)
	}
	if spec.Flavor.RAMMB < 1 {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "flavor %s has no memory", spec.Flavor.ID)
	}
	h.create.Lock()
	defer h.create.Unlock()
	if d, err := h.lookup(ctx, op, spec.ID); err == nil {
		return h.status(d), nil
	} else if !errors.Is(err, proxies.ErrNotFound) {
		return proxies.ServerStatus{}, err
	}
	if err := h.checkRoom(ctx, op, spec.Flavor, spec.Flavor); err != nil {
		return proxies.ServerStatus{}, err
	}
	h.setTask(spec.ID, "spawning")
	defer h.setTask(spec.ID, "")
	dir := h.path("domains", spec.ID)
	xmlDoc, err := h.prepare(ctx, op, spec, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return proxies.ServerStatus{}, err
	}
	var d dom
	err = h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
		if err := definePortFilters(lv, spec.NICs); err != nil {
			return err
		}
		ref, err := lv.DomainDefineXML(xmlDoc)
		if err != nil {
			h.undefinePortFilters(lv, portIDs(spec.NICs))
			return err
		}
		if err := lv.DomainCreate(ref); err != nil {
			_ = lv.DomainUndefineFlags(ref, golibvirt.DomainUndefineManagedSave|golibvirt.DomainUndefineSnapshotsMetadata|golibvirt.DomainUndefineNvram)
			h.undefinePortFilters(lv, portIDs(spec.NICs))
			return err
		}
		return h.read(lv, ref, &d)
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return proxies.ServerStatus{}, err
	}
	h.log.Info("kvm domain created", "host", h.name, "server", spec.ID, "uuid", d.p.uuid)
	h.setTask(spec.ID, "")
	return h.status(d), nil
}

// portIDs lists the port ids of nics.
func portIDs(nics []proxies.NIC) []string {
	out := make([]string, 0, len(nics))
	for _, n := range nics {
		out = append(out, n.PortID)
	}
	return out
}

// prepare makes the domain's directory, disks and config drive and returns
// its XML.
func (h *Host) prepare(ctx context.Context, op string, spec proxies.ServerSpec, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "host " + h.name + " cannot store disks", Cause: err}
	}
	base, info, err := h.baseImage(ctx, op, spec.ImageID)
	if err != nil {
		return "", err
	}
	root := filepath.Join(dir, "root.qcow2")
	if err := createOverlay(ctx, root, base, info, spec.Flavor.DiskGB); err != nil {
		return "", &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not create the root disk on host " + h.name, Cause: err}
	}
	seed := filepath.Join(dir, "seed.iso")
	if err := h.writeSeed(ctx, op, spec, seed); err != nil {
		return "", err
	}
	for _, n := range spec.NICs {
		if err := h.ensureBridge(ctx, op, n.NetworkID); err != nil {
			return "", err
		}
	}
	meta := instanceMeta{ID: spec.ID, Project: spec.ProjectID, Name: spec.Name, Image: spec.ImageID,
		Created: time.Now().UTC().Format(time.RFC3339Nano), Flavor: metaFlavor(spec.Flavor)}
	for _, n := range spec.NICs {
		meta.Ports = append(meta.Ports, metaPort(n))
	}
	doc, err := buildDomainXML(domainSpec{Type: h.cfg.DomainType, Meta: meta, RootDisk: root, SeedISO: seed,
		Console: filepath.Join(dir, "console.log"), NICs: spec.NICs}, localcloud.BridgeName)
	if err != nil {
		return "", &proxies.Error{Kind: proxies.ErrInvalid, Op: op, Message: "could not build the domain of server " + spec.ID, Cause: err}
	}
	return doc, nil
}

// writeSeed writes the server's config drive.
func (h *Host) writeSeed(ctx context.Context, op string, spec proxies.ServerSpec, path string) error {
	subnets := map[string][]proxies.SubnetSpec{}
	if h.opts.Subnets != nil {
		for _, n := range spec.NICs {
			if _, done := subnets[n.NetworkID]; done {
				continue
			}
			sn, err := h.opts.Subnets(ctx, n.NetworkID)
			if err != nil {
				return &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not read the subnets of network " + n.NetworkID, Cause: err}
			}
			subnets[n.NetworkID] = sn
		}
	}
	files, err := nocloudSeed(spec, subnets)
	if err != nil {
		return &proxies.Error{Kind: proxies.ErrInvalid, Op: op, Message: "could not build the config drive of server " + spec.ID, Cause: err}
	}
	if err := writeSeedISO(ctx, path, files); err != nil {
		return &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not write the config drive on host " + h.name, Cause: err}
	}
	return nil
}

// Domain reports one server.
func (h *Host) Domain(ctx context.Context, id string) (proxies.ServerStatus, error) {
	d, err := h.lookup(ctx, "GetServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.status(d), nil
}

// Domains reports every Canopy server of the host.
func (h *Host) Domains(ctx context.Context) ([]proxies.ServerStatus, error) {
	doms, err := h.list(ctx, "ListServers")
	if err != nil {
		return nil, err
	}
	out := make([]proxies.ServerStatus, 0, len(doms))
	for _, d := range doms {
		out = append(out, h.status(d))
	}
	return out, nil
}

// conflict is Nova's 409 text for an action in the wrong state.
func conflict(op, action string, st proxies.ServerStatus) error {
	return proxies.Errorf(proxies.ErrConflict, op, "Cannot '%s' instance %s while it is in vm_state %s", action, st.ID, st.State)
}

// StartDomain powers on a stopped server.
func (h *Host) StartDomain(ctx context.Context, id string) (proxies.ServerStatus, error) {
	const op = "StartServer"
	if err := h.beginTask(op, "start", id, "powering-on"); err != nil {
		return proxies.ServerStatus{}, err
	}
	defer h.setTask(id, "")
	d, err := h.lookup(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if d.state != golibvirt.DomainShutoff {
		return proxies.ServerStatus{}, conflict(op, "start", h.status(d))
	}
	if err := h.do(ctx, op, func(lv *golibvirt.Libvirt) error { return lv.DomainCreate(d.ref) }); err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.settled(ctx, op, id)
}

// settled reads the server after its task ended.
func (h *Host) settled(ctx context.Context, op, id string) (proxies.ServerStatus, error) {
	h.setTask(id, "")
	d, err := h.lookup(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.status(d), nil
}

// powerOff shuts the domain down by ACPI, waits up to the shutdown timeout,
// then powers it off hard (as Nova's clean shutdown does).
func (h *Host) powerOff(ctx context.Context, op string, d dom, graceful bool) error {
	if graceful {
		if err := h.do(ctx, op, func(lv *golibvirt.Libvirt) error { return lv.DomainShutdown(d.ref) }); err != nil && !errors.Is(err, proxies.ErrNotFound) {
			h.log.Debug("acpi shutdown refused; powering off", "host", h.name, "domain", d.ref.Name, "err", err)
		}
		deadline := time.NewTimer(h.cfg.ShutdownTimeout)
		defer deadline.Stop()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
	wait:
		for {
			var st int32
			err := h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
				var err error
				st, _, err = lv.DomainGetState(d.ref, 0)
				return err
			})
			if err != nil {
				return err
			}
			if golibvirt.DomainState(st) == golibvirt.DomainShutoff {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-deadline.C:
				break wait
			case <-tick.C:
			}
		}
	}
	return h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
		st, _, err := lv.DomainGetState(d.ref, 0)
		if err != nil || golibvirt.DomainState(st) == golibvirt.DomainShutoff {
			return err
		}
		return lv.DomainDestroy(d.ref)
	})
}

// StopDomain powers off an active (or crashed) server: ACPI first, then
// hard after the shutdown timeout. It returns once the domain is off.
func (h *Host) StopDomain(ctx context.Context, id string) (proxies.ServerStatus, error) {
	const op = "StopServer"
	if err := h.beginTask(op, "stop", id, "powering-off"); err != nil {
		return proxies.ServerStatus{}, err
	}
	defer h.setTask(id, "")
	d, err := h.lookup(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if d.state == golibvirt.DomainShutoff {
		return proxies.ServerStatus{}, conflict(op, "stop", h.status(d))
	}
	if err := h.powerOff(ctx, op, d, d.state == golibvirt.DomainRunning); err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.settled(ctx, op, id)
}

// RebootDomain reboots: SOFT (active only) is a clean shutdown then a power
// on, falling back to a hard power off after the shutdown timeout; HARD
// (also from stopped or crashed) resets a running guest or powers a stopped
// one on.
func (h *Host) RebootDomain(ctx context.Context, id string, kind proxies.RebootKind) (proxies.ServerStatus, error) {
	const op = "RebootServer"
	task := "rebooting"
	if kind == proxies.RebootHard {
		task = "rebooting_hard"
	}
	if err := h.beginTask(op, "reboot", id, task); err != nil {
		return proxies.ServerStatus{}, err
	}
	defer h.setTask(id, "")
	d, err := h.lookup(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	running := d.state == golibvirt.DomainRunning || d.state == golibvirt.DomainBlocked
	switch {
	case kind == proxies.RebootSoft && !running:
		return proxies.ServerStatus{}, conflict(op, "reboot", h.status(d))
	case kind == proxies.RebootHard && running:
		err = h.do(ctx, op, func(lv *golibvirt.Libvirt) error { return lv.DomainReset(d.ref, 0) })
	default:
		if d.state != golibvirt.DomainShutoff {
			if err := h.powerOff(ctx, op, d, kind == proxies.RebootSoft); err != nil {
				return proxies.ServerStatus{}, err
			}
		}
		err = h.do(ctx, op, func(lv *golibvirt.Libvirt) error { return lv.DomainCreate(d.ref) })
	}
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.settled(ctx, op, id)
}

// DestroyDomain powers the domain off, undefines it and removes its disks;
// nil when it was already gone.
func (h *Host) DestroyDomain(ctx context.Context, id string) error {
	const op = "DeleteServer"
	if !validID(id) {
		return nil
	}
	h.setTask(id, "deleting")
	defer h.setTask(id, "")
	err := h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
		ref, err := lv.DomainLookupByName(domainName(id))
		if err != nil {
			return err
		}
		st, _, err := lv.DomainGetState(ref, 0)
		if err != nil {
			return err
		}
		if golibvirt.DomainState(st) != golibvirt.DomainShutoff {
			if err := lv.DomainDestroy(ref); err != nil && !golibvirt.IsNotFound(err) {
				return err
			}
		}
		var ports []string
		if doc, err := lv.DomainGetXMLDesc(ref, 0); err == nil {
			if p, ok, _ := parseDomainXML(doc); ok {
				for _, pm := range p.meta.Ports {
					ports = append(ports, pm.ID)
				}
			}
		}
		if err := lv.DomainUndefineFlags(ref, golibvirt.DomainUndefineManagedSave|golibvirt.DomainUndefineSnapshotsMetadata|golibvirt.DomainUndefineNvram); err != nil {
			return err
		}
		h.undefinePortFilters(lv, ports)
		return nil
	})
	if err != nil && !errors.Is(err, proxies.ErrNotFound) {
		return err
	}
	if err := os.RemoveAll(h.path("domains", id)); err != nil {
		return &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not remove the disks of server " + id, Cause: err}
	}
	return nil
}

// ConsoleLog returns the last lines of the server's serial log file.
func (h *Host) ConsoleLog(ctx context.Context, id string, lines int) (string, error) {
	const op = "ConsoleOutput"
	d, err := h.lookup(ctx, op, id)
	if err != nil {
		return "", err
	}
	path := d.p.console
	if path == "" {
		path = h.path("domains", id, "console.log")
	}
	raw, err := readTail(path, maxConsoleBytes)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not read the console of server " + id, Cause: err}
	}
	return tailLines(string(raw), lines), nil
}

// maxConsoleBytes bounds what ConsoleLog reads of a console log (virtlogd
// rotates the file at its own max_size, 2 MiB by default).
const maxConsoleBytes = 1 << 20

// readTail reads the last n bytes of the file at path.
func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(fi.Size()-n, 0)
	buf := make([]byte, fi.Size()-off)
	k, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:k], nil
}

// tailLines returns the last n lines of s (all when n <= 0), with carriage
// returns dropped, each line ending in a newline.
func tailLines(s string, n int) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	ls := strings.Split(s, "\n")
	if n > 0 && n < len(ls) {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n") + "\n"
}

// SnapshotDomain copies the server's root disk (overlay and base flattened)
// into a self-contained qcow2 image imageID in the host's image cache, so
// the host can boot it at once. A running guest is paused for the copy, so
// the image is consistent.
func (h *Host) SnapshotDomain(ctx context.Context, id, imageID string) (proxies.ImageStatus, error) {
	const op = "SnapshotServer"
	if !validID(imageID) {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "image id %q is not valid", imageID)
	}
	if err := h.beginTask(op, "createImage", id, "image_snapshot"); err != nil {
		return proxies.ImageStatus{}, err
	}
	defer h.setTask(id, "")
	d, err := h.lookup(ctx, op, id)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	dst := h.path("images", imageID)
	st := proxies.ImageStatus{ID: imageID, BottomID: imageID, Location: "file://" + dst, Ready: true}
	if fi, err := os.Stat(dst); err == nil {
		st.Size = fi.Size()
		return st, nil // a retried snapshot
	}
	running := d.state == golibvirt.DomainRunning
	if running {
		if err := h.do(ctx, op, func(lv *golibvirt.Libvirt) error { return lv.DomainSuspend(d.ref) }); err != nil {
			return proxies.ImageStatus{}, err
		}
		defer func() {
			_ = h.do(context.WithoutCancel(ctx), op, func(lv *golibvirt.Libvirt) error { return lv.DomainResume(d.ref) })
		}()
	}
	tmp := dst + ".part"
	if _, err := qemuImg(ctx, "convert", "-U", "-O", "qcow2", d.p.rootDisk, tmp); err != nil {
		_ = os.Remove(tmp)
		return proxies.ImageStatus{}, &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not copy the disk of server " + id, Cause: err}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return proxies.ImageStatus{}, &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not store image " + imageID, Cause: err}
	}
	if fi, err := os.Stat(dst); err == nil {
		st.Size = fi.Size()
	}
	return st, nil
}
