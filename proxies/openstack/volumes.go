package openstack

import (
	"context"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"
)

// volumeDriver realises top volumes as bottom Cinder v3 volumes named
// canopy-<top id> with metadata canopy_id=<top id>; snapshots likewise.
// Attachments go through Nova's os-volume_attachments of the bottom server.
type volumeDriver struct{ b *Backend }

// metaVolume is the snapshot metadata key holding the top volume id.
const metaVolume = "canopy_volume"

// volumeRef is where a top volume or snapshot lives.
type volumeRef struct {
	scope    *scope
	bottomID string
}

func (d volumeDriver) findVolume(ctx context.Context, id string) (volumeRef, volumes.Volume, error) {
	b := d.b
	b.mu.Lock()
	ref, ok := b.vols[id]
	b.mu.Unlock()
	if ok {
		v, err := volumes.Get(ctx, ref.scope.volume, ref.bottomID).Extract()
		if err == nil && v.Status != "deleted" {
			return ref, *v, nil
		}
		if err != nil && !isNotFound(err) {
			return ref, volumes.Volume{}, err
		}
		b.mu.Lock()
		delete(b.vols, id)
		b.mu.Unlock()
		return ref, volumes.Volume{}, proxies.Errorf(proxies.ErrNotFound, "GetVolume", "volume %s does not exist in the bottom cloud", id)
	}
	for _, s := range b.allScopes() {
		if s.volume == nil {
			continue
		}
		pages, err := volumes.List(s.volume, volumes.ListOpts{Name: bottomName(id)}).AllPages(ctx)
		if err != nil {
			return volumeRef{}, volumes.Volume{}, err
		}
		list, err := volumes.ExtractVolumes(pages)
		if err != nil {
			return volumeRef{}, volumes.Volume{}, err
		}
		for _, v := range list {
			if v.Metadata[metaID] == id && v.Status != "deleted" {
				ref := volumeRef{scope: s, bottomID: v.ID}
				b.mu.Lock()
				b.vols[id] = ref
				b.mu.Unlock()
				return ref, v, nil
			}
		}
	}
	return volumeRef{}, volumes.Volume{}, proxies.Errorf(proxies.ErrNotFound, "GetVolume", "volume %s does not exist in the bottom cloud", id)
}

func (d volumeDriver) volumeStatus(ctx context.Context, id string, v volumes.Volume) proxies.VolumeStatus {
	st := proxies.VolumeStatus{ID: id, BottomID: v.ID, SizeGB: v.Size, CreatedAt: v.CreatedAt}
	switch v.Status {
	case "creating", "downloading", "reserved":
		st.State = proxies.VolumeCreating
	case "available":
		st.State = proxies.VolumeAvailable
	case "in-use", "attaching", "detaching":
		st.State = proxies.VolumeInUse
	case "extending":
		st.State = proxies.VolumeExtending
	case "deleting":
		st.State = proxies.VolumeDeleting
	default:
		st.State = proxies.VolumeError
		st.Fault = "the bottom volume is in status " + v.Status
	}
	if len(v.Attachments) > 0 {
		st.AttachedTo = d.b.topServerID(ctx, v.Attachments[0].ServerID)
		st.Device = v.Attachments[0].Device
	}
	return st
}

// topServerID maps a bottom server id back to its top id.
func (b *Backend) topServerID(ctx context.Context, bottomID string) string {
	b.mu.Lock()
	for id, ref := range b.servers {
		if ref.bottomID == bottomID {
			b.mu.Unlock()
			return id
		}
	}
	b.mu.Unlock()
	for _, s := range b.allScopes() {
		if srv, err := b.getBottom(ctx, s, bottomID); err == nil && srv.Metadata[metaID] != "" {
			return srv.Metadata[metaID]
		}
	}
	return bottomID
}

