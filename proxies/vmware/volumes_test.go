package vmware

import (
	"context"
	"errors"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// TestVolumes drives volumes through the volume contract's lifecycle,
// attaching to a real server, in both volume modes: first-class disks (with
// snapshots as copies: vcsim has no CreateDiskFromSnapshot) and plain VMDK
// files.
func TestVolumes(t *testing.T) {
	for _, mode := range []string{VolumesFCD, VolumesVMDK} {
		t.Run(mode, func(t *testing.T) { testVolumes(t, mode) })
	}
}

func testVolumes(t *testing.T, mode string) {
	s := newSim(t)
	withMode := func(c *Config) { c.Volumes = mode }
	b := s.backend(t, withMode)
	if b.VolumeMode() != mode {
		t.Fatalf("VolumeMode = %q; want %q", b.VolumeMode(), mode)
	}
	withImage(t, b)
	ctx := t.Context()
	d, ok := proxies.VolumesOf(b)
	if !ok {
		t.Fatal("VolumesOf = false")
	}
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "v0", SizeGB: 0}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateVolume of 0 GB = %v; want ErrInvalid", err)
	}
	spec := proxies.VolumeSpec{ID: "66666666-0000-4000-8000-00000000000a", SizeGB: 1}
	a, err := d.CreateVolume(ctx, spec)
	if err != nil || a.State != proxies.VolumeAvailable || a.SizeGB != 1 {
		t.Fatalf("CreateVolume = %+v, %v; want available 1 GB", a, err)
	}
	if again, err := d.CreateVolume(ctx, spec); err != nil || again.BottomID != a.BottomID {
		t.Errorf("retried CreateVolume = %+v, %v; want the same disk %s", again, err, a.BottomID)
	}
	// A second backend (cold cache) finds the same disk too.
	if again, err := s.backend(t, withMode).Volumes().CreateVolume(ctx, spec); err != nil || again.BottomID != a.BottomID {
		t.Errorf("CreateVolume from a second backend = %+v, %v; want the same disk %s", again, err, a.BottomID)
	}
	if n := s.countVolumes(t, b, spec.ID); n != 1 {
		t.Errorf("the datastore has %d disks of volume %s; want 1", n, spec.ID)
	}
	if mode == VolumesVMDK {
		if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "../escape", SizeGB: 1}); !errors.Is(err, proxies.ErrInvalid) {
			t.Errorf("CreateVolume with a path for an id = %v; want ErrInvalid", err)
		}
	}
	if _, err := d.ExtendVolume(ctx, spec.ID, 1); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("ExtendVolume to the same size = %v; want ErrInvalid", err)
	}
	if st, err := d.ExtendVolume(ctx, spec.ID, 2); err != nil || st.SizeGB != 2 {
		t.Errorf("ExtendVolume to 2 GB = %+v, %v", st, err)
	}

	server := "66666666-0000-4000-8000-000000000001"
	if _, err := b.Servers().CreateServer(ctx, serverSpec(server)); err != nil {
		t.Fatal(err)
	}
	bSpec := proxies.VolumeSpec{ID: "66666666-0000-4000-8000-00000000000b", SizeGB: 1}
	if _, err := d.CreateVolume(ctx, bSpec); err != nil {
		t.Fatal(err)
	}
	devA, err := d.AttachVolume(ctx, spec.ID, server)
	if err != nil {
		t.Fatalf("AttachVolume: %v", err)
	}
	devB, err := d.AttachVolume(ctx, bSpec.ID, server)
	if err != nil || devA == "" || devA == devB {
		t.Fatalf("devices %q, %q (%v); want two distinct", devA, devB, err)
	}
	if again, err := d.AttachVolume(ctx, spec.ID, server); err != nil || again != devA {
		t.Errorf("repeated AttachVolume = %q, %v; want %q", again, err, devA)
	}
	if _, err := d.AttachVolume(ctx, spec.ID, "66666666-0000-4000-8000-0000000000ff"); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("AttachVolume to an unknown server = %v; want ErrNotFound", err)
	}
	if st, err := d.GetVolume(ctx, spec.ID); err != nil || st.State != proxies.VolumeInUse || st.AttachedTo != server || st.Device != devA {
		t.Errorf("attached volume = %+v, %v; want in-use on %s as %s", st, err, server, devA)
	}
	if err := d.DeleteVolume(ctx, spec.ID); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("DeleteVolume of an attached volume = %v; want ErrConflict", err)
	}
	if _, err := d.ExtendVolume(ctx, spec.ID, 3); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("ExtendVolume of an attached volume = %v; want ErrConflict", err)
	}
	for _, id := range []string{spec.ID, spec.ID, bSpec.ID} {
		if err := d.DetachVolume(ctx, id); err != nil {
			t.Errorf("DetachVolume(%s) = %v", id, err)
		}
	}
	if st, _ := d.GetVolume(ctx, spec.ID); st.State != proxies.VolumeAvailable || st.AttachedTo != "" {
		t.Errorf("detached volume = %+v; want available", st)
	}

	snap := proxies.SnapshotSpec{ID: "66666666-0000-4000-8000-0000000000c1", VolumeID: spec.ID}
	st, err := d.CreateSnapshot(ctx, snap)
	if err != nil || st.VolumeID != spec.ID || st.SizeGB != 2 {
		t.Fatalf("CreateSnapshot = %+v, %v; want 2 GB of %s", st, err, spec.ID)
	}
	if again, err := d.CreateSnapshot(ctx, snap); err != nil || again.BottomID != st.BottomID {
		t.Errorf("retried CreateSnapshot = %+v, %v; want %s", again, err, st.BottomID)
	}
	if err := d.DeleteVolume(ctx, spec.ID); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("DeleteVolume with a snapshot = %v; want ErrConflict", err)
	}
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "small", SizeGB: 1, SnapshotID: snap.ID}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateVolume smaller than its snapshot = %v; want ErrInvalid", err)
	}
	// A volume from the snapshot is a copy of the snapshot's copy, grown to
	// the size asked for; a retry finds it.
	from := proxies.VolumeSpec{ID: "66666666-0000-4000-8000-0000000000d1", SizeGB: 3, SnapshotID: snap.ID}
	fromSt, err := d.CreateVolume(ctx, from)
	if err != nil || fromSt.SizeGB != 3 || fromSt.State != proxies.VolumeAvailable {
		t.Fatalf("CreateVolume from a snapshot = %+v, %v; want available 3 GB", fromSt, err)
	}
	if again, err := d.CreateVolume(ctx, from); err != nil || again.BottomID != fromSt.BottomID {
		t.Errorf("retried CreateVolume from a snapshot = %+v, %v; want %s", again, err, fromSt.BottomID)
	}
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "66666666-0000-4000-8000-0000000000d2", SizeGB: 3, SnapshotID: "66666666-0000-4000-8000-0000000000ee"}); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("CreateVolume from an unknown snapshot = %v; want ErrNotFound", err)
	}
	if err := d.DeleteVolume(ctx, from.ID); err != nil {
		t.Errorf("DeleteVolume of the volume from the snapshot = %v", err)
	}
	for range 2 {
		if err := d.DeleteSnapshot(ctx, snap.ID); err != nil {
			t.Errorf("DeleteSnapshot = %v; want nil (idempotent)", err)
		}
	}
	if _, err := d.GetSnapshot(ctx, snap.ID); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetSnapshot after delete = %v; want ErrNotFound", err)
	}
	for range 2 {
		if err := d.DeleteVolume(ctx, spec.ID); err != nil {
			t.Errorf("DeleteVolume = %v; want nil (idempotent)", err)
		}
	}
	if _, err := d.GetVolume(ctx, spec.ID); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetVolume after delete = %v; want ErrNotFound", err)
	}
	if n := s.countVolumes(t, b, spec.ID); n != 0 {
		t.Errorf("after delete the datastore has %d disks of volume %s", n, spec.ID)
	}
}

