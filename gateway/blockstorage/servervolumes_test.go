package blockstorage_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/canopy-cloud/canopy/gateway/blockstorage"
	"github.com/canopy-cloud/canopy/gateway/wire"
)

// TestServerVolumes: the compute service's volumes are Cinder volumes of
// the project (listed, under quota), made once per id, waited for until
// available, and deleted idempotently.
func TestServerVolumes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const id = "5a1e0c4d-0000-5000-8000-0000000000b1"
	spec := blockstorage.ServerVolumeSpec{ID: id, ProjectID: projectA, UserID: userA, SizeGB: 1, ImageID: imageID}
	v, err := h.svc.CreateServerVolume(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != id || v.Status != blockstorage.StatusAvailable || !v.Bootable || v.ImageMetadata["image_id"] != imageID {
		t.Fatalf("volume from image %+v", v)
	}
	again, err := h.svc.CreateServerVolume(ctx, spec)
	if err != nil || again.ID != id {
		t.Fatalf("retried create: %v %+v", err, again)
	}
	list := h.do("GET", "/volume/v3/"+projectA+"/volumes", tokMember, "", "").json(t)["volumes"].([]any)
	if len(list) != 1 {
		t.Fatalf("volume list %v, want the one volume", list)
	}
	quota := h.do("GET", "/volume/v3/"+projectA+"/os-quota-sets/"+projectA+"?usage=true", tokMember, "", "").json(t)["quota_set"].(map[string]any)
	if used := quota["volumes"].(map[string]any)["in_use"]; used != float64(1) {
		t.Errorf("volumes in use %v, want 1 (the retry took no quota)", used)
	}

	// A snapshot's volume keeps its source's bootable flag and image.
	r := h.do("POST", "/volume/v3/"+projectA+"/snapshots", tokMember, "", `{"snapshot": {"volume_id": "`+id+`"}}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("snapshot: %d %s", r.status, r.body)
	}
	snap := r.json(t)["snapshot"].(map[string]any)["id"].(string)
	h.waitSnapshot(snap)
	const fromSnap = "5a1e0c4d-0000-5000-8000-0000000000b2"
	sv, err := h.svc.CreateServerVolume(ctx, blockstorage.ServerVolumeSpec{ID: fromSnap, ProjectID: projectA, UserID: userA, SnapshotID: snap})
	if err != nil || sv.Size != 1 || !sv.Bootable || sv.ImageMetadata["image_id"] != imageID {
		t.Fatalf("volume from snapshot: %v %+v", err, sv)
	}

	_, err = h.svc.CreateServerVolume(ctx, blockstorage.ServerVolumeSpec{ID: "5a1e0c4d-0000-5000-8000-0000000000b3", ProjectID: projectA, SnapshotID: "5a1e0c4d-0000-5000-8000-0000000000ff"})
	var we *wire.Error
	if !errors.As(err, &we) || we.Status != http.StatusNotFound {
		t.Errorf("missing snapshot: %v, want Cinder's 404", err)
	}
	if _, err := h.svc.CreateServerVolume(ctx, blockstorage.ServerVolumeSpec{ID: "5a1e0c4d-0000-5000-8000-0000000000b4", ProjectID: projectA}); err == nil {
		t.Error("blank volume without a size was made")
	}

	if err := h.svc.DeleteServerVolume(ctx, projectA, fromSnap); err != nil {
		t.Fatal(err)
	}
	h.waitGone(fromSnap)
	if err := h.svc.DeleteServerVolume(ctx, projectA, fromSnap); err != nil {
		t.Errorf("second delete: %v, want nil", err)
	}
}

func (h *harness) waitSnapshot(id string) {
	h.t.Helper()
	for range 500 {
		if h.do("GET", "/volume/v3/"+projectA+"/snapshots/"+id, tokMember, "", "").json(h.t)["snapshot"].(map[string]any)["status"] == "available" {
			return
		}
	}
	h.t.Fatalf("snapshot %s never available", id)
}

func (h *harness) waitGone(id string) {
	h.t.Helper()
	for range 500 {
		if h.do("GET", "/volume/v3/"+projectA+"/volumes/"+id, tokMember, "", "").status == http.StatusNotFound {
			return
		}
	}
	h.t.Fatalf("volume %s not deleted", id)
}