// CreateVolume creates the bottom volume (from a blank, an image, a snapshot
// or a volume); a retry finds the one it made.
func (d volumeDriver) CreateVolume(ctx context.Context, spec proxies.VolumeSpec) (proxies.VolumeStatus, error) {
	const op = "CreateVolume"
	b := d.b
	ctx, cancel := b.call(ctx)
	defer cancel()
	if spec.ID == "" || spec.SizeGB <= 0 {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a volume needs a top id and a positive size")
	}
	unlock := b.lockID(spec.ID)
	defer unlock()
	if _, v, err := d.findVolume(ctx, spec.ID); err == nil {
		return d.volumeStatus(ctx, spec.ID, v), nil
	} else if !isNotFound(err) {
		return proxies.VolumeStatus{}, wrap(op, err)
	}
	s, err := b.scopeFor(ctx, spec.ProjectID)
	if err != nil {
		return proxies.VolumeStatus{}, wrap(op, err)
	}
	meta := map[string]string{}
	for k, v := range spec.Metadata {
		meta[k] = v
	}
	meta[metaID], meta[metaProject] = spec.ID, spec.ProjectID
	opts := volumes.CreateOpts{Size: spec.SizeGB, Name: bottomName(spec.ID), Metadata: meta, VolumeType: spec.VolumeType}
	switch {
	case spec.SnapshotID != "":
		ref, snap, err := d.findSnapshot(ctx, spec.SnapshotID)
		if err != nil {
			return proxies.VolumeStatus{}, wrap(op, err)
		}
		if spec.SizeGB < snap.Size {
			return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the volume (%d GB) is smaller than its snapshot (%d GB)", spec.SizeGB, snap.Size)
		}
		if snap.Status == "creating" {
			if err := d.waitSnapshot(ctx, ref); err != nil {
				return proxies.VolumeStatus{}, wrap(op, err)
			}
		}
		opts.SnapshotID, s = ref.bottomID, ref.scope
	case spec.SourceVolumeID != "":
		ref, _, err := d.findVolume(ctx, spec.SourceVolumeID)
		if err != nil {
			return proxies.VolumeStatus{}, wrap(op, err)
		}
		opts.SourceVolID, s = ref.bottomID, ref.scope
	case spec.ImageID != "":
		if opts.ImageID, err = b.bottomImage(ctx, s, spec.ImageID); err != nil {
			return proxies.VolumeStatus{}, wrap(op, err)
		}
	}
	v, err := volumes.Create(ctx, s.volume, opts, nil).Extract()
	if err != nil {
		return proxies.VolumeStatus{}, wrap(op, err)
	}
	b.mu.Lock()
	b.vols[spec.ID] = volumeRef{scope: s, bottomID: v.ID}
	b.mu.Unlock()
	return d.volumeStatus(ctx, spec.ID, *v), nil
}

// GetVolume reports the bottom volume of top id.
func (d volumeDriver) GetVolume(ctx context.Context, id string) (proxies.VolumeStatus, error) {
	ctx, cancel := d.b.call(ctx)
	defer cancel()
	_, v, err := d.findVolume(ctx, id)
	if err != nil {
		return proxies.VolumeStatus{}, wrap("GetVolume", err)
	}
	return d.volumeStatus(ctx, id, v), nil
}

// DeleteVolume deletes the bottom volume; nil when it is gone, ErrConflict
// while it is attached or has snapshots (checked first: Cinder answers both
// with a 400).
func (d volumeDriver) DeleteVolume(ctx context.Context, id string) error {
	const op = "DeleteVolume"
	ctx, cancel := d.b.call(ctx)
	defer cancel()
	ref, v, err := d.findVolume(ctx, id)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return wrap(op, err)
	}
	if len(v.Attachments) > 0 || v.Status == "in-use" || v.Status == "attaching" {
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached", id)
	}
	pages, err := snapshots.List(ref.scope.volume, snapshots.ListOpts{VolumeID: v.ID}).AllPages(ctx)
	if err != nil {
		return wrap(op, err)
	}
	if snaps, err := snapshots.ExtractSnapshots(pages); err != nil {
		return wrap(op, err)
	} else if len(snaps) > 0 {
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s has %d snapshots", id, len(snaps))
	}
	if v.Status == "deleting" {
		return nil
	}
	if err := volumes.Delete(ctx, ref.scope.volume, v.ID, nil).ExtractErr(); err != nil && !isNotFound(err) {
		return wrap(op, err)
	}
	return nil
}

