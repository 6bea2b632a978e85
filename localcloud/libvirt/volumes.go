package libvirt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
)

// The host's block volumes are qcow2 files under volumes/, attached to a
// domain as virtio disks whose serial is the volume id (so the guest finds
// them under /dev/disk/by-id/virtio-<id>). The pool's volume store calls
// them (localcloud.VolumeHost) when a volume is attached to a server here.

var _ localcloud.VolumeHost = (*Host)(nil)

// volumePath is the file of volume id.
func (h *Host) volumePath(id string) string { return h.path("volumes", id+".qcow2") }

// CreateVolumeFile makes volume id as an empty qcow2 file of sizeGB GiB.
// Idempotent: an existing file is kept.
func (h *Host) CreateVolumeFile(ctx context.Context, id string, sizeGB int) (string, error) {
	const op = "CreateVolume"
	if !validID(id) || sizeGB < 1 {
		return "", proxies.Errorf(proxies.ErrInvalid, op, "a volume needs a valid id and a size of at least 1 GB")
	}
	path := h.volumePath(id)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := path + ".part"
	if _, err := qemuImg(ctx, "create", "-q", "-f", "qcow2", tmp, strconv.FormatInt(int64(sizeGB)*gib, 10)); err != nil {
		_ = os.Remove(tmp)
		return "", &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not create volume " + id + " on host " + h.name, Cause: err}
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not create volume " + id, Cause: err}
	}
	return path, nil
}

// ResizeVolumeFile grows volume id's file to sizeGB GiB. The volume must be
// detached: qemu-img cannot take the image lock a running guest holds, and
// the refusal comes back as ErrConflict.
func (h *Host) ResizeVolumeFile(ctx context.Context, id string, sizeGB int) error {
	const op = "ExtendVolume"
	if !validID(id) || sizeGB < 1 {
		return proxies.Errorf(proxies.ErrInvalid, op, "a volume needs a valid id and a size of at least 1 GB")
	}
	path := h.volumePath(id)
	if _, err := os.Stat(path); err != nil {
		return proxies.Errorf(proxies.ErrNotFound, op, "volume %s not found on host %s", id, h.name)
	}
	if _, err := qemuImg(ctx, "resize", "-q", "-f", "qcow2", path, strconv.FormatInt(int64(sizeGB)*gib, 10)); err != nil {
		return &proxies.Error{Kind: proxies.ErrConflict, Op: op, Message: "could not grow volume " + id + " on host " + h.name + " (is it in use?)", Cause: err}
	}
	return nil
}

// DeleteVolumeFile removes volume id's file; nil when it is gone.
func (h *Host) DeleteVolumeFile(ctx context.Context, id string) error {
	if !validID(id) {
		return nil
	}
	if err := os.Remove(h.volumePath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return &proxies.Error{Kind: proxies.ErrUnavailable, Op: "DeleteVolume", Message: "could not delete volume " + id, Cause: err}
	}
	return nil
}

// volumeDisk is the disk device of volume id at target dev.
func volumeDisk(path, id, dev string) libvirtxml.DomainDisk {
	serial := id
	if len(serial) > 20 {
		serial = serial[:20] // virtio-blk serials hold 20 bytes
	}
	return libvirtxml.DomainDisk{
		Device: "disk",
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: path}},
		Target: &libvirtxml.DomainDiskTarget{Dev: dev, Bus: "virtio"},
		Serial: serial,
	}
}

// AttachVolumeFile attaches volume id to server serverID as the next free
// virtio disk and returns its device name (/dev/vdb...). Attaching a volume
// the server has returns its device.
func (h *Host) AttachVolumeFile(ctx context.Context, serverID, id string) (string, error) {
	const op = "AttachVolume"
	path := h.volumePath(id)
	if _, err := os.Stat(path); err != nil {
		return "", proxies.Errorf(proxies.ErrNotFound, op, "volume %s not found on host %s", id, h.name)
	}
	d, err := h.lookup(ctx, op, serverID)
	if err != nil {
		return "", err
	}
	for dev, src := range d.p.disks {
		if src == path {
			return "/dev/" + dev, nil
		}
	}
	dev := ""
	for c := 'b'; c <= 'z'; c++ {
		if _, used := d.p.disks[fmt.Sprintf("vd%c", c)]; !used {
			dev = fmt.Sprintf("vd%c", c)
			break
		}
	}
	if dev == "" {
		return "", proxies.Errorf(proxies.ErrCapacity, op, "server %s has no free device name", serverID)
	}
	disk := volumeDisk(path, id, dev)
	doc, err := disk.Marshal()
	if err != nil {
		return "", &proxies.Error{Kind: proxies.ErrInvalid, Op: op, Message: "could not describe volume " + id, Cause: err}
	}
	if err := h.do(ctx, op, func(lv *golibvirt.Libvirt) error { return lv.DomainAttachDeviceFlags(d.ref, doc, deviceFlags(d)) }); err != nil {
		return "", err
	}
	return "/dev/" + dev, nil
}

// DetachVolumeFile detaches volume id from server serverID; nil when it is
// not attached there.
func (h *Host) DetachVolumeFile(ctx context.Context, serverID, id string) error {
	const op = "DetachVolume"
	d, err := h.lookup(ctx, op, serverID)
	if err != nil {
		if errors.Is(err, proxies.ErrNotFound) {
			return nil
		}
		return err
	}
	path := h.volumePath(id)
	for dev, src := range d.p.disks {
		if src != path {
			continue
		}
		disk := volumeDisk(path, id, dev)
		doc, err := disk.Marshal()
		if err != nil {
			return &proxies.Error{Kind: proxies.ErrInvalid, Op: op, Message: "could not describe volume " + id, Cause: err}
		}
		return h.do(ctx, op, func(lv *golibvirt.Libvirt) error { return lv.DomainDetachDeviceFlags(d.ref, doc, deviceFlags(d)) })
	}
	return nil
}
