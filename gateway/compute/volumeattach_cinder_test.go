package compute_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/blockstorage"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// TestVolumeAttachWithCinder drives Nova's attach and detach against the
// real block-storage service over a simulated pool: the volume goes
// in-use with the server's attachment, then available again, and a
// deleted server gives its volumes back.
func TestVolumeAttachWithCinder(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := localcloud.DefaultConfig()
	cfg.ApplyBuildDelay(0)
	pool, err := localcloud.New("local", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	size := int64(13 << 20)
	images := brokertest.NewImages(&registry.Image{ID: imageID, Name: "cirros", Status: "active", Visibility: "public",
		DiskFormat: "qcow2", ContainerFormat: "bare", Size: &size})
	cinder := blockstorage.New(reg, images, map[string]proxies.Backend{"sim": pool}, blockstorage.Options{})
	h.b.SetVolumes(cinder)
	g := gateway.New(slog.New(slog.DiscardHandler), principals)
	g.Mount(cinder)
	vh := &harness{t: t, h: g.Handler()}

	volume := func(id string) map[string]any {
		t.Helper()
		r := vh.do("GET", "/volume/v3/"+projectA+"/volumes/"+id, tokMember, "", "")
		if r.status != http.StatusOK {
			t.Fatalf("show volume: %d %s", r.status, r.body)
		}
		return r.json(t)["volume"].(map[string]any)
	}
	waitVolume := func(id, want string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			v := volume(id)
			if v["status"] == want {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("volume %s is %v, want %s", id, v["status"], want)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	r := vh.do("POST", "/volume/v3/"+projectA+"/volumes", tokMember, "", `{"volume": {"size": 1}}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("create volume: %d %s", r.status, r.body)
	}
	vol := r.json(t)["volume"].(map[string]any)["id"].(string)
	waitVolume(vol, "available")

	id := h.boot(tokMember, createTempest)
	base := "/compute/v2.1/servers/" + id + "/os-volume_attachments"
	r = h.do("POST", base, tokMember, "", `{"volumeAttachment": {"volumeId": "`+vol+`"}}`)
	if r.status != http.StatusOK {
		t.Fatalf("attach: %d %s", r.status, r.body)
	}
	if dev := r.json(t)["volumeAttachment"].(map[string]any)["device"]; dev != "/dev/vdb" {
		t.Errorf("device %v, want /dev/vdb", dev)
	}
	v := waitVolume(vol, "in-use")
	atts, _ := v["attachments"].([]any)
	if len(atts) != 1 || atts[0].(map[string]any)["server_id"] != id {
		t.Errorf("cinder attachments %v, want one to %s", atts, id)
	}
	other := h.boot(tokMember, createTempest)
	r = h.do("POST", "/compute/v2.1/servers/"+other+"/os-volume_attachments", tokMember, "", `{"volumeAttachment": {"volumeId": "`+vol+`"}}`)
	if r.status != http.StatusBadRequest {
		t.Errorf("attach in-use volume elsewhere: %d %s", r.status, r.body)
	}
	if r := h.do("DELETE", base+"/"+vol, tokMember, "", ""); r.status != http.StatusAccepted {
		t.Fatalf("detach: %d %s", r.status, r.body)
	}
	waitVolume(vol, "available")

	if r := h.do("POST", base, tokMember, "", `{"volumeAttachment": {"volumeId": "`+vol+`"}}`); r.status != http.StatusOK {
		t.Fatalf("re-attach: %d %s", r.status, r.body)
	}
	waitVolume(vol, "in-use")
	if r := h.do("DELETE", "/compute/v2.1/servers/"+id, tokMember, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete server: %d %s", r.status, r.body)
	}
	h.waitStatus(tokMember, id, "")
	waitVolume(vol, "available")

	// Boot from a volume made from an image: the server has no image, the
	// volume is its root disk until the server is deleted.
	r = vh.do("POST", "/volume/v3/"+projectA+"/volumes", tokMember, "", `{"volume": {"size": 1, "imageRef": "`+imageID+`"}}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("create volume from image: %d %s", r.status, r.body)
	}
	boot := r.json(t)["volume"].(map[string]any)["id"].(string)
	waitVolume(boot, "available")
	bfvID := h.boot(tokMember, bfv(bootMapping(boot), ""))
	if img := h.do("GET", "/compute/v2.1/servers/"+bfvID, tokMember, "", "").json(t)["server"].(map[string]any)["image"]; img != "" {
		t.Errorf("volume-backed server image %v, want \"\"", img)
	}
	v = waitVolume(boot, "in-use")
	if atts, _ := v["attachments"].([]any); len(atts) != 1 || atts[0].(map[string]any)["device"] != "/dev/vda" {
		t.Errorf("boot volume attachments %v, want one at /dev/vda", atts)
	}
	if r := h.do("DELETE", "/compute/v2.1/servers/"+bfvID, tokMember, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete volume-backed server: %d %s", r.status, r.body)
	}
	h.waitStatus(tokMember, bfvID, "")
	waitVolume(boot, "available")
}
