package compute_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/blockstorage"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// cinderEnv is the compute harness wired to the real block-storage service
// over a simulated pool, with helpers to read volumes through Cinder.
type cinderEnv struct {
	*harness
	vh *harness // the Cinder API
}

func newCinderEnv(t *testing.T) *cinderEnv {
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
	return &cinderEnv{harness: h, vh: &harness{t: t, h: g.Handler()}}
}

// volume shows a volume (nil when it is gone).
func (e *cinderEnv) volume(id string) map[string]any {
	e.t.Helper()
	r := e.vh.do("GET", "/volume/v3/"+projectA+"/volumes/"+id, tokMember, "", "")
	if r.status == http.StatusNotFound {
		return nil
	}
	if r.status != http.StatusOK {
		e.t.Fatalf("show volume: %d %s", r.status, r.body)
	}
	return r.json(e.t)["volume"].(map[string]any)
}

// waitVolume waits until the volume has status want ("" : gone).
func (e *cinderEnv) waitVolume(id, want string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v := e.volume(id)
		if (want == "" && v == nil) || (v != nil && v["status"] == want) {
			return v
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("volume %s is %v, want %q", id, v, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// volumeIDs lists the project's volumes through Cinder.
func (e *cinderEnv) volumeIDs() []string {
	e.t.Helper()
	r := e.vh.do("GET", "/volume/v3/"+projectA+"/volumes", tokMember, "", "")
	var ids []string
	for _, v := range r.json(e.t)["volumes"].([]any) {
		ids = append(ids, v.(map[string]any)["id"].(string))
	}
	slices.Sort(ids)
	return ids
}

func (e *cinderEnv) makeVolume(body string) string {
	e.t.Helper()
	r := e.vh.do("POST", "/volume/v3/"+projectA+"/volumes", tokMember, "", body)
	if r.status != http.StatusAccepted {
		e.t.Fatalf("create volume: %d %s", r.status, r.body)
	}
	id := r.json(e.t)["volume"].(map[string]any)["id"].(string)
	e.waitVolume(id, "available")
	return id
}

// attached is a server's os-extended-volumes:volumes_attached at 2.79.
func (e *cinderEnv) attached(id string) map[string]bool {
	e.t.Helper()
	srv := e.do("GET", "/compute/v2.1/servers/"+id, tokMember, "2.79", "").json(e.t)["server"].(map[string]any)
	out := map[string]bool{}
	for _, v := range srv["os-extended-volumes:volumes_attached"].([]any) {
		m := v.(map[string]any)
		out[m["id"].(string)] = m["delete_on_termination"].(bool)
	}
	return out
}

func (e *cinderEnv) deleteServer(id string) {
	e.t.Helper()
	if r := e.do("DELETE", "/compute/v2.1/servers/"+id, tokMember, "", ""); r.status != http.StatusNoContent {
		e.t.Fatalf("delete server: %d %s", r.status, r.body)
	}
	e.waitStatus(tokMember, id, "")
}

// TestBootFromImageVolume: source image, destination volume makes a
// bootable volume of volume_size from the image, boots from it (the server
// has no image) and keeps it after the server unless
// delete_on_termination.
func TestBootFromImageVolume(t *testing.T) {
	e := newCinderEnv(t)
	for _, dot := range []bool{false, true} {
		mapping := `{"source_type": "image", "destination_type": "volume", "uuid": "` + imageID + `", "boot_index": "0", "volume_size": 2`
		if dot {
			mapping += `, "delete_on_termination": true`
		}
		extra := ""
		if dot {
			// openstackclient 6 sends imageRef with a --block-device root:
			// the volume is the root disk all the same.
			extra = `, "imageRef": "` + imageID + `"`
		}
		id := e.boot(tokMember, bfv(mapping+`}`, extra))
		srv := e.do("GET", "/compute/v2.1/servers/"+id, tokMember, "", "").json(t)["server"].(map[string]any)
		if srv["image"] != "" {
			t.Errorf("image-to-volume server image %v, want \"\"", srv["image"])
		}
		att := e.attached(id)
		if len(att) != 1 {
			t.Fatalf("volumes_attached %v, want the root volume", att)
		}
		var vol string
		for v, d := range att {
			vol = v
			if d != dot {
				t.Errorf("delete_on_termination %v, want %v", d, dot)
			}
		}
		v := e.waitVolume(vol, "in-use")
		md, _ := v["volume_image_metadata"].(map[string]any)
		if v["size"] != float64(2) || v["bootable"] != "true" || md["image_id"] != imageID {
			t.Errorf("root volume %v, want 2 GB, bootable, from %s", v, imageID)
		}
		if atts, _ := v["attachments"].([]any); len(atts) != 1 || atts[0].(map[string]any)["device"] != "/dev/vda" {
			t.Errorf("root volume attachments %v, want /dev/vda", atts)
		}
		if !slices.Contains(e.volumeIDs(), vol) {
			t.Errorf("root volume %s not in the volume list", vol)
		}
		r := e.do("DELETE", "/compute/v2.1/servers/"+id+"/os-volume_attachments/"+vol, tokMember, "", "")
		if r.status != http.StatusBadRequest {
			t.Errorf("detach root volume: %d %s", r.status, r.body)
		}
		e.deleteServer(id)
		if dot {
			e.waitVolume(vol, "")
		} else {
			e.waitVolume(vol, "available")
		}
	}
}

// TestBootWithSeveralBlockDevices: an image root volume, a blank data
// volume and an existing volume (boot index 1) are made and attached in
// boot order; the server's delete removes exactly the volumes marked
// delete_on_termination.
func TestBootWithSeveralBlockDevices(t *testing.T) {
	e := newCinderEnv(t)
	existing := e.makeVolume(`{"volume": {"size": 1}}`)
	mapping := `{"source_type": "blank", "destination_type": "volume", "volume_size": 1, "delete_on_termination": true, "boot_index": -1},
		{"source_type": "volume", "uuid": "` + existing + `", "boot_index": 1},
		{"source_type": "image", "destination_type": "volume", "uuid": "` + imageID + `", "boot_index": 0, "volume_size": 1, "delete_on_termination": "yes"}`
	id := e.boot(tokMember, bfv(mapping, ""))
	att := e.attached(id)
	if len(att) != 3 || att[existing] {
		t.Fatalf("volumes_attached %v, want 3 with the existing one kept", att)
	}
	list := e.do("GET", "/compute/v2.1/servers/"+id+"/os-volume_attachments", tokMember, "", "").json(t)["volumeAttachments"].([]any)
	devices := map[string]string{}
	for _, a := range list {
		m := a.(map[string]any)
		devices[m["volumeId"].(string)] = m["device"].(string)
	}
	if devices[existing] == "/dev/vda" || len(devices) != 3 {
		t.Errorf("devices %v: the image volume is the root, not the existing one", devices)
	}
	var made []string
	for v := range att {
		if v == existing {
			continue
		}
		made = append(made, v)
		vol := e.waitVolume(v, "in-use")
		if devices[v] == "/dev/vda" && vol["bootable"] != "true" {
			t.Errorf("root volume not bootable: %v", vol)
		}
		if devices[v] != "/dev/vda" && vol["name"] != id+"-blank-vol" {
			t.Errorf("blank volume name %v, want %s-blank-vol", vol["name"], id)
		}
	}
	e.deleteServer(id)
	for _, v := range made {
		e.waitVolume(v, "")
	}
	e.waitVolume(existing, "available")
}

// TestBootFromSnapshotVolume: source snapshot makes a volume of the
// snapshot's size that keeps its source's bootable flag and image.
func TestBootFromSnapshotVolume(t *testing.T) {
	e := newCinderEnv(t)
	src := e.makeVolume(`{"volume": {"size": 1, "imageRef": "` + imageID + `"}}`)
	r := e.vh.do("POST", "/volume/v3/"+projectA+"/snapshots", tokMember, "", `{"snapshot": {"volume_id": "`+src+`"}}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("snapshot: %d %s", r.status, r.body)
	}
	snap := r.json(t)["snapshot"].(map[string]any)["id"].(string)
	deadline := time.Now().Add(5 * time.Second)
	for e.vh.do("GET", "/volume/v3/"+projectA+"/snapshots/"+snap, tokMember, "", "").json(t)["snapshot"].(map[string]any)["status"] != "available" {
		if time.Now().After(deadline) {
			t.Fatal("snapshot never available")
		}
		time.Sleep(2 * time.Millisecond)
	}
	id := e.boot(tokMember, bfv(`{"source_type": "snapshot", "destination_type": "volume", "uuid": "`+snap+`", "boot_index": 0, "delete_on_termination": true}`, ""))
	att := e.attached(id)
	if len(att) != 1 {
		t.Fatalf("volumes_attached %v", att)
	}
	for v := range att {
		vol := e.waitVolume(v, "in-use")
		if vol["snapshot_id"] != snap || vol["bootable"] != "true" || vol["size"] != float64(1) {
			t.Errorf("volume from snapshot %v", vol)
		}
		e.deleteServer(id)
		e.waitVolume(v, "")
	}
}

// TestFailedBootLeavesNoVolumes: a create refused half-way (the second
// mapping names a snapshot that does not exist) and a build that fails at
// the backend both delete every volume they made, even without
// delete_on_termination, and give existing volumes back.
func TestFailedBootLeavesNoVolumes(t *testing.T) {
	e := newCinderEnv(t)
	existing := e.makeVolume(`{"volume": {"size": 1}}`)
	before := e.volumeIDs()
	mapping := `{"source_type": "image", "destination_type": "volume", "uuid": "` + imageID + `", "boot_index": 0, "volume_size": 1},
		{"source_type": "volume", "uuid": "` + existing + `", "boot_index": 1},
		{"source_type": "snapshot", "destination_type": "volume", "uuid": "` + volNone + `", "boot_index": 2}`
	r := e.do("POST", "/compute/v2.1/servers", tokMember, "", bfv(mapping, ""))
	if r.status != http.StatusBadRequest || faultMessage(t, r) != "Block Device Mapping is Invalid: failed to get snapshot "+volNone+"." {
		t.Fatalf("create with a missing snapshot: %d %s", r.status, r.body)
	}
	e.waitVolume(existing, "available")
	if got := e.volumeIDs(); !slices.Equal(got, before) {
		t.Errorf("volumes after the refused create %v, want %v", got, before)
	}

	e.cloud.CreateErr = proxies.Errorf(proxies.ErrCapacity, "CreateServer", "no room")
	r = e.do("POST", "/compute/v2.1/servers", tokMember, "", bfv(`{"source_type": "image", "destination_type": "volume", "uuid": "`+imageID+`", "boot_index": 0, "volume_size": 1},
		{"source_type": "volume", "uuid": "`+existing+`", "boot_index": 1}`, ""))
	if r.status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(t)["server"].(map[string]any)["id"].(string)
	e.waitStatus(tokMember, id, "ERROR")
	e.cloud.CreateErr = nil
	e.waitVolume(existing, "available")
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(e.volumeIDs(), before) {
		if time.Now().After(deadline) {
			t.Fatalf("volumes after the failed build %v, want %v", e.volumeIDs(), before)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestLocalDisksAnswerNotImplemented: ephemeral and swap disks that fit the
// flavor are what this cloud cannot make: 501, nothing made.
func TestLocalDisksAnswerNotImplemented(t *testing.T) {
	e := newCinderEnv(t)
	if err := e.svc.EnsureFlavor(context.Background(), registry.Flavor{ID: "eph", Name: "m1.eph", VCPUs: 1, RAMMB: 512, DiskGB: 1,
		EphemeralGB: 1, SwapMB: 512, IsPublic: true}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{
		`{"source_type": "blank", "destination_type": "local", "boot_index": -1, "volume_size": 1}`,
		`{"source_type": "blank", "destination_type": "local", "guest_format": "swap", "boot_index": -1, "volume_size": 512}`,
	} {
		body := `{"server": {"name": "eph", "flavorRef": "eph", "imageRef": "` + imageID + `", "networks": [{"uuid": "` + netA + `"}], "block_device_mapping_v2": [` + m + `]}}`
		r := e.do("POST", "/compute/v2.1/servers", tokMember, "", body)
		if r.status != http.StatusNotImplemented {
			t.Errorf("local disk %s: %d %s", m, r.status, r.body)
		}
	}
	if got := e.volumeIDs(); len(got) != 0 {
		t.Errorf("volumes %v after refused creates", got)
	}
}

// TestAttachWithDeleteOnTermination: a volume attached at 2.79 with
// delete_on_termination and a tag shows both and goes with the server.
func TestAttachWithDeleteOnTermination(t *testing.T) {
	e := newCinderEnv(t)
	vol := e.makeVolume(`{"volume": {"size": 1}}`)
	kept := e.makeVolume(`{"volume": {"size": 1}}`)
	id := e.boot(tokMember, createTempest)
	base := "/compute/v2.1/servers/" + id + "/os-volume_attachments"
	r := e.do("POST", base, tokMember, "2.79", `{"volumeAttachment": {"volumeId": "`+vol+`", "tag": "data", "delete_on_termination": true}}`)
	if r.status != http.StatusOK {
		t.Fatalf("attach: %d %s", r.status, r.body)
	}
	att := r.json(t)["volumeAttachment"].(map[string]any)
	if att["tag"] != "data" || att["delete_on_termination"] != true {
		t.Errorf("attachment %v, want tag data and delete_on_termination", att)
	}
	if r := e.do("POST", base, tokMember, "2.79", `{"volumeAttachment": {"volumeId": "`+kept+`"}}`); r.status != http.StatusOK {
		t.Fatalf("attach kept: %d %s", r.status, r.body)
	}
	if got := e.attached(id); len(got) != 2 || !got[vol] || got[kept] {
		t.Errorf("volumes_attached %v", got)
	}
	e.waitVolume(vol, "in-use")
	e.deleteServer(id)
	e.waitVolume(vol, "")
	e.waitVolume(kept, "available")
}
