package vmware

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vslm"

	"github.com/canopy-cloud/canopy/proxies"
)

// Names and keys of Canopy's first-class disks.
const (
	volumePrefix   = "canopy-vol-"  // FCD name: canopy-vol-<top id>
	snapshotPrefix = "canopy-snap-" // FCD snapshot description: canopy-snap-<top id>
	keyVolPrefix   = "canopy.vol."  // on a VM: canopy.vol.<volume id> = device
)

// volumes is the Backend's VolumeDriver: volumes are first-class disks
// (vslm) on the configured datastore, or plain VMDK files in volume mode
// vmdk (volumes_vmdk.go).
type volumes Backend

// fcdCache remembers where a top id's disk and snapshots are; a miss (or a
// stale entry) falls back to listing the datastore's disks.
type fcdCache struct {
	mu    sync.Mutex
	disks map[string]string    // volume id → FCD id
	snaps map[string][2]string // snapshot id → FCD id, FCD snapshot id
}

// Volumes drives first-class disks.
func (b *Backend) Volumes() proxies.VolumeDriver { return (*volumes)(b) }

func (b *Backend) fcdManager() *vslm.ObjectManager { return vslm.NewObjectManager(b.vc) }

// findDisk finds volume id's FCD.
func (b *Backend) findDisk(ctx context.Context, op, id string) (*types.VStorageObject, error) {
	m := b.fcdManager()
	b.fcds.mu.Lock()
	fid, ok := b.fcds.disks[id]
	b.fcds.mu.Unlock()
	if ok {
		if obj, err := m.Retrieve(ctx, b.ds, fid); err == nil && obj.Config.Name == volumePrefix+id {
			return obj, nil
		}
	}
	ids, err := m.List(ctx, b.ds)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	for _, fid := range ids {
		obj, err := m.Retrieve(ctx, b.ds, fid.Id)
		if err != nil {
			continue // deleted meanwhile
		}
		if strings.HasPrefix(obj.Config.Name, volumePrefix) {
			b.fcds.mu.Lock()
			b.fcds.disks[strings.TrimPrefix(obj.Config.Name, volumePrefix)] = fid.Id
			b.fcds.mu.Unlock()
		}
		if obj.Config.Name == volumePrefix+id {
			return obj, nil
		}
	}
	return nil, notFound(op, "volume", id)
}

// volumeStatus is the VolumeStatus of a disk; the consumer VM, if any, is
// looked up for the server's top id and the device.
func (b *Backend) volumeStatus(ctx context.Context, op, id string, obj *types.VStorageObject) (proxies.VolumeStatus, error) {
	st := proxies.VolumeStatus{ID: id, BottomID: obj.Config.Id.Id, State: proxies.VolumeAvailable,
		SizeGB: int(obj.Config.CapacityInMB >> 10), CreatedAt: obj.Config.CreateTime.UTC()}
	if len(obj.Config.ConsumerId) == 0 {
		return st, nil
	}
	st.State = proxies.VolumeInUse
	ref, err := object.NewSearchIndex(b.vc).FindByUuid(ctx, b.dc, obj.Config.ConsumerId[0].Id, true, nil)
	if err != nil {
		return st, wrapErr(op, err)
	}
	if ref == nil {
		return st, nil // attached to a VM that is not Canopy's
	}
	var m mo.VirtualMachine
	if err := object.NewVirtualMachine(b.vc, ref.Reference()).Properties(ctx, ref.Reference(), []string{"config.extraConfig"}, &m); err != nil {
		return st, wrapErr(op, err)
	}
	st.AttachedTo, st.Device = extra(&m, keyID), extra(&m, keyVolPrefix+id)
	return st, nil
}

