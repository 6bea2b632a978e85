package libvirt_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/localcloud/bootdisk"
	"github.com/canopy-cloud/canopy/localcloud/libvirt"
	"github.com/canopy-cloud/canopy/proxies"
)

// TestPoolVolumeOnRealGuest attaches a pool volume to a TCG guest on a KVM
// host and proves the guest sees it: the guest's boot sector prints how
// many virtio disks its PCI bus holds, 1 before the attach and 2 after a
// reset with the volume hot-plugged. Detach, extend and delete reach the file.
func TestPoolVolumeOnRealGuest(t *testing.T) {
	requireLibvirt(t)
	const tag = "vol-guest"
	img, err := bootdisk.BuildDiskCounter(tag, bootdisk.DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	imageID, dir := newID(), stateDir(t)
	cfg := localcloud.DefaultConfig()
	cfg.SimulatedHosts = 0
	cfg.KVMHosts = []localcloud.KVMHostConfig{{Name: "kvm-vol", DomainType: "qemu", StateDir: dir, ShutdownTimeout: time.Second}}
	p, err := localcloud.New("local-kvm", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hosts, err := libvirt.AddToPool(t.Context(), p, cfg, libvirt.Options{Images: imageMap{imageID: img}})
	if err != nil || len(hosts) != 1 {
		t.Fatalf("AddToPool = %v, %v; want one host", hosts, err)
	}
	h, ctx := hosts[0], t.Context()
	id := newID()
	if _, err := p.Servers().CreateServer(ctx, proxies.ServerSpec{ID: id, ProjectID: "p", Name: "vol", ImageID: imageID, Flavor: tinyFlavor()}); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	defer h.DestroyDomain(context.WithoutCancel(ctx), id)
	read := func(ctx context.Context) (string, error) { return p.Servers().ConsoleOutput(ctx, id, 0) }
	waitConsole(t, read, bootdisk.DisksLine(tag, 1))

	d, _ := proxies.VolumesOf(p)
	volID := newID()
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: volID, SizeGB: 1}); err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	defer func() { _ = h.DeleteVolumeFile(context.WithoutCancel(ctx), volID) }()
	file := filepath.Join(dir, "volumes", volID+".qcow2")
	for i := range 2 {
		dev, err := d.AttachVolume(ctx, volID, id)
		if err != nil || dev != "/dev/vdb" {
			t.Fatalf("AttachVolume #%d = %q, %v; want /dev/vdb", i+1, dev, err)
		}
	}
	if gb := virtualSizeGB(t, file); gb != 1 {
		t.Errorf("volume file is %d GiB; want 1", gb)
	}
	if st, err := d.GetVolume(ctx, volID); err != nil || st.State != proxies.VolumeInUse || st.AttachedTo != id || st.Device != "/dev/vdb" {
		t.Errorf("GetVolume = %+v, %v; want in-use on %s as /dev/vdb", st, err, id)
	}
	// The boot sector counts once, at boot: a reset makes it count again
	// with the hot-plugged disk on its PCI bus.
	if _, err := p.Servers().RebootServer(ctx, id, proxies.RebootHard); err != nil {
		t.Fatalf("RebootServer: %v", err)
	}
	out := waitConsole(t, read, bootdisk.DisksLine(tag, 2))
	t.Logf("console after attach and reset: %q", out)
	if _, err := d.ExtendVolume(ctx, volID, 2); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("ExtendVolume of an attached volume = %v; want ErrConflict", err)
	}

	// A running guest of a boot sector cannot answer an unplug request, so
	// the server is stopped for the detach; its next boot counts one disk.
	if _, err := p.Servers().StopServer(ctx, id); err != nil {
		t.Fatalf("StopServer: %v", err)
	}
	if err := d.DetachVolume(ctx, volID); err != nil {
		t.Fatalf("DetachVolume: %v", err)
	}
	if _, err := p.Servers().StartServer(ctx, id); err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	waitCount(t, read, bootdisk.DisksLine(tag, 1), 2)
	if st, err := d.ExtendVolume(ctx, volID, 2); err != nil || st.SizeGB != 2 {
		t.Fatalf("ExtendVolume of the detached volume = %+v, %v; want 2 GB", st, err)
	}
	if gb := virtualSizeGB(t, file); gb != 2 {
		t.Errorf("volume file after extend is %d GiB; want 2", gb)
	}
	for i := range 2 {
		if err := d.DeleteVolume(ctx, volID); err != nil {
			t.Fatalf("DeleteVolume #%d: %v", i+1, err)
		}
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("volume file after delete: %v; want it gone", err)
	}
	if _, err := d.GetVolume(ctx, volID); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetVolume after delete = %v; want ErrNotFound", err)
	}
}

// waitCount polls the console until want appears n times.
func waitCount(t *testing.T, read func(context.Context) (string, error), want string, n int) {
	t.Helper()
	waitConsole(t, func(ctx context.Context) (string, error) {
		out, err := read(ctx)
		if strings.Count(out, want) >= n {
			return want, err
		}
		return "", err
	}, want)
}

// virtualSizeGB is the virtual size of the qcow2 file at path in GiB.
func virtualSizeGB(t *testing.T, path string) int64 {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "-U", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	return info.VirtualSize >> 30
}
