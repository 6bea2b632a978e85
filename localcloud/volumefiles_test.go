package localcloud_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
)

// fakeVolumeHost is a simulated host that keeps volume files in memory, with
// a call log: the pool's routing of volumes to KVM hosts without libvirt.
type fakeVolumeHost struct {
	localcloud.HostDriver

	mu       sync.Mutex
	files    map[string]int            // volume → size in GB
	attached map[string]map[string]int // server → volume → disk index
	calls    []string
}

var _ localcloud.VolumeHost = (*fakeVolumeHost)(nil)

func (h *fakeVolumeHost) log(format string, args ...any) {
	h.calls = append(h.calls, fmt.Sprintf(format, args...))
}

func (h *fakeVolumeHost) CreateVolumeFile(ctx context.Context, id string, sizeGB int) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log("create %s %d", id, sizeGB)
	if _, ok := h.files[id]; !ok {
		h.files[id] = sizeGB
	}
	return "/volumes/" + id, nil
}

func (h *fakeVolumeHost) ResizeVolumeFile(ctx context.Context, id string, sizeGB int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log("resize %s %d", id, sizeGB)
	if _, ok := h.files[id]; !ok {
		return proxies.Errorf(proxies.ErrNotFound, "ExtendVolume", "no file %s", id)
	}
	h.files[id] = sizeGB
	return nil
}

func (h *fakeVolumeHost) AttachVolumeFile(ctx context.Context, serverID, id string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log("attach %s %s", serverID, id)
	if _, ok := h.files[id]; !ok {
		return "", proxies.Errorf(proxies.ErrNotFound, "AttachVolume", "no file %s", id)
	}
	disks := h.attached[serverID]
	if disks == nil {
		disks = map[string]int{}
		h.attached[serverID] = disks
	}
	if _, ok := disks[id]; !ok {
		disks[id] = len(disks)
	}
	return fmt.Sprintf("/dev/vd%c", 'b'+disks[id]), nil
}

func (h *fakeVolumeHost) DetachVolumeFile(ctx context.Context, serverID, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log("detach %s %s", serverID, id)
	delete(h.attached[serverID], id)
	return nil
}

func (h *fakeVolumeHost) DeleteVolumeFile(ctx context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log("delete %s", id)
	delete(h.files, id)
	return nil
}

func (h *fakeVolumeHost) file(id string) (int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	gb, ok := h.files[id]
	return gb, ok
}