// CreateVolume makes a blank disk, or one from a snapshot (with
// CreateDiskFromSnapshot where the vCenter has it, else from the snapshot's
// copy) grown to the size asked for. Idempotent by name: a retry finds the
// disk an earlier try made, and finishes growing it.
func (d *volumes) CreateVolume(ctx context.Context, spec proxies.VolumeSpec) (proxies.VolumeStatus, error) {
	const op = "CreateVolume"
	b := (*Backend)(d)
	if spec.ID == "" || spec.SizeGB <= 0 {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a volume needs an id and a positive size")
	}
	if spec.ImageID != "" || spec.SourceVolumeID != "" {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrNotSupported, op, "volumes from images or other volumes are not supported by the vSphere cloud")
	}
	defer b.lockID(spec.ID)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if b.volMode == VolumesVMDK {
		return b.vmdkCreateVolume(ctx, op, spec)
	}
	obj, err := b.findDisk(ctx, op, spec.ID)
	switch {
	case err == nil: // made by an earlier try
	case !errors.Is(err, proxies.ErrNotFound):
		return proxies.VolumeStatus{}, err
	case spec.SnapshotID == "":
		obj, err = b.createDisk(ctx, op, spec)
	case b.nativeSnaps:
		obj, err = b.diskFromSnapshot(ctx, op, spec)
	default:
		obj, err = b.diskFromCopy(ctx, op, spec)
	}
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	b.fcds.mu.Lock()
	b.fcds.disks[spec.ID] = obj.Config.Id.Id
	b.fcds.mu.Unlock()
	if spec.SnapshotID != "" {
		if obj, err = b.growDisk(ctx, op, obj, spec.SizeGB); err != nil {
			return proxies.VolumeStatus{}, err
		}
	}
	return b.volumeStatus(ctx, op, spec.ID, obj)
}

// createDisk makes a blank thin disk.
func (b *Backend) createDisk(ctx context.Context, op string, spec proxies.VolumeSpec) (*types.VStorageObject, error) {
	task, err := b.fcdManager().CreateDisk(ctx, types.VslmCreateSpec{
		Name: volumePrefix + spec.ID, CapacityInMB: int64(spec.SizeGB) << 10, KeepAfterDeleteVm: types.NewBool(true),
		BackingSpec: &types.VslmCreateSpecDiskFileBackingSpec{
			VslmCreateSpecBackingSpec: types.VslmCreateSpecBackingSpec{Datastore: b.ds.Reference()},
			ProvisioningType:          string(types.BaseConfigInfoDiskFileBackingInfoProvisioningTypeThin),
		},
	})
	if err != nil {
		return nil, wrapErr(op, err)
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return diskResult(op, spec.ID, info.Result)
}

// diskResult is the disk a create task returned.
func diskResult(op, id string, res types.AnyType) (*types.VStorageObject, error) {
	obj, ok := res.(types.VStorageObject)
	if !ok {
		return nil, proxies.Errorf(proxies.ErrUnavailable, op, "vCenter returned no disk for volume %s", id)
	}
	return &obj, nil
}

// growDisk extends a detached disk made from a snapshot to sizeGB when it
// is smaller: a volume may be larger than its snapshot, and a retry
// finishes an extend that a crash cut short.
func (b *Backend) growDisk(ctx context.Context, op string, obj *types.VStorageObject, sizeGB int) (*types.VStorageObject, error) {
	if int64(sizeGB)<<10 <= obj.Config.CapacityInMB || len(obj.Config.ConsumerId) > 0 {
		return obj, nil
	}
	m := b.fcdManager()
	err := runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return m.ExtendDisk(ctx, b.ds, obj.Config.Id.Id, int64(sizeGB)<<10)
	})
	if err != nil {
		return nil, err
	}
	grown, err := m.Retrieve(ctx, b.ds, obj.Config.Id.Id)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return grown, nil
}

// diskFromCopy makes the disk of a volume from a snapshot taken as a copy
// (a vCenter without CreateDiskFromSnapshot): another copy of the
// snapshot's file, grown to the size asked for and registered as a
// first-class disk. A retry after the copy registers the copy it made.
func (b *Backend) diskFromCopy(ctx context.Context, op string, spec proxies.VolumeSpec) (*types.VStorageObject, error) {
	if !fileNameRE.MatchString(spec.ID) {
		return nil, proxies.Errorf(proxies.ErrInvalid, op, "volume id %q cannot name a VMDK file", spec.ID)
	}
	snap, err := b.snapshotForVolume(ctx, op, spec)
	if err != nil {
		return nil, err
	}
	if err := b.ensureVolumeDir(ctx, op); err != nil {
		return nil, err
	}
	if err := b.copyDiskAs(ctx, op, snap.BottomID, volumeFile(spec.ID), spec.SizeGB); err != nil {
		return nil, err
	}
	obj, err := b.fcdManager().RegisterDisk(ctx, b.ds.NewURL(volumeFile(spec.ID)).String(), volumePrefix+spec.ID)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return obj, nil
}

