package vmware

import (
	"context"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// ResizeServer reconfigures CPUs and memory and grows the root disk (disks
// never shrink, so a revert keeps the larger disk). The VM is powered off
// for the reconfigure and powered on again when it was running. Resizing
// to the size the VM has is a no-op.
func (b *Backend) ResizeServer(ctx context.Context, id string, f proxies.Flavor) (proxies.ServerStatus, error) {
	const op = "ResizeServer"
	if f.VCPUs <= 0 || f.RAMMB <= 0 {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "flavor %s has no vCPUs or memory", f.ID)
	}
	defer b.lockID(id)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	vm, m, err := b.findVM(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	devices := object.VirtualDeviceList(m.Config.Hardware.Device)
	disk := growDisk(devices, f.DiskGB)
	if int(m.Config.Hardware.NumCPU) == f.VCPUs && int(m.Config.Hardware.MemoryMB) == f.RAMMB && disk == nil {
		return b.status(m), nil
	}
	running := m.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
	if running {
		if err := runTask(ctx, op, vm.PowerOff); err != nil {
			return proxies.ServerStatus{}, err
		}
	}
	spec := types.VirtualMachineConfigSpec{NumCPUs: int32(f.VCPUs), MemoryMB: int64(f.RAMMB)}
	if disk != nil {
		spec.DeviceChange = []types.BaseVirtualDeviceConfigSpec{disk}
	}
	err = runTask(ctx, op, func(ctx context.Context) (*object.Task, error) { return vm.Reconfigure(ctx, spec) })
	if running { // back to the power state it had, resized or not
		if perr := runTask(ctx, op, vm.PowerOn); err == nil {
			err = perr
		}
	}
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return b.refresh(ctx, op, vm)
}
