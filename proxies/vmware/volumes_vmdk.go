package vmware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vmdk"

	"github.com/canopy-cloud/canopy/proxies"
)

// Plain-VMDK volumes (volume mode vmdk) and snapshots taken as copies (in
// both modes when the vCenter has no CreateDiskFromSnapshot) live as files
// in one datastore folder, named by top id, so a retried create finds its
// file:
//
//	[ds] canopy-volumes/<volume id>.vmdk                      a volume
//	[ds] canopy-volumes/<volume id>.snap.<snapshot id>.vmdk   a snapshot of it
//
// A plain VMDK has no snapshot API of its own, so a snapshot is a copy
// (CopyVirtualDisk) and a volume from it another copy. A copy is staged as
// <name>.part.vmdk (no top id has a dot, so no volume or snapshot is ever
// named so) and moved into place whole. Which VM a volume is
// attached to is read from the VMs in Canopy's folder (the VirtualDisk whose
// backing is the file); the device name is kept in the VM's extraConfig as
// for first-class disks.
const volumeDir = "canopy-volumes"

// fileNameRE is what a top id must look like to name a file (Canopy's ids
// are UUIDs): nothing that could leave the folder or break a datastore path.
var fileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

func volumeFile(id string) string { return volumeDir + "/" + id + ".vmdk" }

func snapshotFile(volumeID, id string) string {
	return volumeDir + "/" + volumeID + ".snap." + id + ".vmdk"
}

const partSuffix = ".part.vmdk"

// partFile is where a copy to file is staged.
func partFile(file string) string { return strings.TrimSuffix(file, ".vmdk") + partSuffix }

// vmdkCache remembers which file a snapshot id is (a miss searches the
// folder).
type vmdkCache struct {
	mu    sync.Mutex
	snaps map[string]string // snapshot id → file, relative to the datastore
}

func (b *Backend) diskManager() *object.VirtualDiskManager { return object.NewVirtualDiskManager(b.vc) }

// waitTask starts a task and waits for it, returning vCenter's error as is
// (so a caller can look at its fault before wrapping it).
func waitTask(ctx context.Context, start func(context.Context) (*object.Task, error)) error {
	task, err := start(ctx)
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}

// findFiles lists the disk files in the volume folder whose names match
// pattern (path.Match syntax); none when the folder does not exist yet.
func (b *Backend) findFiles(ctx context.Context, op, pattern string) ([]string, error) {
	br, err := b.ds.Browser(ctx)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	task, err := br.SearchDatastore(ctx, b.ds.Path(volumeDir), &types.HostDatastoreBrowserSearchSpec{
		MatchPattern: []string{pattern},
		Query:        []types.BaseFileQuery{&types.VmDiskFileQuery{}},
		Details:      &types.FileQueryFlags{FileType: true},
	})
	if err != nil {
		return nil, wrapErr(op, err)
	}
	info, err := task.WaitForResult(ctx, nil)
	if isFault[*types.FileNotFound](err) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapErr(op, err)
	}
	res, _ := info.Result.(types.HostDatastoreBrowserSearchResults)
	var names []string
	for _, f := range res.File {
		names = append(names, path.Base(f.GetFileInfo().Path))
	}
	return names, nil
}

// diskSizeGB reads the descriptor of the disk file rel and returns its
// capacity; ErrNotFound (for kind id) when the file is not there.
func (b *Backend) diskSizeGB(ctx context.Context, op, rel, kind, id string) (int, error) {
	r, _, err := b.ds.Download(ctx, rel, &soap.DefaultDownload)
	if err != nil {
		names, serr := b.findFiles(ctx, op, path.Base(rel))
		if serr == nil && len(names) == 0 {
			return 0, notFound(op, kind, id)
		}
		return 0, wrapErr(op, err)
	}
	defer func() { _ = r.Close() }()
	desc, err := vmdk.ParseDescriptor(io.LimitReader(r, 64<<10))
	if err != nil {
		return 0, errorf(proxies.ErrUnavailable, op, err, "the descriptor of %s %s cannot be read", kind, id)
	}
	return int(desc.Capacity() >> 30), nil
}

// diskUse is a Canopy VM that has a file as one of its disks.
type diskUse struct {
	vm   *object.VirtualMachine
	m    *mo.VirtualMachine
	disk *types.VirtualDisk
}