// volumePool is a pool of two fake volume hosts (kvm-a, kvm-b: simulated
// hosts borrowed from another pool) and one plain simulated host (sim).
func volumePool(t *testing.T) (*localcloud.Pool, *fakeVolumeHost, *fakeVolumeHost, string) {
	t.Helper()
	donor := newPool(t, func(cfg *localcloud.Config) { cfg.SimulatedHosts = 3 })
	inv, err := donor.Inventory().Hosts(t.Context())
	if err != nil || len(inv) != 3 {
		t.Fatalf("donor hosts = %v, %v", inv, err)
	}
	cfg := localcloud.DefaultConfig()
	cfg.ApplyBuildDelay(0)
	cfg.SimulatedHosts = 0
	cfg.KVMHosts = []localcloud.KVMHostConfig{{Name: inv[0].Name}, {Name: inv[1].Name}}
	p, err := localcloud.New("local-vol", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	var fakes []*fakeVolumeHost
	for _, i := range inv[:2] {
		h, _ := donor.Host(i.Name)
		f := &fakeVolumeHost{HostDriver: h, files: map[string]int{}, attached: map[string]map[string]int{}}
		fakes = append(fakes, f)
		if err := p.AddHost(f); err != nil {
			t.Fatal(err)
		}
	}
	sim, _ := donor.Host(inv[2].Name)
	if err := p.AddHost(sim); err != nil {
		t.Fatal(err)
	}
	return p, fakes[0], fakes[1], sim.Name()
}

// TestVolumesMeetVolumeHosts: a volume gets its file on the KVM host of
// the first server it is attached to (once), extends and deletes reach the
// file, a server on another KVM host is refused naming both hosts, and a
// simulated server keeps a simulated attach.
func TestVolumesMeetVolumeHosts(t *testing.T) {
	p, a, b, sim := volumePool(t)
	ctx := t.Context()
	d, ok := proxies.VolumesOf(p)
	if !ok {
		t.Fatal("VolumesOf(pool) = false")
	}
	boot := func(id, host string) {
		t.Helper()
		if _, err := p.Servers().CreateServer(ctx, spec(id, host)); err != nil {
			t.Fatalf("CreateServer on %s: %v", host, err)
		}
	}
	boot("on-a", a.Name())
	boot("on-b", b.Name())
	boot("on-sim", sim)
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "vol", SizeGB: 2}); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.file("vol"); ok {
		t.Fatal("CreateVolume made a file before any attach; want the file on first attach")
	}

	for i := range 2 {
		dev, err := d.AttachVolume(ctx, "vol", "on-a")
		if err != nil || dev != "/dev/vdb" {
			t.Fatalf("AttachVolume #%d to a server on %s = %q, %v; want /dev/vdb", i+1, a.Name(), dev, err)
		}
	}
	if gb, ok := a.file("vol"); !ok || gb != 2 {
		t.Errorf("file on %s = %d GB, %v; want 2 GB", a.Name(), gb, ok)
	}
	if _, err := d.ExtendVolume(ctx, "vol", 3); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("ExtendVolume of an attached volume = %v; want ErrConflict", err)
	}
	if _, err := d.CreateSnapshot(ctx, proxies.SnapshotSpec{ID: "snap", VolumeID: "vol", Force: true}); !errors.Is(err, proxies.ErrNotSupported) {
		t.Errorf("CreateSnapshot of a volume with a real file = %v; want ErrNotSupported", err)
	}
	if err := d.DetachVolume(ctx, "vol"); err != nil {
		t.Fatalf("DetachVolume: %v", err)
	}
	if st, err := d.ExtendVolume(ctx, "vol", 3); err != nil || st.SizeGB != 3 {
		t.Errorf("ExtendVolume = %+v, %v; want 3 GB", st, err)
	}
	if gb, _ := a.file("vol"); gb != 3 {
		t.Errorf("file after extend = %d GB; want 3", gb)
	}

	_, err := d.AttachVolume(ctx, "vol", "on-b")
	if !errors.Is(err, proxies.ErrConflict) || !strings.Contains(err.Error(), a.Name()) || !strings.Contains(err.Error(), b.Name()) {
		t.Errorf("AttachVolume to a server on the other KVM host = %v; want ErrConflict naming %s and %s", err, a.Name(), b.Name())
	}
	if _, ok := b.file("vol"); ok {
		t.Errorf("the refused attach left a file on %s", b.Name())
	}
	if st, _ := d.GetVolume(ctx, "vol"); st.State != proxies.VolumeAvailable {
		t.Errorf("volume after a refused attach = %+v; want available", st)
	}

	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "plain", SizeGB: 1}); err != nil {
		t.Fatal(err)
	}
	if dev, err := d.AttachVolume(ctx, "plain", "on-sim"); err != nil || dev != "/dev/vdb" {
		t.Errorf("AttachVolume to a simulated server = %q, %v; want /dev/vdb", dev, err)
	}
	if err := d.DetachVolume(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*fakeVolumeHost{a, b} {
		if _, ok := f.file("plain"); ok {
			t.Errorf("a simulated attach made a file on %s", f.Name())
		}
	}

	for i := range 2 {
		if err := d.DeleteVolume(ctx, "vol"); err != nil {
			t.Fatalf("DeleteVolume #%d: %v", i+1, err)
		}
	}
	if _, ok := a.file("vol"); ok {
		t.Errorf("DeleteVolume left the file on %s", a.Name())
	}
	want := []string{"create vol 2", "attach on-a vol", "detach on-a vol", "resize vol 3", "delete vol"}
	if got := strings.Join(a.calls, "; "); got != strings.Join(want, "; ") {
		t.Errorf("calls on %s:\n got %s\nwant %s", a.Name(), got, strings.Join(want, "; "))
	}
	if len(b.calls) != 0 {
		t.Errorf("calls on %s = %v; want none", b.Name(), b.calls)
	}
}