// diskFromSnapshot runs CreateDiskFromSnapshot (vSphere 6.7+).
func (b *Backend) diskFromSnapshot(ctx context.Context, op string, spec proxies.VolumeSpec) (*types.VStorageObject, error) {
	snap, err := b.findSnapshot(ctx, op, spec.SnapshotID)
	if err != nil {
		return nil, err
	}
	if spec.SizeGB < snap.SizeGB {
		return nil, proxies.Errorf(proxies.ErrInvalid, op, "volume size %d GB is smaller than snapshot %s (%d GB)", spec.SizeGB, spec.SnapshotID, snap.SizeGB)
	}
	res, err := methods.CreateDiskFromSnapshot_Task(ctx, b.vc, &types.CreateDiskFromSnapshot_Task{
		This: *b.vc.ServiceContent.VStorageObjectManager, Id: types.ID{Id: snap.fcd}, Datastore: b.ds.Reference(),
		SnapshotId: types.ID{Id: snap.fcdSnap}, Name: volumePrefix + spec.ID,
	})
	if err != nil {
		return nil, wrapErr(op, err)
	}
	info, err := object.NewTask(b.vc, res.Returnval).WaitForResult(ctx, nil)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return diskResult(op, spec.ID, info.Result)
}

// GetVolume reports volume id.
func (d *volumes) GetVolume(ctx context.Context, id string) (proxies.VolumeStatus, error) {
	const op = "GetVolume"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if b.volMode == VolumesVMDK {
		st, _, err := b.vmdkStatus(ctx, op, id)
		return st, err
	}
	obj, err := b.findDisk(ctx, op, id)
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	return b.volumeStatus(ctx, op, id, obj)
}

// DeleteVolume deletes a detached disk without snapshots; nil when gone.
func (d *volumes) DeleteVolume(ctx context.Context, id string) error {
	const op = "DeleteVolume"
	b := (*Backend)(d)
	defer b.lockID(id)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if b.volMode == VolumesVMDK {
		return b.vmdkDeleteVolume(ctx, op, id)
	}
	obj, err := b.findDisk(ctx, op, id)
	if errors.Is(err, proxies.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(obj.Config.ConsumerId) > 0 {
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached", id)
	}
	m := b.fcdManager()
	info, err := m.RetrieveSnapshotInfo(ctx, b.ds, obj.Config.Id.Id)
	if err != nil {
		return wrapErr(op, err)
	}
	if len(info.Snapshots) > 0 {
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s has %d snapshots", id, len(info.Snapshots))
	}
	if !b.nativeSnaps && fileNameRE.MatchString(id) {
		if copies, err := b.snapshotCopies(ctx, op, id); err != nil {
			return err
		} else if len(copies) > 0 {
			return proxies.Errorf(proxies.ErrConflict, op, "volume %s has %d snapshots", id, len(copies))
		}
	}
	return runTask(ctx, op, func(ctx context.Context) (*object.Task, error) { return m.Delete(ctx, b.ds, obj.Config.Id.Id) })
}

// ExtendVolume grows a detached disk.
func (d *volumes) ExtendVolume(ctx context.Context, id string, newSizeGB int) (proxies.VolumeStatus, error) {
	const op = "ExtendVolume"
	b := (*Backend)(d)
	defer b.lockID(id)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if b.volMode == VolumesVMDK {
		return b.vmdkExtendVolume(ctx, op, id, newSizeGB)
	}
	obj, err := b.findDisk(ctx, op, id)
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	if int64(newSizeGB)<<10 <= obj.Config.CapacityInMB {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "volume %s is already %d GB; the new size must be larger", id, obj.Config.CapacityInMB>>10)
	}
	if len(obj.Config.ConsumerId) > 0 {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached; detach it to extend it", id)
	}
	m := b.fcdManager()
	err = runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return m.ExtendDisk(ctx, b.ds, obj.Config.Id.Id, int64(newSizeGB)<<10)
	})
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	if obj, err = m.Retrieve(ctx, b.ds, obj.Config.Id.Id); err != nil {
		return proxies.VolumeStatus{}, wrapErr(op, err)
	}
	return b.volumeStatus(ctx, op, id, obj)
}

// snapshotRef is a Canopy snapshot found on a disk.
type snapshotRef struct {
	proxies.SnapshotStatus
	fcd, fcdSnap string
}

