package openstack_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

func waitVolume(t *testing.T, d proxies.VolumeDriver, id string, want proxies.VolumeState) proxies.VolumeStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		st, err := d.GetVolume(ctx, id)
		if err == nil && st.State == want {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("volume %s did not reach %s: %+v, %v", id, want, st, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestVolumes drives the bottom Cinder: create (idempotent), extend,
// snapshot, a volume from the snapshot, attach to a real bottom server
// (idempotent, blocks delete), detach, delete. TestContract runs the
// contract's volume groups too; this test adds what they do not check (a
// same-size extend refused, a volume made from a snapshot attached).
func TestVolumes(t *testing.T) {
	b := newBackend(t, "demo", nil)
	d, ok := proxies.VolumesOf(b)
	if !ok {
		t.Fatal("the bottom Canopy has Cinder but VolumesOf finds no driver")
	}
	ctx := t.Context()
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: newID(t), SizeGB: 0}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateVolume of size 0 = %v; want ErrInvalid", err)
	}
	spec := proxies.VolumeSpec{ID: newID(t), ProjectID: "p-vol", Name: "data", SizeGB: 1}
	v1, err := d.CreateVolume(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := d.CreateVolume(ctx, spec); err != nil || again.BottomID != v1.BottomID {
		t.Fatalf("CreateVolume retried = %+v, %v; want %s", again, err, v1.BottomID)
	}
	waitVolume(t, d, spec.ID, proxies.VolumeAvailable)
	if _, err := d.ExtendVolume(ctx, spec.ID, 1); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("ExtendVolume to the same size = %v; want ErrInvalid", err)
	}
	if _, err := d.ExtendVolume(ctx, spec.ID, 2); err != nil {
		t.Fatalf("ExtendVolume: %v", err)
	}
	if st := waitVolume(t, d, spec.ID, proxies.VolumeAvailable); st.SizeGB != 2 {
		t.Errorf("size after extend = %d; want 2", st.SizeGB)
	}

	snap := proxies.SnapshotSpec{ID: newID(t), ProjectID: "p-vol", VolumeID: spec.ID}
	if st, err := d.CreateSnapshot(ctx, snap); err != nil || st.VolumeID != spec.ID || st.SizeGB != 2 {
		t.Fatalf("CreateSnapshot = %+v, %v; want size 2 of %s", st, err, spec.ID)
	}
	if err := d.DeleteVolume(ctx, spec.ID); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("DeleteVolume with a snapshot = %v; want ErrConflict", err)
	}
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: newID(t), SizeGB: 1, SnapshotID: snap.ID}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateVolume smaller than its snapshot = %v; want ErrInvalid", err)
	}
	from := proxies.VolumeSpec{ID: newID(t), ProjectID: "p-vol", SizeGB: 2, SnapshotID: snap.ID}
	if _, err := d.CreateVolume(ctx, from); err != nil {
		t.Fatalf("CreateVolume from the snapshot: %v", err)
	}
	waitVolume(t, d, from.ID, proxies.VolumeAvailable)

	srv := serverSpec(t, "p-vol")
	if _, err := b.CreateServer(ctx, srv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteServer(context.WithoutCancel(ctx), srv.ID) })
	waitState(t, b, srv.ID, proxies.StateActive)
	devA, err := d.AttachVolume(ctx, spec.ID, srv.ID)
	if err != nil {
		t.Fatalf("AttachVolume: %v", err)
	}
	devB, err := d.AttachVolume(ctx, from.ID, srv.ID)
	if err != nil {
		t.Fatalf("AttachVolume (second): %v", err)
	}
	if devA == "" || devA == devB {
		t.Errorf("devices %q and %q; want two distinct names", devA, devB)
	}
	if again, err := d.AttachVolume(ctx, spec.ID, srv.ID); err != nil || again != devA {
		t.Errorf("AttachVolume repeated = %q, %v; want %q", again, err, devA)
	}
	if st, _ := d.GetVolume(ctx, spec.ID); st.State != proxies.VolumeInUse || st.AttachedTo != srv.ID {
		t.Errorf("attached volume = %+v; want in-use on top server %s", st, srv.ID)
	}
	if err := d.DeleteVolume(ctx, from.ID); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("DeleteVolume of an attached volume = %v; want ErrConflict", err)
	}
	for _, id := range []string{spec.ID, spec.ID, from.ID} {
		if err := d.DetachVolume(ctx, id); err != nil {
			t.Errorf("DetachVolume(%s) = %v", id, err)
		}
	}
	for _, err := range []error{d.DeleteSnapshot(ctx, snap.ID), d.DeleteSnapshot(ctx, snap.ID)} {
		if err != nil {
			t.Errorf("DeleteSnapshot = %v; want nil (idempotent)", err)
		}
	}
	if _, err := d.GetSnapshot(ctx, snap.ID); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetSnapshot after delete = %v; want ErrNotFound", err)
	}
	for _, id := range []string{spec.ID, spec.ID, from.ID, newID(t)} {
		if err := d.DeleteVolume(ctx, id); err != nil {
			t.Errorf("DeleteVolume(%s) = %v; want nil", id, err)
		}
	}
}