// diskUser finds the VM in Canopy's folder that has file (a datastore
// path) as a disk; nil when none has.
func (b *Backend) diskUser(ctx context.Context, op, file string) (*diskUse, error) {
	vms, err := b.folderVMs(ctx, op)
	if err != nil {
		return nil, err
	}
	for i := range vms {
		if disk := diskOf(&vms[i], file); disk != nil {
			return &diskUse{vm: object.NewVirtualMachine(b.vc, vms[i].Reference()), m: &vms[i], disk: disk}, nil
		}
	}
	return nil, nil
}

// diskOf is m's VirtualDisk backed by file, or nil.
func diskOf(m *mo.VirtualMachine, file string) *types.VirtualDisk {
	if m.Config == nil {
		return nil
	}
	var want object.DatastorePath
	want.FromString(file)
	for _, d := range m.Config.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		fb, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		var got object.DatastorePath
		if got.FromString(fb.GetVirtualDeviceFileBackingInfo().FileName) && got == want {
			return disk
		}
	}
	return nil
}

// vmdkStatus reports plain-VMDK volume id.
func (b *Backend) vmdkStatus(ctx context.Context, op, id string) (proxies.VolumeStatus, *diskUse, error) {
	if !fileNameRE.MatchString(id) {
		return proxies.VolumeStatus{}, nil, notFound(op, "volume", id)
	}
	size, err := b.diskSizeGB(ctx, op, volumeFile(id), "volume", id)
	if err != nil {
		return proxies.VolumeStatus{}, nil, err
	}
	st := proxies.VolumeStatus{ID: id, BottomID: b.ds.Path(volumeFile(id)), State: proxies.VolumeAvailable, SizeGB: size}
	use, err := b.diskUser(ctx, op, st.BottomID)
	if err != nil || use == nil {
		return st, nil, err
	}
	st.State, st.AttachedTo, st.Device = proxies.VolumeInUse, extra(use.m, keyID), extra(use.m, keyVolPrefix+id)
	return st, use, nil
}

func (b *Backend) ensureVolumeDir(ctx context.Context, op string) error {
	err := object.NewFileManager(b.vc).MakeDirectory(ctx, b.ds.Path(volumeDir), b.dc, true)
	if err != nil && !isFault[*types.FileAlreadyExists](err) {
		return wrapErr(op, err)
	}
	return nil
}

// copyDiskAs makes file (relative to the datastore) a copy of the disk src
// (a datastore path) of at least sizeGB. The copy is staged at
// partFile(file), overwriting whatever an interrupted try left there, grown
// when it is smaller than sizeGB, and only then moved to file: file is
// either absent or whole, so a retry never keeps half a copy. A file that
// is already there (an earlier try finished) is kept as it is.
func (b *Backend) copyDiskAs(ctx context.Context, op, src, file string, sizeGB int) error {
	if _, err := b.diskSizeGB(ctx, op, file, "disk", file); err == nil {
		return nil
	} else if !errors.Is(err, proxies.ErrNotFound) {
		return err
	}
	part := partFile(file)
	err := b.stageCopy(ctx, op, src, part, sizeGB)
	if err == nil {
		err = waitTask(ctx, func(ctx context.Context) (*object.Task, error) {
			return b.diskManager().MoveVirtualDisk(ctx, b.ds.Path(part), b.dc, b.ds.Path(file), b.dc, false)
		})
		if isFault[*types.FileAlreadyExists](err) {
			err = nil // another Canopy process finished the same copy first
		}
		if err == nil {
			return nil
		}
		err = wrapErr(op, err)
	}
	// Best effort: a staged copy left behind is overwritten by the next try.
	_ = waitTask(ctx, func(ctx context.Context) (*object.Task, error) {
		return b.diskManager().DeleteVirtualDisk(ctx, b.ds.Path(part), b.dc)
	})
	return err
}

// stageCopy copies src over part and grows it to sizeGB.
func (b *Backend) stageCopy(ctx context.Context, op, src, part string, sizeGB int) error {
	err := waitTask(ctx, func(ctx context.Context) (*object.Task, error) {
		return b.diskManager().CopyVirtualDisk(ctx, src, b.dc, b.ds.Path(part), b.dc, nil, true)
	})
	if err != nil {
		return wrapErr(op, err)
	}
	size, err := b.diskSizeGB(ctx, op, part, "disk", part)
	if err != nil || size >= sizeGB {
		return err
	}
	return b.extendFile(ctx, op, b.ds.Path(part), sizeGB)
}