// findSnapshot finds snapshot id among the Canopy disks' snapshots.
func (b *Backend) findSnapshot(ctx context.Context, op, id string) (snapshotRef, error) {
	m := b.fcdManager()
	b.fcds.mu.Lock()
	cached, ok := b.fcds.snaps[id]
	vols := make(map[string]string, len(b.fcds.disks))
	for v, f := range b.fcds.disks {
		vols[f] = v
	}
	b.fcds.mu.Unlock()
	var fcds []string
	if ok {
		fcds = []string{cached[0]}
	} else {
		ids, err := m.List(ctx, b.ds)
		if err != nil {
			return snapshotRef{}, wrapErr(op, err)
		}
		for _, f := range ids {
			fcds = append(fcds, f.Id)
		}
	}
	for _, fid := range fcds {
		obj, err := m.Retrieve(ctx, b.ds, fid)
		if err != nil || !strings.HasPrefix(obj.Config.Name, volumePrefix) {
			continue
		}
		info, err := m.RetrieveSnapshotInfo(ctx, b.ds, fid)
		if err != nil {
			continue
		}
		for _, s := range info.Snapshots {
			if s.Description == snapshotPrefix+id && s.Id != nil {
				b.fcds.mu.Lock()
				b.fcds.snaps[id] = [2]string{fid, s.Id.Id}
				b.fcds.mu.Unlock()
				return snapshotRef{SnapshotStatus: proxies.SnapshotStatus{ID: id, BottomID: s.Id.Id,
					VolumeID: strings.TrimPrefix(obj.Config.Name, volumePrefix), State: proxies.VolumeAvailable,
					SizeGB: int(obj.Config.CapacityInMB >> 10)}, fcd: fid, fcdSnap: s.Id.Id}, nil
			}
		}
	}
	if ok { // stale cache entry: look everywhere once
		b.fcds.mu.Lock()
		delete(b.fcds.snaps, id)
		b.fcds.mu.Unlock()
		return b.findSnapshot(ctx, op, id)
	}
	return snapshotRef{}, notFound(op, "snapshot", id)
}

// CreateSnapshot snapshots a disk (attached ones only with Force).
func (d *volumes) CreateSnapshot(ctx context.Context, spec proxies.SnapshotSpec) (proxies.SnapshotStatus, error) {
	const op = "CreateSnapshot"
	b := (*Backend)(d)
	if spec.ID == "" || spec.VolumeID == "" {
		return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a snapshot needs an id and a volume")
	}
	defer b.lockID(spec.VolumeID)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	switch {
	case b.volMode == VolumesVMDK:
		vol, use, err := b.vmdkStatus(ctx, op, spec.VolumeID)
		if err != nil {
			return proxies.SnapshotStatus{}, err
		}
		return b.createCopySnapshot(ctx, op, spec, vol.BottomID, vol.SizeGB, use != nil)
	case !b.nativeSnaps:
		obj, err := b.findDisk(ctx, op, spec.VolumeID)
		if err != nil {
			return proxies.SnapshotStatus{}, err
		}
		fb, ok := obj.Config.Backing.(*types.BaseConfigInfoDiskFileBackingInfo)
		if !ok {
			return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrNotSupported, op, "volume %s is not file-backed; this vCenter can only snapshot file-backed disks", spec.VolumeID)
		}
		return b.createCopySnapshot(ctx, op, spec, fb.FilePath, int(obj.Config.CapacityInMB>>10), len(obj.Config.ConsumerId) > 0)
	}
	if s, err := b.findSnapshot(ctx, op, spec.ID); err == nil {
		return s.SnapshotStatus, nil
	}
	obj, err := b.findDisk(ctx, op, spec.VolumeID)
	if err != nil {
		return proxies.SnapshotStatus{}, err
	}
	if len(obj.Config.ConsumerId) > 0 && !spec.Force {
		return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached; snapshot it with force", spec.VolumeID)
	}
	task, err := b.fcdManager().CreateSnapshot(ctx, b.ds, obj.Config.Id.Id, snapshotPrefix+spec.ID)
	if err != nil {
		return proxies.SnapshotStatus{}, wrapErr(op, err)
	}
	if err := task.Wait(ctx); err != nil {
		return proxies.SnapshotStatus{}, wrapErr(op, err)
	}
	s, err := b.findSnapshot(ctx, op, spec.ID)
	return s.SnapshotStatus, err
}

// GetSnapshot reports snapshot id.
func (d *volumes) GetSnapshot(ctx context.Context, id string) (proxies.SnapshotStatus, error) {
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if b.volMode == VolumesVMDK || !b.nativeSnaps {
		return b.findCopySnapshot(ctx, "GetSnapshot", id)
	}
	s, err := b.findSnapshot(ctx, "GetSnapshot", id)
	return s.SnapshotStatus, err
}

