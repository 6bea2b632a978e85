package vmware

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// newSim starts a simulator for one test and stops it at the end.
func newSim(t testing.TB) *sim { return newSimWith(t, nil) }

// newSimWith starts a simulator whose model edit changes first.
func newSimWith(t testing.TB, edit func(*simulator.Model)) *sim {
	t.Helper()
	s, err := startSim(edit)
	if err != nil {
		t.Fatalf("start vcsim: %v", err)
	}
	t.Cleanup(s.close)
	return s
}

// backend connects a Backend to s, with cfg changed by edit.
func (s *sim) backend(t testing.TB, edit func(*Config)) *Backend {
	t.Helper()
	cfg := s.cfg
	cfg.Templates = map[string]string{}
	for k, v := range s.cfg.Templates {
		cfg.Templates[k] = v
	}
	if edit != nil {
		edit(&cfg)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := New(t.Context(), "vsphere", cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// entity is the simulator's object for ref.
func (s *sim) entity(ref types.ManagedObjectReference) mo.Reference {
	return s.model.Map().Get(ref)
}

// bootGuest makes server id's VM look like a booted guest with VMware Tools
// running (what open-vm-tools in a real template reports), when it is on.
func (s *sim) bootGuest(ctx context.Context, b *Backend, id string) {
	vm, m, err := b.findVM(ctx, "test", id)
	if err != nil || m.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		return
	}
	s.setTools(vm, types.VirtualMachineToolsRunningStatusGuestToolsRunning)
}

func (s *sim) setTools(vm *object.VirtualMachine, st types.VirtualMachineToolsRunningStatus) {
	obj, ok := s.entity(vm.Reference()).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	ctx := s.model.Service.Context
	s.model.Map().WithLock(ctx, obj, func() {
		s.model.Map().Update(ctx, obj, []types.PropertyChange{{Name: "guest.toolsRunningStatus", Val: string(st)}})
	})
}

// countVMs counts the VMs in the simulator whose name is name.
func (s *sim) countVMs(name string) int {
	n := 0
	for _, e := range s.model.Map().All("VirtualMachine") {
		if e.Entity().Name == name {
			n++
		}
	}
	return n
}
