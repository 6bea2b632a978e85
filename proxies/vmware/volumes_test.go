package vmware

import (
	"errors"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
)

// TestVolumes drives first-class disks through the volume contract's
// lifecycle, attaching to a real server.
func TestVolumes(t *testing.T) {
	s := newSim(t)
	b := s.backend(t, nil)
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
	if again, err := s.backend(t, nil).Volumes().CreateVolume(ctx, spec); err != nil || again.BottomID != a.BottomID {
		t.Errorf("CreateVolume from a second backend = %+v, %v; want the same disk %s", again, err, a.BottomID)
	}
	if n := s.countFCDs(t, b, volumePrefix+spec.ID); n != 1 {
		t.Errorf("the datastore has %d disks named %s; want 1", n, volumePrefix+spec.ID)
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
	// vcsim has no CreateDiskFromSnapshot: the answer is a typed "not
	// supported", never a silent success.
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "from-snap", SizeGB: 2, SnapshotID: snap.ID}); !errors.Is(err, proxies.ErrNotSupported) {
		t.Errorf("CreateVolume from a snapshot on vcsim = %v; want ErrNotSupported", err)
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
	if n := s.countFCDs(t, b, volumePrefix+spec.ID); n != 0 {
		t.Errorf("after delete the datastore has %d disks named %s", n, volumePrefix+spec.ID)
	}
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
