package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// awaitVolume polls `openstack volume show` until the volume has status want
// ("" : gone) and returns the last shown volume.
func awaitVolume(t *testing.T, id, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := oscErr(t, "demo", "volume", "show", id, "-f", "json")
		if want == "" && err != nil && strings.Contains(out, "No volume with a name or ID") {
			return nil
		}
		var v map[string]any
		if err == nil {
			v = decodeJSON(t, out)
			if v["status"] == want {
				return v
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("volume %s never reached %q: %v %s", id, want, err, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func decodeJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return v
}

// mustJSONText renders a decoded field as JSON text, for substring checks.
func mustJSONText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// volumesAttached is `server show`'s volumes_attached as raw text (its
// shape differs between client versions); the test looks for ids in it.
func volumesAttached(t *testing.T, server string) string {
	t.Helper()
	var srv map[string]any
	oscJSON(t, "demo", &srv, "server", "show", server)
	return mustJSONText(srv["volumes_attached"])
}

func firstImage(t *testing.T) string {
	t.Helper()
	var images []map[string]any
	oscJSON(t, "demo", &images, "image", "list", "--name", "canopy-boot-a")
	if len(images) != 1 {
		t.Fatalf("image canopy-boot-a: %v", images)
	}
	return images[0]["ID"].(string)
}

// TestVolumeServerAddRemove: `openstack server add volume` makes the volume
// in-use with the server's attachment shown on both sides; `server remove
// volume` makes it available again.
func TestVolumeServerAddRemove(t *testing.T) {
	var vol map[string]any
	oscJSON(t, "demo", &vol, "volume", "create", "--size", "1", "e2e-attach-vol")
	volID := vol["id"].(string)
	t.Cleanup(func() { _, _ = oscErr(t, "demo", "volume", "delete", volID) })
	awaitVolume(t, volID, "available")

	var srv map[string]any
	oscJSON(t, "demo", &srv, "server", "create", "--flavor", "1", "--image", firstImage(t), "--network", "private", "--wait", "e2e-attach-vm")
	srvID := srv["id"].(string)
	t.Cleanup(func() { _, _ = oscErr(t, "demo", "server", "delete", "--wait", srvID) })
	if srv["status"] != "ACTIVE" {
		t.Fatalf("server status %v", srv["status"])
	}

	osc(t, "demo", "server", "add", "volume", srvID, volID)
	v := awaitVolume(t, volID, "in-use")
	if atts := mustJSONText(v["attachments"]); !strings.Contains(atts, srvID) {
		t.Errorf("volume attachments %s do not name the server %s", atts, srvID)
	}
	if got := volumesAttached(t, srvID); !strings.Contains(got, volID) {
		t.Errorf("server volumes_attached %s lacks %s", got, volID)
	}
	if list := osc(t, "demo", "server", "volume", "list", srvID, "-f", "json"); !strings.Contains(list, volID) {
		t.Errorf("server volume list lacks %s:\n%s", volID, list)
	}

	osc(t, "demo", "server", "remove", "volume", srvID, volID)
	v = awaitVolume(t, volID, "available")
	if atts := mustJSONText(v["attachments"]); strings.Contains(atts, srvID) {
		t.Errorf("volume still attached after remove: %s", atts)
	}
	if got := volumesAttached(t, srvID); strings.Contains(got, volID) {
		t.Errorf("server still lists the removed volume: %s", got)
	}
}

// attachedVolume is the one volume of `volume list` that the server has in
// volumes_attached.
func attachedVolume(t *testing.T, srvID string) string {
	t.Helper()
	var vols []map[string]any
	oscJSON(t, "demo", &vols, "volume", "list")
	attached := volumesAttached(t, srvID)
	var found []string
	for _, v := range vols {
		if id := v["ID"].(string); strings.Contains(attached, id) {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		t.Fatalf("volumes of `volume list` %v in volumes_attached %s: %v, want one", vols, attached, found)
	}
	return found[0]
}

func createServer(t *testing.T, name string, args ...string) string {
	t.Helper()
	var srv map[string]any
	oscJSON(t, "demo", &srv, append(append([]string{"server", "create", "--flavor", "1", "--network", "private", "--wait"}, args...), name)...)
	id := srv["id"].(string)
	if srv["status"] != "ACTIVE" {
		_, _ = oscErr(t, "demo", "server", "delete", id)
		t.Fatalf("%s: status %v", name, srv["status"])
	}
	return id
}

// TestVolumeBootFromImage: `server create --image … --boot-from-volume 1`
// boots an ACTIVE server from a bootable volume made from the image; the
// server shows no image and the volume is kept after the server
// (openstackclient sends no delete_on_termination for it).
func TestVolumeBootFromImage(t *testing.T) {
	image := firstImage(t)
	srvID := createServer(t, "e2e-bfv", "--image", image, "--boot-from-volume", "1")
	var shown map[string]any
	oscJSON(t, "demo", &shown, "server", "show", srvID)
	if img := mustJSONText(shown["image"]); strings.Contains(img, image) {
		t.Errorf("volume-backed server shows image %s", img)
	}
	volID := attachedVolume(t, srvID)
	v := awaitVolume(t, volID, "in-use")
	if v["bootable"] != "true" || v["size"] != float64(1) {
		t.Errorf("root volume %v, want bootable, 1 GB", v)
	}
	osc(t, "demo", "server", "delete", "--wait", srvID)
	awaitVolume(t, volID, "available")
	osc(t, "demo", "volume", "delete", volID)
	awaitVolume(t, volID, "")
}

// TestVolumeDeleteOnTermination: a blank data volume made by `--block-device
// …,delete_on_termination=true` goes with its server. (openstackclient
// cannot mark a --boot-from-volume root for deletion, and with --image it
// also sends the image as boot index 0, so a --block-device root is Nova's
// boot-sequence 400: both are covered by gateway/compute's tests.)
func TestVolumeDeleteOnTermination(t *testing.T) {
	image := firstImage(t)
	srvID := createServer(t, "e2e-dot", "--image", image, "--block-device",
		"source_type=blank,destination_type=volume,volume_size=1,delete_on_termination=true")
	volID := attachedVolume(t, srvID)
	awaitVolume(t, volID, "in-use")
	var atts []map[string]any
	oscJSON(t, "demo", &atts, "--os-compute-api-version", "2.79", "server", "volume", "list", srvID)
	if len(atts) != 1 || atts[0]["Delete On Termination?"] != true {
		t.Errorf("server volume list at 2.79: %v, want the volume with Delete On Termination", atts)
	}
	osc(t, "demo", "server", "delete", "--wait", srvID)
	awaitVolume(t, volID, "")
}
