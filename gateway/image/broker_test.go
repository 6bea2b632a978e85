package image_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/canopy-cloud/canopy/gateway/image"
	"github.com/canopy-cloud/canopy/registry"
)

const cirrosID = "6c0b5b5e-0000-4000-8000-00000000c1a5"

func TestEnsureImageAndSnapshots(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	seed := image.ImageSeed{ID: cirrosID, Name: "cirros", Owner: "admin-project", Data: []byte("hello")}
	first, err := e.svc.EnsureImage(ctx, seed)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.EnsureImage(ctx, seed)
	if err != nil || again.ID != first.ID || again.Status != "active" || *again.Size != 5 || again.Checksum != helloMD5 {
		t.Fatalf("EnsureImage not idempotent: %+v %v", again, err)
	}
	if first.Visibility != "public" || len(first.Locations) != 1 {
		t.Fatalf("seeded image: %+v", first)
	}
	if _, err := e.svc.VisibleImage(ctx, "demo-project", false, cirrosID); err != nil {
		t.Fatalf("public image not visible to demo: %v", err)
	}
	snap, err := e.svc.CreateSnapshotImage(ctx, "demo-project", "snap1", map[string]string{"image_type": "snapshot", "instance_uuid": "srv1"})
	if err != nil || snap.Status != "queued" || snap.Visibility != "private" {
		t.Fatalf("snapshot: %+v %v", snap, err)
	}
	if _, err := e.svc.VisibleImage(ctx, "alt-project", false, snap.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("alt sees demo's snapshot: %v", err)
	}
	if _, err := e.svc.VisibleImage(ctx, "alt-project", true, snap.ID); err != nil {
		t.Fatalf("admin does not see the snapshot: %v", err)
	}
	if err := e.svc.CompleteSnapshotImage(ctx, snap.ID, cirrosID, false); err != nil {
		t.Fatal(err)
	}
	resp, data := e.raw("demo", "GET", "/image/v2/images/"+snap.ID+"/file", "", nil)
	if resp.StatusCode != http.StatusOK || string(data) != "hello" {
		t.Fatalf("snapshot data: %d %q", resp.StatusCode, data)
	}
	_, shown := e.json("demo", "GET", "/image/v2/images/"+snap.ID, "", "")
	if shown["status"] != "active" || shown["image_type"] != "snapshot" || shown["disk_format"] != "qcow2" {
		t.Fatalf("snapshot record: %v", shown)
	}
	failed, _ := e.svc.CreateSnapshotImage(ctx, "demo-project", "snap2", nil)
	if err := e.svc.CompleteSnapshotImage(ctx, failed.ID, cirrosID, true); err != nil {
		t.Fatal(err)
	}
	if _, shown := e.json("demo", "GET", "/image/v2/images/"+failed.ID, "", ""); shown["status"] != "killed" {
		t.Fatalf("failed snapshot: %v", shown["status"])
	}
	// A range request is served from the store as well.
	req, _ := http.NewRequest("GET", e.srv.URL+"/image/v2/images/"+cirrosID+"/file", nil)
	req.Header.Set("X-Auth-Token", "alt")
	req.Header.Set("Range", "bytes=1-3")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusPartialContent || string(part) != "ell" {
		t.Fatalf("range: %d %q", r.StatusCode, part)
	}
}