// snapshotCopies are the files of volume id's snapshots taken as copies
// (not counting copies still being staged).
func (b *Backend) snapshotCopies(ctx context.Context, op, id string) ([]string, error) {
	names, err := b.findFiles(ctx, op, id+".snap.*.vmdk")
	if err != nil {
		return nil, err
	}
	copies := names[:0]
	for _, n := range names {
		if !strings.HasSuffix(n, partSuffix) {
			copies = append(copies, n)
		}
	}
	return copies, nil
}

func (b *Backend) extendFile(ctx context.Context, op, file string, sizeGB int) error {
	return runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return b.diskManager().ExtendVirtualDisk(ctx, file, b.dc, int64(sizeGB)<<20, nil)
	})
}

func (b *Backend) vmdkCreateVolume(ctx context.Context, op string, spec proxies.VolumeSpec) (proxies.VolumeStatus, error) {
	if !fileNameRE.MatchString(spec.ID) {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "volume id %q cannot name a VMDK file", spec.ID)
	}
	st, _, err := b.vmdkStatus(ctx, op, spec.ID)
	if !errors.Is(err, proxies.ErrNotFound) {
		return st, err // nil: made by an earlier try
	}
	if err := b.ensureVolumeDir(ctx, op); err != nil {
		return proxies.VolumeStatus{}, err
	}
	if err := b.makeVolumeFile(ctx, op, spec); err != nil {
		return proxies.VolumeStatus{}, err
	}
	st, _, err = b.vmdkStatus(ctx, op, spec.ID)
	return st, err
}

// makeVolumeFile makes volume spec.ID's file: a copy of its snapshot's
// file grown to the size asked for, or a new thin disk. A file already
// there (made meanwhile by another Canopy process) is kept.
func (b *Backend) makeVolumeFile(ctx context.Context, op string, spec proxies.VolumeSpec) error {
	if spec.SnapshotID != "" {
		snap, err := b.snapshotForVolume(ctx, op, spec)
		if err != nil {
			return err
		}
		return b.copyDiskAs(ctx, op, snap.BottomID, volumeFile(spec.ID), spec.SizeGB)
	}
	dst := b.ds.Path(volumeFile(spec.ID))
	err := waitTask(ctx, func(ctx context.Context) (*object.Task, error) {
		return b.diskManager().CreateVirtualDisk(ctx, dst, b.dc, &types.FileBackedVirtualDiskSpec{
			VirtualDiskSpec: types.VirtualDiskSpec{DiskType: string(types.VirtualDiskTypeThin), AdapterType: string(types.VirtualDiskAdapterTypeLsiLogic)},
			CapacityKb:      int64(spec.SizeGB) << 20,
		})
	})
	if isFault[*types.FileAlreadyExists](err) {
		return nil
	}
	return wrapErr(op, err)
}

// snapshotForVolume finds the snapshot (taken as a copy) that spec makes a
// volume from and checks that the volume is not smaller than it.
func (b *Backend) snapshotForVolume(ctx context.Context, op string, spec proxies.VolumeSpec) (proxies.SnapshotStatus, error) {
	snap, err := b.findCopySnapshot(ctx, op, spec.SnapshotID)
	if err != nil {
		return proxies.SnapshotStatus{}, err
	}
	if spec.SizeGB < snap.SizeGB {
		return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "volume size %d GB is smaller than snapshot %s (%d GB)", spec.SizeGB, spec.SnapshotID, snap.SizeGB)
	}
	return snap, nil
}

func (b *Backend) vmdkDeleteVolume(ctx context.Context, op, id string) error {
	st, use, err := b.vmdkStatus(ctx, op, id)
	if errors.Is(err, proxies.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if use != nil {
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached", id)
	}
	if snaps, err := b.snapshotCopies(ctx, op, id); err != nil {
		return err
	} else if len(snaps) > 0 {
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s has %d snapshots", id, len(snaps))
	}
	err = runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return b.diskManager().DeleteVirtualDisk(ctx, st.BottomID, b.dc)
	})
	if errors.Is(err, proxies.ErrNotFound) {
		return nil
	}
	return err
}

