package vmware

import (
	"context"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// AttachNIC plugs a vmxnet3 card with the port's MAC into server id; the
// port id is remembered in extraConfig (canopy.nic.<port id> = MAC).
// Attaching a port the server has changes nothing.
func (b *Backend) AttachNIC(ctx context.Context, id string, nic proxies.NIC) (proxies.ServerStatus, error) {
	const op = "AttachNIC"
	defer b.lockID(id)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	vm, m, err := b.findVM(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if extra(m, keyNICPrefix+nic.PortID) != "" {
		return b.status(m), nil
	}
	devices, err := vm.Device(ctx)
	if err != nil {
		return proxies.ServerStatus{}, wrapErr(op, err)
	}
	card, err := b.ethernetCard(ctx, op, devices, nic)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	err = runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{
			DeviceChange: []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: card}},
			ExtraConfig:  []types.BaseOptionValue{opt(keyNICPrefix+nic.PortID, nic.MACAddress)},
		})
	})
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return b.refresh(ctx, op, vm)
}

// DetachNIC unplugs the card of port portID; nil when the server has no
// such port.
func (b *Backend) DetachNIC(ctx context.Context, id, portID string) error {
	const op = "DetachNIC"
	defer b.lockID(id)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	vm, m, err := b.findVM(ctx, op, id)
	if err != nil {
		return err
	}
	mac := extra(m, keyNICPrefix+portID)
	if mac == "" {
		return nil
	}
	devices, err := vm.Device(ctx)
	if err != nil {
		return wrapErr(op, err)
	}
	var changes []types.BaseVirtualDeviceConfigSpec
	for _, d := range devices.SelectByType((*types.VirtualEthernetCard)(nil)) {
		if strings.EqualFold(d.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress, mac) {
			changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationRemove, Device: d})
		}
	}
	return runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		// An empty value removes the key from extraConfig.
		return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: changes, ExtraConfig: []types.BaseOptionValue{opt(keyNICPrefix+portID, "")}})
	})
}