// ExtendVolume grows a detached volume.
func (d volumeDriver) ExtendVolume(ctx context.Context, id string, newSizeGB int) (proxies.VolumeStatus, error) {
	const op = "ExtendVolume"
	ctx, cancel := d.b.call(ctx)
	defer cancel()
	ref, v, err := d.findVolume(ctx, id)
	if err != nil {
		return proxies.VolumeStatus{}, wrap(op, err)
	}
	if newSizeGB <= v.Size {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the new size %d GB is not larger than %d GB", newSizeGB, v.Size)
	}
	if v.Status != "available" {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrConflict, op, "volume %s is %s, not available", id, v.Status)
	}
	if err := volumes.ExtendSize(ctx, ref.scope.volume, v.ID, volumes.ExtendSizeOpts{NewSize: newSizeGB}).ExtractErr(); err != nil {
		return proxies.VolumeStatus{}, wrap(op, err)
	}
	got, err := volumes.Get(ctx, ref.scope.volume, v.ID).Extract()
	if err != nil {
		return proxies.VolumeStatus{}, wrap(op, err)
	}
	return d.volumeStatus(ctx, id, *got), nil
}

func (d volumeDriver) findSnapshot(ctx context.Context, id string) (volumeRef, snapshots.Snapshot, error) {
	b := d.b
	b.mu.Lock()
	ref, ok := b.snaps[id]
	b.mu.Unlock()
	if ok {
		sn, err := snapshots.Get(ctx, ref.scope.volume, ref.bottomID).Extract()
		if err == nil {
			return ref, *sn, nil
		}
		if !isNotFound(err) {
			return ref, snapshots.Snapshot{}, err
		}
		b.mu.Lock()
		delete(b.snaps, id)
		b.mu.Unlock()
	}
	for _, s := range b.allScopes() {
		if s.volume == nil {
			continue
		}
		pages, err := snapshots.List(s.volume, snapshots.ListOpts{Name: bottomName(id)}).AllPages(ctx)
		if err != nil {
			return volumeRef{}, snapshots.Snapshot{}, err
		}
		list, err := snapshots.ExtractSnapshots(pages)
		if err != nil {
			return volumeRef{}, snapshots.Snapshot{}, err
		}
		for _, sn := range list {
			if sn.Name == bottomName(id) {
				ref := volumeRef{scope: s, bottomID: sn.ID}
				b.mu.Lock()
				b.snaps[id] = ref
				b.mu.Unlock()
				return ref, sn, nil
			}
		}
	}
	return volumeRef{}, snapshots.Snapshot{}, proxies.Errorf(proxies.ErrNotFound, "GetSnapshot", "snapshot %s does not exist in the bottom cloud", id)
}

func snapshotStatus(id, volumeID string, sn snapshots.Snapshot) proxies.SnapshotStatus {
	st := proxies.SnapshotStatus{ID: id, BottomID: sn.ID, VolumeID: volumeID, SizeGB: sn.Size}
	switch sn.Status {
	case "creating":
		st.State = proxies.VolumeCreating
	case "available":
		st.State = proxies.VolumeAvailable
	case "deleting":
		st.State = proxies.VolumeDeleting
	default:
		st.State = proxies.VolumeError
	}
	return st
}

// CreateSnapshot snapshots the bottom volume; a retry finds the snapshot.
func (d volumeDriver) CreateSnapshot(ctx context.Context, spec proxies.SnapshotSpec) (proxies.SnapshotStatus, error) {
	const op = "CreateSnapshot"
	b := d.b
	ctx, cancel := b.call(ctx)
	defer cancel()
	unlock := b.lockID(spec.ID)
	defer unlock()
	if _, sn, err := d.findSnapshot(ctx, spec.ID); err == nil {
		return snapshotStatus(spec.ID, spec.VolumeID, sn), nil
	} else if !isNotFound(err) {
		return proxies.SnapshotStatus{}, wrap(op, err)
	}
	ref, _, err := d.findVolume(ctx, spec.VolumeID)
	if err != nil {
		return proxies.SnapshotStatus{}, wrap(op, err)
	}
	sn, err := snapshots.Create(ctx, ref.scope.volume, snapshots.CreateOpts{VolumeID: ref.bottomID, Name: bottomName(spec.ID),
		Force: spec.Force, Metadata: map[string]string{metaID: spec.ID, metaVolume: spec.VolumeID}}).Extract()
	if err != nil {
		return proxies.SnapshotStatus{}, wrap(op, err)
	}
	b.mu.Lock()
	b.snaps[spec.ID] = volumeRef{scope: ref.scope, bottomID: sn.ID}
	b.mu.Unlock()
	return snapshotStatus(spec.ID, spec.VolumeID, *sn), nil
}

