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
// Run's caller adds it beside Run until Run calls it itself. The attach
// group attaches to a real server, booted from the harness's image and
// flavor, when the backend declares servers (no real cloud attaches a volume
// to a server that does not exist), so such a backend's harness needs the
// image Run needs; a backend without servers is attached to a random id.
func RunVolumes(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("contracttest: Harness.New is required")
	}
	if h.Flavor.ID == "" {
		h.Flavor = proxies.Flavor{ID: "contract-tiny", Name: "contract.tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1}
	}
	if h.Timeout <= 0 {
		h.Timeout = 60 * time.Second
	}
	if h.ImageID == "" {
		h.ImageID = h.Image.ID
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
	pause := time.Millisecond
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
		case <-time.After(pause):
		}
		pause = min(pause*2, 250*time.Millisecond)
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
	s.cleanupVolume(t, d, spec.ID)
	again, err := d.CreateVolume(t.Context(), spec)
	if err != nil || again.BottomID != st.BottomID {
		t.Errorf("a retried CreateVolume = %+v, %v; want the same volume %s", again, err, st.BottomID)
	}
	return s.waitVolume(t, d, spec.ID, proxies.VolumeAvailable)
}

// cleanupVolume deletes volume id when the test ends, detaching it first
// and waiting (bounded) for the detach, so that a real cloud keeps nothing
// the suite made. Its errors are the checks' business, not the cleanup's.
func (s *suite) cleanupVolume(t *testing.T, d proxies.VolumeDriver, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), s.h.Timeout)
		defer cancel()
		_ = d.DetachVolume(ctx, id)
		for ctx.Err() == nil {
			st, err := d.GetVolume(ctx, id)
			if err != nil || st.State == proxies.VolumeAvailable || st.State == proxies.VolumeError {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
		_ = d.DeleteVolume(ctx, id)
	})
}

// attachTarget is the server the attach group attaches volumes to. When the
// backend declares servers it is a real one, booted from the harness's image
// and flavor and settled, then deleted when the test ends (before the
// volumes, which were made first); otherwise it is a random id.
func (s *suite) attachTarget(t *testing.T, b proxies.Backend) string {
	t.Helper()
	if !b.Capabilities().Servers {
		return newID()
	}
	s.importImage(t, b)
	spec := s.serverSpec()
	if _, err := b.Servers().CreateServer(t.Context(), spec); err != nil {
		t.Fatalf("CreateServer (to attach volumes to): %v", err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		_ = b.Servers().DeleteServer(ctx, spec.ID)
		s.waitGoneQuietly(ctx, b, spec.ID)
	})
	s.wantSettled(t, b, spec.ID, proxies.StateActive, proxies.PowerRunning)
	return spec.ID
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
	pause := time.Millisecond
	for {
		_, err := d.GetVolume(ctx, id)
		if errors.Is(err, proxies.ErrNotFound) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("volume %s is still there after delete: %v", id, err)
		case <-time.After(pause):
		}
		pause = min(pause*2, 250*time.Millisecond)
	}
}

// volumeAttach: attach gives distinct devices, is idempotent, blocks delete.
// A cloud may attach and detach asynchronously, so the states are waited
// for (bounded by the harness's timeout).
func (s *suite) volumeAttach(t *testing.T) {
	be := s.h.New(t)
	d, _ := proxies.VolumesOf(be)
	ctx := t.Context()
	a, b := s.newVolume(t, d, 1), s.newVolume(t, d, 1)
	server := s.attachTarget(t, be)
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
	if st := s.waitVolume(t, d, a.ID, proxies.VolumeInUse); st.AttachedTo != server {
		t.Errorf("attached volume = %+v; want in-use on %s", st, server)
	}
	s.waitVolume(t, d, b.ID, proxies.VolumeInUse)
	if err := d.DeleteVolume(ctx, a.ID); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("DeleteVolume of an attached volume = %v; want ErrConflict", err)
	}
	for _, id := range []string{a.ID, a.ID, b.ID} {
		if err := d.DetachVolume(ctx, id); err != nil {
			t.Errorf("DetachVolume(%s) = %v", id, err)
		}
	}
	if st := s.waitVolume(t, d, a.ID, proxies.VolumeAvailable); st.AttachedTo != "" {
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
	t.Cleanup(func() { _ = d.DeleteSnapshot(context.WithoutCancel(ctx), snap.ID) })
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
	s.cleanupVolume(t, d, from.ID)
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
