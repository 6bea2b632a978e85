package e2e

import (
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageUploadDownload uploads an image with openstackclient, downloads
// it again and checks that the bytes and Glance's checksum match.
func TestImageUploadDownload(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.raw")
	data := []byte(strings.Repeat("canopy image bytes\n", 4096))
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(data)
	want := hex.EncodeToString(sum[:])

	var img map[string]any
	oscJSON(t, "demo", &img, "image", "create", "--disk-format", "raw", "--container-format", "bare", "--file", src, "e2e-upload")
	id := img["id"].(string)
	defer osc(t, "demo", "image", "delete", id)
	var shown map[string]any
	oscJSON(t, "demo", &shown, "image", "show", id)
	if shown["status"] != "active" || shown["checksum"] != want {
		t.Fatalf("image after upload: status %v checksum %v, want active %s", shown["status"], shown["checksum"], want)
	}
	dst := filepath.Join(dir, "back.raw")
	osc(t, "demo", "image", "save", "--file", dst, id)
	back, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if got := md5.Sum(back); hex.EncodeToString(got[:]) != want {
		t.Fatalf("downloaded image differs: md5 %x, want %s", got, want)
	}
	// Another project cannot see a private image.
	if out, err := oscErr(t, "alt", "image", "show", id); err == nil {
		t.Fatalf("alt sees demo's private image:\n%s", out)
	}
}

// TestRouterAndFloatingIP builds a router between private and the external
// network, boots a server and gives it a floating IP, then takes it all down.
func TestRouterAndFloatingIP(t *testing.T) {
	var subnets []map[string]any
	oscJSON(t, "demo", &subnets, "subnet", "list", "--network", "private")
	if len(subnets) != 1 {
		t.Fatalf("private subnets: %v", subnets)
	}
	osc(t, "demo", "router", "create", "r1")
	defer osc(t, "demo", "router", "delete", "r1")
	osc(t, "demo", "router", "set", "--external-gateway", "public", "r1")
	osc(t, "demo", "router", "add", "subnet", "r1", subnets[0]["ID"].(string))
	defer osc(t, "demo", "router", "remove", "subnet", "r1", subnets[0]["ID"].(string))

	var srv map[string]any
	oscJSON(t, "demo", &srv, "server", "create", "--flavor", "1", "--image", "canopy-boot-a",
		"--network", "private", "--wait", "fipvm")
	defer osc(t, "demo", "server", "delete", "--wait", "fipvm")

	var fip map[string]any
	oscJSON(t, "demo", &fip, "floating", "ip", "create", "public")
	addr := fip["floating_ip_address"].(string)
	defer osc(t, "demo", "floating", "ip", "delete", addr)
	if !strings.HasPrefix(addr, "172.24.4.") {
		t.Fatalf("floating IP %s is not from public", addr)
	}
	osc(t, "demo", "server", "add", "floating", "ip", "fipvm", addr)
	var shown map[string]any
	oscJSON(t, "demo", &shown, "floating", "ip", "show", addr)
	if shown["port_id"] == nil || shown["fixed_ip_address"] == nil {
		t.Fatalf("floating IP not associated: %v", shown)
	}
	osc(t, "demo", "server", "remove", "floating", "ip", "fipvm", addr)
}

// TestVolumeLifecycle creates, extends and deletes a volume with
// openstackclient (cinderclient underneath).
func TestVolumeLifecycle(t *testing.T) {
	var vol map[string]any
	oscJSON(t, "demo", &vol, "volume", "create", "--size", "1", "e2e-vol")
	id := vol["id"].(string)
	waitVolume(t, id, "available")
	osc(t, "demo", "volume", "set", "--size", "2", id)
	waitVolume(t, id, "available")
	var shown map[string]any
	oscJSON(t, "demo", &shown, "volume", "show", id)
	if shown["size"] != float64(2) {
		t.Fatalf("size after extend: %v", shown["size"])
	}
	osc(t, "demo", "volume", "delete", id)
}

func waitVolume(t *testing.T, id, want string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		var v map[string]any
		oscJSON(t, "demo", &v, "volume", "show", id)
		if v["status"] == want {
			return
		}
		if v["status"] == "error" {
			t.Fatalf("volume %s went to error", id)
		}
	}
	t.Fatalf("volume %s did not reach %s", id, want)
}
