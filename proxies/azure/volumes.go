package azure

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/canopy-cloud/canopy/proxies"
)

type volumes Backend

func volName(id string) string  { return "canopy-vol-" + id }
func snapName(id string) string { return "canopy-snap-" + id }

// lunDevice is the stable device path of a data disk on an Azure Linux VM.
func lunDevice(lun int32) string { return fmt.Sprintf("/dev/disk/azure/scsi1/lun%d", lun) }

func (b *Backend) skuFor(op, volumeType string) (armcompute.DiskStorageAccountTypes, error) {
	if s, ok := b.cfg.VolumeTypeMap[volumeType]; ok {
		return diskSKU(s), nil
	}
	if volumeType == "" || strings.EqualFold(volumeType, "__DEFAULT__") {
		return armcompute.DiskStorageAccountTypesStandardSSDLRS, nil
	}
	if s := diskSKU(volumeType); s != "" {
		return s, nil
	}
	return "", proxies.Errorf(proxies.ErrInvalid, op, "volume type %q has no Azure disk SKU; map it in azure.volume_type_map", volumeType)
}

func (d *volumes) CreateVolume(ctx context.Context, spec proxies.VolumeSpec) (proxies.VolumeStatus, error) {
	const op = "CreateVolume"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if spec.SizeGB <= 0 {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a volume needs a positive size")
	}
	if spec.ImageID != "" || spec.SourceVolumeID != "" {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrNotSupported, op, "the Azure cloud makes volumes blank or from a snapshot only")
	}
	sku, err := b.skuFor(op, spec.VolumeType)
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	loc, zone, err := b.placement(spec.AvailabilityZone)
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	cd := &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}
	if spec.SnapshotID != "" {
		srg := b.lookupRG(ctx, "snap", spec.SnapshotID)
		if srg == "" {
			return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "snapshot %s is not in this Azure cloud", spec.SnapshotID)
		}
		cd = &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy),
			SourceResourceID: to.Ptr(fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/snapshots/%s", b.cfg.SubscriptionID, srg, snapName(spec.SnapshotID)))}
	}
	rg, err := b.ensureRG(ctx, op, spec.ProjectID)
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	b.remember(ctx, "vol", spec.ID, rg)
	disk := armcompute.Disk{Location: &loc, Tags: b.tags(spec.ID, spec.ProjectID), SKU: &armcompute.DiskSKU{Name: to.Ptr(sku)},
		Properties: &armcompute.DiskProperties{CreationData: cd, DiskSizeGB: to.Ptr(int32(spec.SizeGB))}}
	if zone != "" {
		disk.Zones = []*string{to.Ptr(zone)}
	}
	res, err := run(ctx, b, spec.ID+"/disk", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.DisksClientCreateOrUpdateResponse], error) {
		return b.disks.BeginCreateOrUpdate(ctx, rg, volName(spec.ID), disk, &armcompute.DisksClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		if errors.Is(mapErr(op, "", err), proxies.ErrNotFound) && spec.SnapshotID == "" {
			b.forget(ctx, "vol", spec.ID)
		}
		return proxies.VolumeStatus{}, mapErr(op, "the disk could not be created", err)
	}
	return b.volumeStatus(ctx, spec.ID, &res.Disk), nil
}

// volumeStatus maps a managed disk to Canopy's view.
func (b *Backend) volumeStatus(ctx context.Context, id string, d *armcompute.Disk) proxies.VolumeStatus {
	st := proxies.VolumeStatus{ID: id, BottomID: *d.ID, State: proxies.VolumeAvailable}
	p := d.Properties
	if p.DiskSizeGB != nil {
		st.SizeGB = int(*p.DiskSizeGB)
	}
	if p.TimeCreated != nil {
		st.CreatedAt = *p.TimeCreated
	}
	switch prov := deref(p.ProvisioningState, ""); prov {
	case "Creating":
		st.State = proxies.VolumeCreating
	case "Updating":
		st.State = proxies.VolumeExtending
	case "Deleting":
		st.State = proxies.VolumeDeleting
	case "Failed":
		st.State, st.Fault = proxies.VolumeError, "the disk failed in Azure"
	}
	if d.ManagedBy != nil {
		vmID := *d.ManagedBy
		name := vmID[strings.LastIndex(vmID, "/")+1:]
		st.AttachedTo = strings.TrimPrefix(name, "canopy-")
		if st.State == proxies.VolumeAvailable {
			st.State = proxies.VolumeInUse
		}
		if vm, err := b.vms.Get(ctx, rgOf(vmID), name, nil); err == nil {
			for _, dd := range vm.Properties.StorageProfile.DataDisks {
				if dd.ManagedDisk != nil && dd.ManagedDisk.ID != nil && strings.EqualFold(*dd.ManagedDisk.ID, *d.ID) {
					st.Device = lunDevice(*dd.Lun)
				}
			}
		}
	}
	return st
}

