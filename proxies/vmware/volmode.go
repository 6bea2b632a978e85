package vmware

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// VolumeMode is the kind of disk this cloud's volumes are: VolumesFCD
// (first-class disks) or VolumesVMDK (plain VMDK files), as vsphere.volumes
// and, for auto, the vCenter decided at connect.
func (b *Backend) VolumeMode() string { return b.volMode }

// pickVolumeMode settles vsphere.volumes against what the vCenter answers:
// auto becomes fcd when the vStorageObjectManager answers a list of the
// datastore's disks and vmdk when the vCenter has no such manager or
// answers that the method is not there (vCenter 6.0 and older); fcd on a
// vCenter without it fails the connect, naming the field. In fcd mode it
// also probes CreateDiskFromSnapshot (vSphere 6.7+): without it, snapshots
// are taken as copies so that a volume can still be made from one.
func (b *Backend) pickVolumeMode(ctx context.Context) error {
	const op = "Connect"
	b.volMode, b.nativeSnaps = VolumesVMDK, false
	if b.cfg.Volumes == VolumesVMDK {
		b.log.Info("vsphere volumes are plain VMDK files", "mode", b.volMode)
		return nil
	}
	has, err := b.probeFCD(ctx)
	if err != nil {
		return wrapErr(op, err)
	}
	if !has {
		if b.cfg.Volumes == VolumesFCD {
			return proxies.Errorf(proxies.ErrInvalid, op, "vsphere.volumes: fcd, but this vCenter has no first-class disk (vStorageObject) API; use vmdk or auto")
		}
		b.log.Info("vsphere volumes are plain VMDK files: the vCenter has no first-class disks", "mode", b.volMode)
		return nil
	}
	b.volMode = VolumesFCD
	if b.nativeSnaps, err = b.probeDiskFromSnapshot(ctx); err != nil {
		return wrapErr(op, err)
	}
	b.log.Info("vsphere volumes are first-class disks", "mode", b.volMode, "native_snapshots", b.nativeSnaps)
	return nil
}

// missingMethod reports whether err says the vCenter does not implement
// what was called (rather than that the call itself was wrong).
func missingMethod(err error) bool {
	missing := false
	fault.In(err, func(f types.BaseMethodFault, _ string, _ []types.LocalizableMessage) bool {
		switch f.(type) {
		case *types.MethodNotFound, *types.NotImplemented, types.BaseNotSupported:
			missing = true
		}
		return missing
	})
	return missing
}

// probeFCD asks the vStorageObjectManager for the datastore's disks.
func (b *Backend) probeFCD(ctx context.Context) (bool, error) {
	m := b.vc.ServiceContent.VStorageObjectManager
	if m == nil {
		return false, nil
	}
	_, err := methods.ListVStorageObject(ctx, b.vc, &types.ListVStorageObject{This: *m, Datastore: b.ds.Reference()})
	switch {
	case err == nil:
		return true, nil
	case missingMethod(err), isFault[*types.ManagedObjectNotFound](err):
		return false, nil
	}
	return false, err
}

// probeDiskFromSnapshot calls CreateDiskFromSnapshot for a disk that does
// not exist: a vCenter that has the method answers NotFound (or another
// argument fault), one that lacks it answers that the method is missing.
// Nothing is created either way.
func (b *Backend) probeDiskFromSnapshot(ctx context.Context) (bool, error) {
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	none := "canopy-probe-" + hex.EncodeToString(raw)
	res, err := methods.CreateDiskFromSnapshot_Task(ctx, b.vc, &types.CreateDiskFromSnapshot_Task{
		This: *b.vc.ServiceContent.VStorageObjectManager, Id: types.ID{Id: none}, Datastore: b.ds.Reference(),
		SnapshotId: types.ID{Id: none}, Name: none,
	})
	if err == nil {
		err = object.NewTask(b.vc, res.Returnval).Wait(ctx)
	}
	switch {
	case err == nil:
		return true, nil
	case missingMethod(err):
		return false, nil
	}
	kind, _ := classify(err)
	if kind == proxies.ErrUnavailable { // the vCenter did not answer: no conclusion
		return false, err
	}
	return true, nil // NotFound, InvalidArgument: the method is there
}
