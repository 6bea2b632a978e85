package libvirt

import (
	"context"
	"os"
	"path/filepath"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/canopy-cloud/canopy/proxies"
)

// ResizeDomain gives server id flavor f on this host, offline: a running
// guest is shut down (cleanly, then hard after the shutdown timeout), its
// definition gets f's vCPUs and memory, its root disk grows to f's size
// (disks never shrink: ErrInvalid), and it is started again. ErrCapacity
// when f does not fit beside the host's other domains. Resizing to the
// flavor the server has is a no-op.
func (h *Host) ResizeDomain(ctx context.Context, id string, f proxies.Flavor) (proxies.ServerStatus, error) {
	const op = "ResizeServer"
	if err := h.beginTask(op, "resize", id, "resize_migrating"); err != nil {
		return proxies.ServerStatus{}, err
	}
	defer h.setTask(id, "")
	d, err := h.lookup(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	old := d.p.meta.Flavor.flavor()
	if old.ID == f.ID && old.VCPUs == f.VCPUs && old.RAMMB == f.RAMMB && old.DiskGB == f.DiskGB {
		return h.settled(ctx, op, id)
	}
	if f.DiskGB < old.DiskGB {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "flavor %s has a smaller disk (%d GB) than the server's (%d GB)", f.Name, f.DiskGB, old.DiskGB)
	}
	if f.RAMMB < 1 {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "flavor %s has no memory", f.ID)
	}
	switch d.state {
	case golibvirt.DomainRunning, golibvirt.DomainBlocked, golibvirt.DomainPaused, golibvirt.DomainShutoff:
	default:
		return proxies.ServerStatus{}, conflict(op, "resize", h.status(d))
	}
	wasRunning := d.state != golibvirt.DomainShutoff
	h.create.Lock()
	defer h.create.Unlock()
	delta := proxies.Flavor{VCPUs: f.VCPUs - old.VCPUs, RAMMB: f.RAMMB - old.RAMMB, DiskGB: f.DiskGB - old.DiskGB}
	if err := h.checkRoom(ctx, op, f, delta); err != nil {
		return proxies.ServerStatus{}, err
	}
	if wasRunning {
		if err := h.powerOff(ctx, op, d, d.state == golibvirt.DomainRunning); err != nil {
			return proxies.ServerStatus{}, err
		}
	}
	if err := growDisk(ctx, d.p.rootDisk, f.DiskGB); err != nil {
		return proxies.ServerStatus{}, &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not grow the disk of server " + id, Cause: err}
	}
	err = h.redefine(ctx, op, d, func(x *libvirtxml.Domain, m *instanceMeta) {
		x.Memory = &libvirtxml.DomainMemory{Value: uint(f.RAMMB), Unit: "MiB"}
		x.CurrentMemory = nil
		x.VCPU = &libvirtxml.DomainVCPU{Value: uint(max(f.VCPUs, 1))}
		m.Flavor = metaFlavor(f)
	}, wasRunning)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.settled(ctx, op, id)
}

// redefine rewrites a stopped domain's persistent definition with mutate and
// starts it again when start is set.
func (h *Host) redefine(ctx context.Context, op string, d dom, mutate func(*libvirtxml.Domain, *instanceMeta), start bool) error {
	return h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
		doc, err := lv.DomainGetXMLDesc(d.ref, golibvirt.DomainXMLInactive)
		if err != nil {
			return err
		}
		next, err := redefineXML(doc, mutate)
		if err != nil {
			return err
		}
		ref, err := lv.DomainDefineXML(next)
		if err != nil {
			return err
		}
		if start {
			return lv.DomainCreate(ref)
		}
		return nil
	})
}

// RebuildDomain gives server id a fresh root disk from spec.ImageID and a
// new config drive (name, metadata, key), keeping its id, flavor and NICs;
// it ends in the power state it had (a crashed server comes back running,
// as Nova's rebuild repairs it).
func (h *Host) RebuildDomain(ctx context.Context, id string, spec proxies.RebuildSpec) (proxies.ServerStatus, error) {
	const op = "RebuildServer"
	if err := h.beginTask(op, "rebuild", id, "rebuilding"); err != nil {
		return proxies.ServerStatus{}, err
	}
	defer h.setTask(id, "")
	d, err := h.lookup(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	wasStopped := d.state == golibvirt.DomainShutoff
	if !wasStopped {
		if err := h.powerOff(ctx, op, d, d.state == golibvirt.DomainRunning); err != nil {
			return proxies.ServerStatus{}, err
		}
	}
	base, info, err := h.baseImage(ctx, op, spec.ImageID)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	dir := h.path("domains", id)
	root := filepath.Join(dir, "root.qcow2")
	tmp := root + ".new"
	if err := createOverlay(ctx, tmp, base, info, d.p.meta.Flavor.DiskGB); err != nil {
		_ = os.Remove(tmp)
		return proxies.ServerStatus{}, &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not create the new root disk", Cause: err}
	}
	if err := os.Rename(tmp, root); err != nil {
		return proxies.ServerStatus{}, &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not replace the root disk", Cause: err}
	}
	nics := make([]proxies.NIC, 0, len(d.p.meta.Ports))
	for _, p := range d.p.meta.Ports {
		nics = append(nics, p.nic())
	}
	seedSpec := proxies.ServerSpec{ID: id, ProjectID: d.p.meta.Project, Name: spec.Name, ImageID: spec.ImageID,
		PublicKey: spec.PublicKey, Metadata: spec.Metadata, NICs: nics}
	if err := h.writeSeed(ctx, op, seedSpec, filepath.Join(dir, "seed.iso")); err != nil {
		return proxies.ServerStatus{}, err
	}
	err = h.redefine(ctx, op, d, func(x *libvirtxml.Domain, m *instanceMeta) {
		m.Image, m.Name = spec.ImageID, spec.Name
		x.Title = spec.Name
	}, !wasStopped)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.settled(ctx, op, id)
}
