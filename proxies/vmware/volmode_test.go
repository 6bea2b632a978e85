package vmware

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// noFCDManager stands in for the vStorageObjectManager of a vCenter that
// answers MethodNotFound to every first-class disk call.
type noFCDManager struct {
	mo.VcenterVStorageObjectManager
}

// TestVolumeModeDetection checks that auto picks first-class disks only
// when the vCenter answers for them, and that an explicit fcd on a vCenter
// without them fails the connect naming the field.
func TestVolumeModeDetection(t *testing.T) {
	withoutManager := func(s *sim) {
		si := s.model.Map().Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
		si.Content.VStorageObjectManager = nil
	}
	methodNotFound := func(s *sim) {
		si := s.model.Map().Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
		m := &noFCDManager{}
		m.Self = *si.Content.VStorageObjectManager
		s.model.Map().Put(m)
	}
	cases := []struct {
		name        string
		edit        func(*sim)
		cfg         string
		want        string
		wantNative  bool
		wantInvalid bool
	}{
		{name: "auto on vcsim", cfg: "", want: VolumesFCD},
		{name: "vmdk forced", cfg: VolumesVMDK, want: VolumesVMDK},
		{name: "auto without the manager", edit: withoutManager, cfg: VolumesAuto, want: VolumesVMDK},
		{name: "auto with MethodNotFound", edit: methodNotFound, cfg: VolumesAuto, want: VolumesVMDK},
		{name: "fcd without the manager", edit: withoutManager, cfg: VolumesFCD, wantInvalid: true},
		{name: "fcd with MethodNotFound", edit: methodNotFound, cfg: VolumesFCD, wantInvalid: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			if tc.edit != nil {
				tc.edit(s)
			}
			cfg := s.cfg
			cfg.Volumes = tc.cfg
			b, err := New(t.Context(), "vsphere", cfg, nil)
			if tc.wantInvalid {
				if !errors.Is(err, proxies.ErrInvalid) {
					t.Fatalf("New = %v; want ErrInvalid naming vsphere.volumes", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { _ = b.Close() })
			if b.VolumeMode() != tc.want || b.nativeSnaps != tc.wantNative {
				t.Errorf("mode %q native snapshots %v; want %q %v", b.VolumeMode(), b.nativeSnaps, tc.want, tc.wantNative)
			}
			if !b.Capabilities().Volumes {
				t.Error("Capabilities().Volumes = false; volumes are declared in both modes")
			}
		})
	}
}

// TestVolumesConfig checks the volumes key's validation.
func TestVolumesConfig(t *testing.T) {
	s := newSim(t)
	for v, ok := range map[string]bool{"": true, "auto": true, "fcd": true, "vmdk": true, "FCD": false, "plain": false} {
		cfg := s.cfg
		cfg.Volumes = v
		if err := cfg.Validate(); (err == nil) != ok {
			t.Errorf("volumes %q: Validate = %v; want ok=%v", v, err, ok)
		}
	}
}

// TestDeleteServerKeepsVMDKVolumes checks that deleting a server with a
// plain-VMDK volume attached keeps the volume (destroying a VM deletes
// every disk it has, so the volume is detached first).
func TestDeleteServerKeepsVMDKVolumes(t *testing.T) {
	s := newSim(t)
	b := s.backend(t, func(c *Config) { c.Volumes = VolumesVMDK })
	withImage(t, b)
	ctx := t.Context()
	server := "77777777-0000-4000-8000-000000000001"
	if _, err := b.Servers().CreateServer(ctx, serverSpec(server)); err != nil {
		t.Fatal(err)
	}
	vol := proxies.VolumeSpec{ID: "77777777-0000-4000-8000-00000000000a", SizeGB: 1}
	if _, err := b.Volumes().CreateVolume(ctx, vol); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Volumes().AttachVolume(ctx, vol.ID, server); err != nil {
		t.Fatal(err)
	}
	w := &destroyWatch{}
	s.model.Map().AddHandler(w)
	if err := b.Servers().DeleteServer(ctx, server); err != nil {
		t.Fatalf("DeleteServer: %v", err)
	}
	w.mu.Lock()
	for _, f := range w.files {
		if strings.Contains(f, volumeFile(vol.ID)) {
			t.Errorf("the server was destroyed with volume %s still attached (%s): a real vCenter deletes it", vol.ID, f)
		}
	}
	w.mu.Unlock()
	st, err := b.Volumes().GetVolume(ctx, vol.ID)
	if err != nil || st.State != proxies.VolumeAvailable || st.AttachedTo != "" {
		t.Errorf("the volume after its server's delete = %+v, %v; want available", st, err)
	}
	if err := b.Volumes().DeleteVolume(ctx, vol.ID); err != nil {
		t.Errorf("DeleteVolume: %v", err)
	}
}

// destroyWatch records the disk files each VM still has when vcsim
// destroys it: a real vCenter deletes them all (vcsim deletes only the VM's
// folder), so a volume's file found here would be lost on a real vCenter.
type destroyWatch struct {
	mu    sync.Mutex
	files []string
}

func (w *destroyWatch) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "CanopyTest", Value: "destroy-watch"}
}
func (w *destroyWatch) PutObject(*simulator.Context, mo.Reference)                            {}
func (w *destroyWatch) UpdateObject(*simulator.Context, mo.Reference, []types.PropertyChange) {}
func (w *destroyWatch) RemoveObject(ctx *simulator.Context, ref types.ManagedObjectReference) {
	vm, ok := ctx.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok || vm.Config == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			if fb, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
				w.files = append(w.files, fb.GetVirtualDeviceFileBackingInfo().FileName)
			}
		}
	}
}