func (b *Backend) getDisk(ctx context.Context, op, id string) (string, *armcompute.Disk, error) {
	rg := b.lookupRG(ctx, "vol", id)
	if rg == "" {
		return "", nil, proxies.Errorf(proxies.ErrNotFound, op, "volume %s is not in this Azure cloud", id)
	}
	res, err := b.disks.Get(ctx, rg, volName(id), nil)
	if err != nil {
		if isNotFound(err) {
			return "", nil, proxies.Errorf(proxies.ErrNotFound, op, "volume %s is not in this Azure cloud", id)
		}
		return "", nil, mapErr(op, "could not read the disk", err)
	}
	return rg, &res.Disk, nil
}

func (d *volumes) GetVolume(ctx context.Context, id string) (proxies.VolumeStatus, error) {
	b := (*Backend)(d)
	_, disk, err := b.getDisk(ctx, "GetVolume", id)
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	return b.volumeStatus(ctx, id, disk), nil
}

// snapshotsOf lists the snapshots Canopy made of volume id.
func (b *Backend) snapshotsOf(ctx context.Context, op, rg, id string) ([]string, error) {
	var out []string
	pager := b.snaps.NewListByResourceGroupPager(rg, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, mapErr(op, "could not list snapshots", err)
		}
		for _, s := range page.Value {
			if v := s.Tags[tagVolume]; v != nil && *v == id {
				out = append(out, *s.Name)
			}
		}
	}
	return out, nil
}

func (d *volumes) DeleteVolume(ctx context.Context, id string) error {
	const op = "DeleteVolume"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg, disk, err := b.getDisk(ctx, op, id)
	if errors.Is(err, proxies.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if disk.ManagedBy != nil {
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached", id)
	}
	snaps, err := b.snapshotsOf(ctx, op, rg, id)
	if err != nil {
		return err
	}
	if len(snaps) > 0 {
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s has %d snapshots", id, len(snaps))
	}
	_, err = run(ctx, b, id+"/disk-delete", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.DisksClientDeleteResponse], error) {
		return b.disks.BeginDelete(ctx, rg, volName(id), &armcompute.DisksClientBeginDeleteOptions{ResumeToken: tok})
	})
	if err != nil && !isNotFound(err) {
		return mapErr(op, "the disk could not be deleted", err)
	}
	b.forget(ctx, "vol", id)
	return nil
}

func (d *volumes) ExtendVolume(ctx context.Context, id string, newSizeGB int) (proxies.VolumeStatus, error) {
	const op = "ExtendVolume"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg, disk, err := b.getDisk(ctx, op, id)
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	if newSizeGB <= int(deref(disk.Properties.DiskSizeGB, 0)) {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the new size must be larger than %d GB", *disk.Properties.DiskSizeGB)
	}
	if disk.ManagedBy != nil {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached; detach it first", id)
	}
	res, err := run(ctx, b, id+"/disk-extend", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.DisksClientUpdateResponse], error) {
		return b.disks.BeginUpdate(ctx, rg, volName(id), armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{DiskSizeGB: to.Ptr(int32(newSizeGB))}},
			&armcompute.DisksClientBeginUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return proxies.VolumeStatus{}, mapErr(op, "the disk could not be extended", err)
	}
	return b.volumeStatus(ctx, id, &res.Disk), nil
}

func (d *volumes) CreateSnapshot(ctx context.Context, spec proxies.SnapshotSpec) (proxies.SnapshotStatus, error) {
	const op = "CreateSnapshot"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg, disk, err := b.getDisk(ctx, op, spec.VolumeID)
	if err != nil {
		return proxies.SnapshotStatus{}, err
	}
	if disk.ManagedBy != nil && !spec.Force {
		return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached; use force", spec.VolumeID)
	}
	b.remember(ctx, "snap", spec.ID, rg)
	tags := b.tags(spec.ID, spec.ProjectID)
	tags[tagVolume] = to.Ptr(spec.VolumeID)
	res, err := run(ctx, b, spec.ID+"/snapshot", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.SnapshotsClientCreateOrUpdateResponse], error) {
		return b.snaps.BeginCreateOrUpdate(ctx, rg, snapName(spec.ID), armcompute.Snapshot{Location: disk.Location, Tags: tags,
			Properties: &armcompute.SnapshotProperties{Incremental: to.Ptr(true), CreationData: &armcompute.CreationData{
				CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: disk.ID}}},
			&armcompute.SnapshotsClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return proxies.SnapshotStatus{}, mapErr(op, "the snapshot could not be made", err)
	}
	return snapStatus(spec.ID, &res.Snapshot), nil
}

func snapStatus(id string, s *armcompute.Snapshot) proxies.SnapshotStatus {
	st := proxies.SnapshotStatus{ID: id, BottomID: *s.ID, State: proxies.VolumeAvailable, SizeGB: int(deref(s.Properties.DiskSizeGB, 0))}
	if v := s.Tags[tagVolume]; v != nil {
		st.VolumeID = *v
	}
	switch deref(s.Properties.ProvisioningState, "") {
	case "Creating":
		st.State = proxies.VolumeCreating
	case "Deleting":
		st.State = proxies.VolumeDeleting
	case "Failed":
		st.State = proxies.VolumeError
	}
	return st
}