func (b *Backend) vmdkExtendVolume(ctx context.Context, op, id string, newSizeGB int) (proxies.VolumeStatus, error) {
	st, use, err := b.vmdkStatus(ctx, op, id)
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	if newSizeGB <= st.SizeGB {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "volume %s is already %d GB; the new size must be larger", id, st.SizeGB)
	}
	if use != nil {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached; detach it to extend it", id)
	}
	if err := b.extendFile(ctx, op, st.BottomID, newSizeGB); err != nil {
		return proxies.VolumeStatus{}, err
	}
	st, _, err = b.vmdkStatus(ctx, op, id)
	return st, err
}

// vmdkAttachVolume adds a VirtualDisk backed by the volume's file (no file
// operation: the file is neither made nor touched) and records the device,
// in one reconfigure.
func (b *Backend) vmdkAttachVolume(ctx context.Context, op, volumeID, serverID string) (string, error) {
	st, use, err := b.vmdkStatus(ctx, op, volumeID)
	if err != nil {
		return "", err
	}
	vm, m, err := b.findVM(ctx, op, serverID)
	if err != nil {
		return "", err
	}
	if use != nil {
		if use.vm.Reference() == vm.Reference() {
			if dev := extra(use.m, keyVolPrefix+volumeID); dev != "" {
				return dev, nil
			}
			return b.recordDevice(ctx, op, vm, volumeID, use.disk)
		}
		return "", proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached to another server", volumeID)
	}
	devices := object.VirtualDeviceList(m.Config.Hardware.Device)
	ctrl, err := devices.FindSCSIController("")
	if err != nil {
		return "", proxies.Errorf(proxies.ErrConflict, op, "server %s has no SCSI controller to attach volumes to", serverID)
	}
	unit, err := freeUnit(devices, ctrl.GetVirtualController().Key, m)
	if err != nil {
		return "", errorf(proxies.ErrCapacity, op, err, "server %s has no free disk slot", serverID)
	}
	disk := devices.CreateDisk(ctrl, b.ds.Reference(), st.BottomID)
	disk.CapacityInKB = int64(st.SizeGB) << 20
	disk.UnitNumber = &unit
	device := fmt.Sprintf("/dev/sd%c", 'a'+unit)
	err = runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{
			DeviceChange: []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{
				Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: disk,
			}},
			ExtraConfig: []types.BaseOptionValue{opt(keyVolPrefix+volumeID, device)},
		})
	})
	return device, err
}

// recordDevice records the device of a disk attached without a record (a
// crash between the two steps of an older attach).
func (b *Backend) recordDevice(ctx context.Context, op string, vm *object.VirtualMachine, volumeID string, disk *types.VirtualDisk) (string, error) {
	unit := int32(0)
	if disk.UnitNumber != nil {
		unit = *disk.UnitNumber
	}
	device := fmt.Sprintf("/dev/sd%c", 'a'+unit)
	err := runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{opt(keyVolPrefix+volumeID, device)}})
	})
	return device, err
}

// vmdkDetachVolume removes the disk, keeping its file, and the record.
func (b *Backend) vmdkDetachVolume(ctx context.Context, op, volumeID string) error {
	_, use, err := b.vmdkStatus(ctx, op, volumeID)
	if err != nil || use == nil {
		return err
	}
	return b.detachFile(ctx, op, use.vm, volumeID, use.disk)
}

// detachFile removes disk from vm without touching its file (no file
// operation: the VMDK stays) and clears volumeID's record.
func (b *Backend) detachFile(ctx context.Context, op string, vm *object.VirtualMachine, volumeID string, disk *types.VirtualDisk) error {
	spec := types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{
		Operation: types.VirtualDeviceConfigSpecOperationRemove, Device: disk,
	}}}
	if volumeID != "" {
		spec.ExtraConfig = []types.BaseOptionValue{opt(keyVolPrefix+volumeID, "")}
	}
	return runTask(ctx, op, func(ctx context.Context) (*object.Task, error) { return vm.Reconfigure(ctx, spec) })
}

// volumeDisks are m's disks whose files are in the volume folder, by the
// volume id their file is named after: the disks a server's delete must
// detach first, since destroying a VM deletes every disk it has.
func (b *Backend) volumeDisks(m *mo.VirtualMachine) map[string]*types.VirtualDisk {
	out := map[string]*types.VirtualDisk{}
	if m.Config == nil {
		return out
	}
	for _, d := range m.Config.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		fb, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		var p object.DatastorePath
		if !p.FromString(fb.GetVirtualDeviceFileBackingInfo().FileName) || path.Dir(p.Path) != volumeDir {
			continue
		}
		id := path.Base(p.Path)
		id = id[:len(id)-len(path.Ext(id))]
		out[id] = disk
	}
	return out
}