// DeleteSnapshot deletes a snapshot; nil when gone.
func (d *volumes) DeleteSnapshot(ctx context.Context, id string) error {
	const op = "DeleteSnapshot"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if b.volMode == VolumesVMDK || !b.nativeSnaps {
		return b.deleteCopySnapshot(ctx, op, id)
	}
	s, err := b.findSnapshot(ctx, op, id)
	if errors.Is(err, proxies.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	err = runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return b.fcdManager().DeleteSnapshot(ctx, b.ds, s.fcd, s.fcdSnap)
	})
	if err == nil {
		b.fcds.mu.Lock()
		delete(b.fcds.snaps, id)
		b.fcds.mu.Unlock()
	}
	return err
}

// AttachVolume attaches the disk to server serverID's first SCSI
// controller at the next free unit and records the device in the VM's
// extraConfig. Attaching it again to the same server returns the device.
func (d *volumes) AttachVolume(ctx context.Context, volumeID, serverID string) (string, error) {
	const op = "AttachVolume"
	b := (*Backend)(d)
	// The volume's lock first, then the server's (a server's own calls
	// take only the server's): two attaches of one volume cannot race.
	defer b.lockID(volumeID)()
	defer b.lockID(serverID)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if b.volMode == VolumesVMDK {
		return b.vmdkAttachVolume(ctx, op, volumeID, serverID)
	}
	obj, err := b.findDisk(ctx, op, volumeID)
	if err != nil {
		return "", err
	}
	vm, m, err := b.findVM(ctx, op, serverID)
	if err != nil {
		return "", err
	}
	if len(obj.Config.ConsumerId) > 0 {
		if dev := extra(m, keyVolPrefix+volumeID); dev != "" && obj.Config.ConsumerId[0].Id == m.Config.Uuid {
			return dev, nil
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
	device := fmt.Sprintf("/dev/sd%c", 'a'+unit)
	if err := vm.AttachDisk(ctx, obj.Config.Id.Id, b.ds, ctrl.GetVirtualController().Key, &unit); err != nil {
		return "", wrapErr(op, err)
	}
	err = runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{opt(keyVolPrefix+volumeID, device)}})
	})
	return device, err
}

// freeUnit is the lowest SCSI unit on controller key that no disk and no
// recorded volume uses (7 is the controller's own).
func freeUnit(devices object.VirtualDeviceList, key int32, m *mo.VirtualMachine) (int32, error) {
	used := map[int32]bool{}
	for _, o := range m.Config.ExtraConfig {
		ov := o.GetOptionValue()
		dev, _ := ov.Value.(string)
		if strings.HasPrefix(ov.Key, keyVolPrefix) && len(dev) == len("/dev/sda") {
			used[int32(dev[len(dev)-1]-'a')] = true
		}
	}
	for _, d := range devices {
		vd := d.GetVirtualDevice()
		if vd.ControllerKey == key && vd.UnitNumber != nil {
			used[*vd.UnitNumber] = true
		}
	}
	for u := int32(0); u < 16; u++ {
		if u != 7 && !used[u] {
			return u, nil
		}
	}
	return 0, errors.New("all 15 units are used")
}

// DetachVolume detaches the disk from its VM; nil when it is not attached.
func (d *volumes) DetachVolume(ctx context.Context, volumeID string) error {
	const op = "DetachVolume"
	b := (*Backend)(d)
	defer b.lockID(volumeID)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if b.volMode == VolumesVMDK {
		return b.vmdkDetachVolume(ctx, op, volumeID)
	}
	obj, err := b.findDisk(ctx, op, volumeID)
	if err != nil || len(obj.Config.ConsumerId) == 0 {
		return err
	}
	ref, err := object.NewSearchIndex(b.vc).FindByUuid(ctx, b.dc, obj.Config.ConsumerId[0].Id, true, nil)
	if err != nil {
		return wrapErr(op, err)
	}
	if ref == nil {
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached to a VM Canopy cannot find", volumeID)
	}
	vm := object.NewVirtualMachine(b.vc, ref.Reference())
	if err := vm.DetachDisk(ctx, obj.Config.Id.Id); err != nil {
		return wrapErr(op, err)
	}
	return runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{opt(keyVolPrefix+volumeID, "")}})
	})
}