func (d *volumes) GetSnapshot(ctx context.Context, id string) (proxies.SnapshotStatus, error) {
	const op = "GetSnapshot"
	b := (*Backend)(d)
	rg := b.lookupRG(ctx, "snap", id)
	if rg == "" {
		return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "snapshot %s is not in this Azure cloud", id)
	}
	res, err := b.snaps.Get(ctx, rg, snapName(id), nil)
	if err != nil {
		if isNotFound(err) {
			return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "snapshot %s is not in this Azure cloud", id)
		}
		return proxies.SnapshotStatus{}, mapErr(op, "could not read the snapshot", err)
	}
	return snapStatus(id, &res.Snapshot), nil
}

func (d *volumes) DeleteSnapshot(ctx context.Context, id string) error {
	const op = "DeleteSnapshot"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg := b.lookupRG(ctx, "snap", id)
	if rg == "" {
		return nil
	}
	_, err := run(ctx, b, id+"/snapshot-delete", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.SnapshotsClientDeleteResponse], error) {
		return b.snaps.BeginDelete(ctx, rg, snapName(id), &armcompute.SnapshotsClientBeginDeleteOptions{ResumeToken: tok})
	})
	if err != nil && !isNotFound(err) {
		return mapErr(op, "the snapshot could not be deleted", err)
	}
	b.forget(ctx, "snap", id)
	return nil
}

// AttachVolume attaches the disk at the VM's lowest free LUN.
func (d *volumes) AttachVolume(ctx context.Context, volumeID, serverID string) (string, error) {
	const op = "AttachVolume"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	_, disk, err := b.getDisk(ctx, op, volumeID)
	if err != nil {
		return "", err
	}
	rg, vm, err := b.findVM(ctx, op, serverID)
	if err != nil {
		return "", err
	}
	dds := vm.Properties.StorageProfile.DataDisks
	used := map[int32]bool{}
	for _, dd := range dds {
		if dd.ManagedDisk != nil && dd.ManagedDisk.ID != nil && strings.EqualFold(*dd.ManagedDisk.ID, *disk.ID) {
			return lunDevice(*dd.Lun), nil
		}
		used[*dd.Lun] = true
	}
	if disk.ManagedBy != nil {
		return "", proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached to another server", volumeID)
	}
	lun := int32(0)
	for used[lun] {
		lun++
	}
	dds = append(dds, &armcompute.DataDisk{Lun: to.Ptr(lun), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
		ManagedDisk: &armcompute.ManagedDiskParameters{ID: disk.ID}, DeleteOption: to.Ptr(armcompute.DiskDeleteOptionTypesDetach)})
	if err := b.setDataDisks(ctx, op, rg, serverID, dds); err != nil {
		return "", err
	}
	return lunDevice(lun), nil
}

func (b *Backend) setDataDisks(ctx context.Context, op, rg, serverID string, dds []*armcompute.DataDisk) error {
	sort.Slice(dds, func(i, j int) bool { return *dds[i].Lun < *dds[j].Lun })
	if dds == nil {
		dds = []*armcompute.DataDisk{}
	}
	_, err := run(ctx, b, serverID+"/disks", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientUpdateResponse], error) {
		return b.vms.BeginUpdate(ctx, rg, vmName(serverID), armcompute.VirtualMachineUpdate{Properties: &armcompute.VirtualMachineProperties{
			StorageProfile: &armcompute.StorageProfile{DataDisks: dds}}}, &armcompute.VirtualMachinesClientBeginUpdateOptions{ResumeToken: tok})
	})
	return mapErr(op, "the VM's data disks could not be changed", err)
}

// DetachVolume removes the disk from the VM it is attached to.
func (d *volumes) DetachVolume(ctx context.Context, volumeID string) error {
	const op = "DetachVolume"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	_, disk, err := b.getDisk(ctx, op, volumeID)
	if err != nil {
		return err
	}
	if disk.ManagedBy == nil {
		return nil
	}
	vmID := *disk.ManagedBy
	rg, name := rgOf(vmID), vmID[strings.LastIndex(vmID, "/")+1:]
	vm, err := b.vms.Get(ctx, rg, name, nil)
	if err != nil {
		return mapErr(op, "could not read the VM", err)
	}
	var keep []*armcompute.DataDisk
	for _, dd := range vm.Properties.StorageProfile.DataDisks {
		if dd.ManagedDisk != nil && dd.ManagedDisk.ID != nil && strings.EqualFold(*dd.ManagedDisk.ID, *disk.ID) {
			continue
		}
		keep = append(keep, dd)
	}
	return b.setDataDisks(ctx, op, rg, strings.TrimPrefix(name, "canopy-"), keep)
}

// deref is *p, or def when p is nil.
func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