// copySnapshot is a snapshot taken as a copy of its volume's file.
func (b *Backend) copySnapshotStatus(ctx context.Context, op, id, file string) (proxies.SnapshotStatus, error) {
	size, err := b.diskSizeGB(ctx, op, file, "snapshot", id)
	if err != nil {
		return proxies.SnapshotStatus{}, err
	}
	base := path.Base(file)
	volumeID := base[:len(base)-len(".snap."+id+".vmdk")]
	return proxies.SnapshotStatus{ID: id, BottomID: b.ds.Path(file), VolumeID: volumeID,
		State: proxies.VolumeAvailable, SizeGB: size}, nil
}

// findCopySnapshot finds snapshot id's file (the cache, else a search of
// the folder).
func (b *Backend) findCopySnapshot(ctx context.Context, op, id string) (proxies.SnapshotStatus, error) {
	if !fileNameRE.MatchString(id) {
		return proxies.SnapshotStatus{}, notFound(op, "snapshot", id)
	}
	b.vmdks.mu.Lock()
	file, ok := b.vmdks.snaps[id]
	b.vmdks.mu.Unlock()
	if ok {
		st, err := b.copySnapshotStatus(ctx, op, id, file)
		if !errors.Is(err, proxies.ErrNotFound) {
			return st, err
		}
		b.vmdks.mu.Lock()
		delete(b.vmdks.snaps, id)
		b.vmdks.mu.Unlock()
	}
	names, err := b.findFiles(ctx, op, "*.snap."+id+".vmdk")
	if err != nil {
		return proxies.SnapshotStatus{}, err
	}
	if len(names) == 0 {
		return proxies.SnapshotStatus{}, notFound(op, "snapshot", id)
	}
	// One copy per snapshot id: the first match is it.
	found := volumeDir + "/" + names[0]
	st, err := b.copySnapshotStatus(ctx, op, id, found)
	if err == nil {
		b.vmdks.mu.Lock()
		b.vmdks.snaps[id] = found
		b.vmdks.mu.Unlock()
	}
	return st, err
}

// createCopySnapshot copies the volume's file src (a datastore path) to
// the snapshot's file, of the volume's size sizeGB (a first-class disk's
// capacity is its record's, which a file copied from it is grown to).
// attached says whether the volume is in use (then only with Force; a
// vCenter may still refuse to copy a disk a running VM holds, which is
// ErrConflict).
func (b *Backend) createCopySnapshot(ctx context.Context, op string, spec proxies.SnapshotSpec, src string, sizeGB int, attached bool) (proxies.SnapshotStatus, error) {
	if !fileNameRE.MatchString(spec.ID) {
		return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "snapshot id %q cannot name a VMDK file", spec.ID)
	}
	if st, err := b.findCopySnapshot(ctx, op, spec.ID); err == nil {
		return st, nil
	} else if !errors.Is(err, proxies.ErrNotFound) {
		return proxies.SnapshotStatus{}, err
	}
	if attached && !spec.Force {
		return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached; snapshot it with force", spec.VolumeID)
	}
	if err := b.ensureVolumeDir(ctx, op); err != nil {
		return proxies.SnapshotStatus{}, err
	}
	file := snapshotFile(spec.VolumeID, spec.ID)
	if err := b.copyDiskAs(ctx, op, src, file, sizeGB); err != nil {
		return proxies.SnapshotStatus{}, err
	}
	st, err := b.copySnapshotStatus(ctx, op, spec.ID, file)
	if err == nil {
		b.vmdks.mu.Lock()
		b.vmdks.snaps[spec.ID] = file
		b.vmdks.mu.Unlock()
	}
	return st, err
}

// deleteCopySnapshot deletes snapshot id's file; nil when it is gone.
func (b *Backend) deleteCopySnapshot(ctx context.Context, op, id string) error {
	st, err := b.findCopySnapshot(ctx, op, id)
	if errors.Is(err, proxies.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	err = runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return b.diskManager().DeleteVirtualDisk(ctx, st.BottomID, b.dc)
	})
	b.vmdks.mu.Lock()
	delete(b.vmdks.snaps, id)
	b.vmdks.mu.Unlock()
	if errors.Is(err, proxies.ErrNotFound) {
		return nil
	}
	return err
}