// countVolumes counts volume id's disks: first-class disks of its name, or
// its VMDK file.
func (s *sim) countVolumes(t *testing.T, b *Backend, id string) int {
	t.Helper()
	if b.VolumeMode() == VolumesFCD {
		return s.countFCDs(t, b, volumePrefix+id)
	}
	names, err := b.findFiles(t.Context(), "test", id+".vmdk")
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

// countFCDs counts the first-class disks named name on b's datastore.
func (s *sim) countFCDs(t *testing.T, b *Backend, name string) int {
	t.Helper()
	m := b.fcdManager()
	ids, err := m.List(t.Context(), b.ds)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range ids {
		if obj, err := m.Retrieve(t.Context(), b.ds, id.Id); err == nil && obj.Config.Name == name {
			n++
		}
	}
	return n
}

// TestCopyRetry checks, in both volume modes, that copies are retried
// whole: a staged copy an interrupted try left behind (here a blank 5 GB
// disk where the copy was being staged, larger than any copy here) is overwritten, not kept; the
// snapshot has its volume's size; the volume from it is grown to the size
// asked for; and a leftover staged snapshot does not count as a snapshot
// of its volume.
func TestCopyRetry(t *testing.T) {
	for _, mode := range []string{VolumesFCD, VolumesVMDK} {
		t.Run(mode, func(t *testing.T) {
			s := newSim(t)
			withMode := func(c *Config) { c.Volumes = mode }
			b := s.backend(t, withMode)
			ctx := t.Context()
			d := b.Volumes()
			vol := proxies.VolumeSpec{ID: "88888888-0000-4000-8000-00000000000a", SizeGB: 1}
			snap := proxies.SnapshotSpec{ID: "88888888-0000-4000-8000-0000000000c1", VolumeID: vol.ID}
			from := proxies.VolumeSpec{ID: "88888888-0000-4000-8000-0000000000d1", SizeGB: 3, SnapshotID: snap.ID}
			if _, err := d.CreateVolume(ctx, vol); err != nil {
				t.Fatal(err)
			}
			if _, err := d.ExtendVolume(ctx, vol.ID, 2); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{snapshotFile(vol.ID, snap.ID), volumeFile(from.ID), snapshotFile(vol.ID, "abandoned")} {
				s.leaveStagedCopy(t, b, f)
			}
			if st, err := d.CreateSnapshot(ctx, snap); err != nil || st.SizeGB != 2 {
				t.Fatalf("CreateSnapshot over a stale staged copy = %+v, %v; want 2 GB", st, err)
			}
			if st, err := d.CreateVolume(ctx, from); err != nil || st.SizeGB != 3 {
				t.Fatalf("CreateVolume over a stale staged copy = %+v, %v; want 3 GB", st, err)
			}
			cold := s.backend(t, withMode).Volumes()
			if st, err := cold.GetSnapshot(ctx, snap.ID); err != nil || st.SizeGB != 2 {
				t.Errorf("GetSnapshot from a second backend = %+v, %v; want 2 GB", st, err)
			}
			if st, err := cold.GetVolume(ctx, from.ID); err != nil || st.SizeGB != 3 {
				t.Errorf("GetVolume from a second backend = %+v, %v; want 3 GB", st, err)
			}
			if left, err := b.findFiles(ctx, "test", "*"+partSuffix); err != nil || len(left) != 1 {
				t.Errorf("staged copies left = %v, %v; want only the abandoned one", left, err)
			}
			if err := d.DeleteVolume(ctx, from.ID); err != nil {
				t.Errorf("DeleteVolume(%s) = %v", from.ID, err)
			}
			if err := d.DeleteSnapshot(ctx, snap.ID); err != nil {
				t.Errorf("DeleteSnapshot = %v", err)
			}
			if err := d.DeleteVolume(ctx, vol.ID); err != nil {
				t.Errorf("DeleteVolume with only an abandoned staged copy = %v; want nil", err)
			}
		})
	}
}

// leaveStagedCopy leaves a blank 5 GB disk where a copy to file is staged,
// as an interrupted copy would.
func (s *sim) leaveStagedCopy(t *testing.T, b *Backend, file string) {
	t.Helper()
	ctx := t.Context()
	if err := b.ensureVolumeDir(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	err := waitTask(ctx, func(ctx context.Context) (*object.Task, error) {
		return b.diskManager().CreateVirtualDisk(ctx, b.ds.Path(partFile(file)), b.dc, &types.FileBackedVirtualDiskSpec{
			VirtualDiskSpec: types.VirtualDiskSpec{DiskType: string(types.VirtualDiskTypeThin), AdapterType: string(types.VirtualDiskAdapterTypeLsiLogic)},
			CapacityKb:      5 << 20,
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
