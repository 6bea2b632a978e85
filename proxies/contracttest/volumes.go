package contracttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

// RunVolumes runs the volume checks as sub-tests of t when the backend
// declares volumes (and checks that VolumesOf refuses it when it does not).
// Run's caller adds it beside Run until Run calls it itself.
func RunVolumes(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("contracttest: Harness.New is required")
	}
	if h.Timeout <= 0 {
		h.Timeout = 60 * time.Second
	}
	s := &suite{h: h}
	b := h.New(t)
	if _, ok := proxies.VolumesOf(b); ok != b.Capabilities().Volumes {
		t.Fatalf("VolumesOf = %v, but Capabilities().Volumes = %v; a backend declares volumes exactly when it has a driver", ok, b.Capabilities().Volumes)
	}
	if !b.Capabilities().Volumes {
		return
	}
	t.Run("volumes/lifecycle", s.volumeLifecycle)
	t.Run("volumes/attach", s.volumeAttach)
	t.Run("volumes/snapshots", s.volumeSnapshots)
}

// waitVolume polls GetVolume until the volume is in state want.
func (s *suite) waitVolume(t *testing.T, d proxies.VolumeDriver, id string, want proxies.VolumeState) proxies.VolumeStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.h.Timeout)
	defer cancel()
	for {
		st, err := d.GetVolume(ctx, id)
		if err == nil && st.State == want {
			return st
		}
		if err == nil && st.State == proxies.VolumeError {
			t.Fatalf("volume %s went to error: %s", id, st.Fault)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("volume %s did not reach %s: last %+v, %v", id, want, st, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *suite) newVolume(t *testing.T, d proxies.VolumeDriver, sizeGB int) proxies.VolumeStatus {
	t.Helper()
	spec := proxies.VolumeSpec{ID: newID(), ProjectID: "contract", Name: "contract-vol", SizeGB: sizeGB}
	st, err := d.CreateVolume(t.Context(), spec)
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	if st.ID != spec.ID || st.SizeGB != sizeGB {
		t.Errorf("CreateVolume = %+v; want id %s size %d", st, spec.ID, sizeGB)
	}
	again, err := d.CreateVolume(t.Context(), spec)
	if err != nil || again.BottomID != st.BottomID {
		t.Errorf("a retried CreateVolume = %+v, %v; want the same volume %s", again, err, st.BottomID)
	}
	return s.waitVolume(t, d, spec.ID, proxies.VolumeAvailable)
}

// volumeLifecycle: create (idempotent), extend, delete (idempotent), not found.
func (s *suite) volumeLifecycle(t *testing.T) {
	d, _ := proxies.VolumesOf(s.h.New(t))
	ctx := t.Context()
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: newID(), SizeGB: 0}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateVolume of size 0 = %v; want ErrInvalid", err)
	}
	v := s.newVolume(t, d, 1)
	if _, err := d.ExtendVolume(ctx, v.ID, 0); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("ExtendVolume to a smaller size = %v; want ErrInvalid", err)
	}
	if _, err := d.ExtendVolume(ctx, v.ID, 2); err != nil {
		t.Fatalf("ExtendVolume: %v", err)
	}
	if st := s.waitVolume(t, d, v.ID, proxies.VolumeAvailable); st.SizeGB != 2 {
		t.Errorf("after ExtendVolume to 2 GB the size is %d", st.SizeGB)
	}
	if err := d.DeleteVolume(ctx, v.ID); err != nil {
		t.Fatalf("DeleteVolume: %v", err)
	}
	if err := d.DeleteVolume(ctx, v.ID); err != nil {
		t.Errorf("a repeated DeleteVolume = %v; delete is idempotent", err)
	}
	s.waitVolumeGone(t, d, v.ID)
	if err := d.DeleteVolume(ctx, newID()); err != nil {
		t.Errorf("DeleteVolume of an unknown id = %v; want nil (idempotent)", err)
	}
}

func (s *suite) waitVolumeGone(t *testing.T, d proxies.VolumeDriver, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.h.Timeout)
	defer cancel()
	for {
		_, err := d.GetVolume(ctx, id)
		if errors.Is(err, proxies.ErrNotFound) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("volume %s is still there after delete: %v", id, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// volumeAttach: attach gives distinct devices, is idempotent, blocks delete.
func (s *suite) volumeAttach(t *testing.T) {
	d, _ := proxies.VolumesOf(s.h.New(t))
	ctx := t.Context()
	a, b := s.newVolume(t, d, 1), s.newVolume(t, d, 1)
	server := newID()
	devA, err := d.AttachVolume(ctx, a.ID, server)
	if err != nil {
		t.Fatalf("AttachVolume: %v", err)
	}
	devB, err := d.AttachVolume(ctx, b.ID, server)
	if err != nil {
		t.Fatalf("AttachVolume: %v", err)
	}
	if devA == "" || devA == devB {
		t.Errorf("devices %q and %q; want two distinct device names", devA, devB)
	}
	if again, err := d.AttachVolume(ctx, a.ID, server); err != nil || again != devA {
		t.Errorf("a repeated AttachVolume = %q, %v; want %q", again, err, devA)
	}
	if st, _ := d.GetVolume(ctx, a.ID); st.State != proxies.VolumeInUse || st.AttachedTo != server {
		t.Errorf("attached volume = %+v; want in-use on %s", st, server)
	}
	if err := d.DeleteVolume(ctx, a.ID); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("DeleteVolume of an attached volume = %v; want ErrConflict", err)
	}
	for _, id := range []string{a.ID, a.ID, b.ID} {
		if err := d.DetachVolume(ctx, id); err != nil {
			t.Errorf("DetachVolume(%s) = %v", id, err)
		}
	}
	if st, _ := d.GetVolume(ctx, a.ID); st.State != proxies.VolumeAvailable || st.AttachedTo != "" {
		t.Errorf("detached volume = %+v; want available", st)
	}
}

// volumeSnapshots: snapshot blocks the volume's delete; a volume made from it.
func (s *suite) volumeSnapshots(t *testing.T) {
	d, _ := proxies.VolumesOf(s.h.New(t))
	ctx := t.Context()
	v := s.newVolume(t, d, 2)
	snap := proxies.SnapshotSpec{ID: newID(), ProjectID: "contract", VolumeID: v.ID}
	st, err := d.CreateSnapshot(ctx, snap)
	if err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	if st.SizeGB != 2 || st.VolumeID != v.ID {
		t.Errorf("CreateSnapshot = %+v; want size 2 of %s", st, v.ID)
	}
	if err := d.DeleteVolume(ctx, v.ID); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("DeleteVolume with a snapshot = %v; want ErrConflict", err)
	}
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: newID(), SizeGB: 1, SnapshotID: snap.ID}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateVolume smaller than its snapshot = %v; want ErrInvalid", err)
	}
	from, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: newID(), SizeGB: 2, SnapshotID: snap.ID})
	if err != nil {
		t.Fatalf("CreateVolume from snapshot: %v", err)
	}
	s.waitVolume(t, d, from.ID, proxies.VolumeAvailable)
	for _, err := range []error{d.DeleteSnapshot(ctx, snap.ID), d.DeleteSnapshot(ctx, snap.ID)} {
		if err != nil {
			t.Errorf("DeleteSnapshot = %v; want nil (idempotent)", err)
		}
	}
	if _, err := d.GetSnapshot(ctx, snap.ID); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetSnapshot after delete = %v; want ErrNotFound", err)
	}
	if err := d.DeleteVolume(ctx, v.ID); err != nil {
		t.Errorf("DeleteVolume after its snapshot went = %v", err)
	}
}