// GetSnapshot reports the bottom snapshot of top id.
func (d volumeDriver) GetSnapshot(ctx context.Context, id string) (proxies.SnapshotStatus, error) {
	ctx, cancel := d.b.call(ctx)
	defer cancel()
	_, sn, err := d.findSnapshot(ctx, id)
	if err != nil {
		return proxies.SnapshotStatus{}, wrap("GetSnapshot", err)
	}
	return snapshotStatus(id, sn.Metadata[metaVolume], sn), nil
}

// DeleteSnapshot deletes the bottom snapshot and waits until it is gone (so
// its volume can be deleted next); nil when it is already gone.
func (d volumeDriver) DeleteSnapshot(ctx context.Context, id string) error {
	const op = "DeleteSnapshot"
	ctx, cancel := d.b.call(ctx)
	defer cancel()
	ref, _, err := d.findSnapshot(ctx, id)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return wrap(op, err)
	}
	if err := snapshots.Delete(ctx, ref.scope.volume, ref.bottomID).ExtractErr(); err != nil && !isNotFound(err) {
		return wrap(op, err)
	}
	for {
		if _, err := snapshots.Get(ctx, ref.scope.volume, ref.bottomID).Extract(); isNotFound(err) {
			d.b.mu.Lock()
			delete(d.b.snaps, id)
			d.b.mu.Unlock()
			return nil
		} else if err != nil {
			return wrap(op, err)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return wrap(op, err)
		}
	}
}

// AttachVolume attaches through the bottom Nova and waits for in-use.
// Attaching to the server it is attached to returns its device.
func (d volumeDriver) AttachVolume(ctx context.Context, volumeID, serverID string) (string, error) {
	const op = "AttachVolume"
	b := d.b
	ctx, cancel := b.call(ctx)
	defer cancel()
	vref, v, err := d.findVolume(ctx, volumeID)
	if err != nil {
		return "", wrap(op, err)
	}
	sref, _, err := b.lookup(ctx, op, serverID)
	if err != nil {
		return "", err
	}
	for _, a := range v.Attachments {
		if a.ServerID == sref.bottomID {
			return a.Device, nil
		}
	}
	if len(v.Attachments) > 0 {
		return "", proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached to another server", volumeID)
	}
	att, err := volumeattach.Create(ctx, sref.scope.compute, sref.bottomID, volumeattach.CreateOpts{VolumeID: vref.bottomID}).Extract()
	if err != nil {
		return "", wrap(op, err)
	}
	if err := d.waitStatus(ctx, vref, "in-use"); err != nil {
		return "", wrap(op, err)
	}
	return att.Device, nil
}

// DetachVolume detaches through the bottom Nova and waits for available;
// nil when it is not attached.
func (d volumeDriver) DetachVolume(ctx context.Context, volumeID string) error {
	const op = "DetachVolume"
	ctx, cancel := d.b.call(ctx)
	defer cancel()
	vref, v, err := d.findVolume(ctx, volumeID)
	if err != nil {
		return wrap(op, err)
	}
	if len(v.Attachments) == 0 {
		return nil
	}
	for _, a := range v.Attachments {
		if err := volumeattach.Delete(ctx, vref.scope.compute, a.ServerID, vref.bottomID).ExtractErr(); err != nil && !isNotFound(err) {
			return wrap(op, err)
		}
	}
	return wrap(op, d.waitStatus(ctx, vref, "available"))
}

func (d volumeDriver) waitStatus(ctx context.Context, ref volumeRef, want string) error {
	for {
		v, err := volumes.Get(ctx, ref.scope.volume, ref.bottomID).Extract()
		if err != nil {
			return err
		}
		if v.Status == want {
			return nil
		}
		if v.Status == "error" || v.Status == "error_attaching" || v.Status == "error_detaching" {
			return proxies.Errorf(proxies.ErrUnavailable, "AttachVolume", "the bottom volume went to %s", v.Status)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitSnapshot waits until a snapshot the bottom is still making is
// available (a volume can only be made from an available one).
func (d volumeDriver) waitSnapshot(ctx context.Context, ref volumeRef) error {
	for {
		sn, err := snapshots.Get(ctx, ref.scope.volume, ref.bottomID).Extract()
		if err != nil {
			return err
		}
		switch sn.Status {
		case "available":
			return nil
		case "creating":
		default:
			return proxies.Errorf(proxies.ErrInvalid, "CreateVolume", "the source snapshot is %s", sn.Status)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}
