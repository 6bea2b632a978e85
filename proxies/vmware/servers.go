package vmware

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// Keys Canopy keeps in a VM's extraConfig.
const (
	keyID        = "canopy.id"    // the top id: the durable tag
	keyZone      = "canopy.zone"  // the availability zone it was placed in (for people and adoption)
	keyImage     = "canopy.image" // on templates: the top image id
	keyImageSize = "canopy.image.size"
	keyNICPrefix = "canopy.nic."  // canopy.nic.<port id> = MAC
	keyBuilt     = "canopy.built" // set once the new VM is shaped and powered on
	serverPrefix = "canopy-"
	imagePrefix  = "canopy-img-"
)

// vmName is the VM name of server id: deterministic, so lookup before a
// clone makes the create idempotent.
func vmName(id string) string { return serverPrefix + id }

// vmProps are the properties a ServerStatus is built from.
var vmProps = []string{"name", "config.extraConfig", "config.template", "config.hardware", "runtime.powerState", "runtime.bootTime", "guest.toolsRunningStatus", "resourcePool", "config.uuid"}

// servers is the Backend's ServerDriver.
type servers Backend

// findVM finds server id's VM in the folder (by name, checked against
// extraConfig canopy.id).
func (b *Backend) findVM(ctx context.Context, op, id string) (*object.VirtualMachine, *mo.VirtualMachine, error) {
	return b.findByName(ctx, op, vmName(id), keyID, id, "server")
}

// findByName finds a VM or template named name in the folder whose
// extraConfig key holds want.
func (b *Backend) findByName(ctx context.Context, op, name, key, want, kind string) (*object.VirtualMachine, *mo.VirtualMachine, error) {
	ref, err := object.NewSearchIndex(b.vc).FindChild(ctx, b.folder, name)
	if err != nil {
		return nil, nil, wrapErr(op, err)
	}
	if ref == nil {
		return nil, nil, notFound(op, kind, want)
	}
	vm := object.NewVirtualMachine(b.vc, ref.Reference())
	var m mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), vmProps, &m); err != nil {
		if isFault[*types.ManagedObjectNotFound](err) {
			return nil, nil, notFound(op, kind, want)
		}
		return nil, nil, wrapErr(op, err)
	}
	// A VM that has our name but no id yet is being made by a concurrent
	// create (another request or gateway): its clone writes the config
	// when it completes. Wait a little for it rather than refusing.
	for wait := 50 * time.Millisecond; extra(&m, key) == "" && wait < 5*time.Second; wait *= 2 {
		select {
		case <-ctx.Done():
			return nil, nil, wrapErr(op, ctx.Err())
		case <-time.After(wait):
		}
		if err := vm.Properties(ctx, vm.Reference(), vmProps, &m); err != nil {
			if isFault[*types.ManagedObjectNotFound](err) {
				return nil, nil, notFound(op, kind, want)
			}
			return nil, nil, wrapErr(op, err)
		}
	}
	if extra(&m, key) != want {
		return nil, nil, errorf(proxies.ErrConflict, op, nil, "a VM named %s exists in vCenter but is not Canopy's %s %s", name, kind, want)
	}
	return vm, &m, nil
}

// extra is one extraConfig value of m ("" when absent).
func extra(m *mo.VirtualMachine, key string) string {
	if m.Config == nil {
		return ""
	}
	for _, o := range m.Config.ExtraConfig {
		if ov := o.GetOptionValue(); ov.Key == key {
			s, _ := ov.Value.(string)
			return s
		}
	}
	return ""
}

// status is the ServerStatus of a VM.
func (b *Backend) status(m *mo.VirtualMachine) proxies.ServerStatus {
	st := proxies.ServerStatus{ID: extra(m, keyID), BottomID: m.Self.Value, Host: b.hostOf(m.ResourcePool)}
	st.State, st.PowerState = powerState(m.Runtime.PowerState)
	if m.Runtime.BootTime != nil {
		st.LaunchedAt = m.Runtime.BootTime.UTC()
	}
	return st
}

// hostOf is the pseudo-host of the zone whose pool holds a VM.
func (b *Backend) hostOf(pool *types.ManagedObjectReference) string {
	for _, z := range b.zones {
		if pool != nil && z.pool.Reference() == *pool {
			return z.host
		}
	}
	return b.zones[0].host
}

// powerState maps a VM's power state to Nova's vm_state and power_state.
func powerState(p types.VirtualMachinePowerState) (proxies.ServerState, proxies.PowerState) {
	switch p {
	case types.VirtualMachinePowerStatePoweredOn:
		return proxies.StateActive, proxies.PowerRunning
	case types.VirtualMachinePowerStateSuspended:
		return proxies.StateActive, proxies.PowerSuspend
	}
	return proxies.StateStopped, proxies.PowerShutdown
}

// refresh reads vm again and returns its status.
func (b *Backend) refresh(ctx context.Context, op string, vm *object.VirtualMachine) (proxies.ServerStatus, error) {
	var m mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), vmProps, &m); err != nil {
		return proxies.ServerStatus{}, wrapErr(op, err)
	}
	return b.status(&m), nil
}

// CreateServer clones the image's template into the zone's pool, shapes it
// to the flavor, plugs the NICs and powers it on. A VM already made for
// spec.ID is returned as it is.
func (s *servers) CreateServer(ctx context.Context, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	const op = "CreateServer"
	b := (*Backend)(s)
	if spec.ID == "" || spec.Flavor.VCPUs <= 0 || spec.Flavor.RAMMB <= 0 {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a server needs an id and a flavor with vCPUs and memory")
	}
	defer b.lockID(spec.ID)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if vm, m, err := b.findVM(ctx, op, spec.ID); err == nil {
		if extra(m, keyBuilt) == "" { // an earlier try stopped between clone and power-on
			return b.finishBuild(ctx, op, vm, spec)
		}
		return b.status(m), nil
	} else if !errors.Is(err, proxies.ErrNotFound) {
		return proxies.ServerStatus{}, err
	}
	z, err := b.zoneFor(op, spec.AvailabilityZone)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	tmpl, _, err := b.template(ctx, op, spec.ImageID)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	extraConfig, err := guestInfo(spec)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	extraConfig = append(extraConfig, opt(keyID, spec.ID), opt(keyZone, z.az))
	pool, ds := z.pool.Reference(), b.ds.Reference()
	cs := types.VirtualMachineCloneSpec{
		Location: types.VirtualMachineRelocateSpec{Pool: &pool, Datastore: &ds},
		Config: &types.VirtualMachineConfigSpec{
			NumCPUs: int32(spec.Flavor.VCPUs), MemoryMB: int64(spec.Flavor.RAMMB), ExtraConfig: extraConfig,
			Annotation: "Canopy server " + spec.ID + " (" + spec.Name + ")",
		},
	}
	task, err := tmpl.Clone(ctx, b.folder, vmName(spec.ID), cs)
	if err != nil {
		return proxies.ServerStatus{}, wrapErr(op, err)
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		if isFault[*types.DuplicateName](err) { // made meanwhile by another gateway
			if _, m, ferr := b.findVM(ctx, op, spec.ID); ferr == nil {
				return b.status(m), nil
			}
		}
		return proxies.ServerStatus{}, wrapErr(op, err)
	}
	ref, ok := info.Result.(types.ManagedObjectReference)
	if !ok {
		// The clone task ended without naming its VM (vcsim does this when
		// a concurrent lookup races the clone): find it by its top id.
		vm, _, ferr := b.findVM(ctx, op, spec.ID)
		if ferr != nil || vm == nil {
			return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrUnavailable, op, "the clone of server %s finished without naming its VM", spec.ID)
		}
		return b.finishBuild(ctx, op, vm, spec)
	}
	return b.finishBuild(ctx, op, object.NewVirtualMachine(b.vc, ref), spec)
}

// finishBuild shapes a cloned VM and powers it on. Shaping is idempotent
// and the build is marked done in extraConfig (canopy.built) only after
// power-on, so a retry after a failure or crash in between completes it.
func (b *Backend) finishBuild(ctx context.Context, op string, vm *object.VirtualMachine, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	if err := b.shape(ctx, op, vm, spec.Flavor, spec.NICs); err != nil {
		return proxies.ServerStatus{}, err
	}
	if err := runTask(ctx, op, vm.PowerOn); err != nil && !errors.Is(err, proxies.ErrConflict) {
		return proxies.ServerStatus{}, err
	}
	err := runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{opt(keyBuilt, "1")}})
	})
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return b.refresh(ctx, op, vm)
}

// shape grows the root disk to the flavor's and replaces the template's
// NICs with the server's.
func (b *Backend) shape(ctx context.Context, op string, vm *object.VirtualMachine, f proxies.Flavor, nics []proxies.NIC) error {
	devices, err := vm.Device(ctx)
	if err != nil {
		return wrapErr(op, err)
	}
	var changes []types.BaseVirtualDeviceConfigSpec
	if c := growDisk(devices, f.DiskGB); c != nil {
		changes = append(changes, c)
	}
	for _, card := range devices.SelectByType((*types.VirtualEthernetCard)(nil)) {
		changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationRemove, Device: card})
	}
	var extraConfig []types.BaseOptionValue
	for _, nic := range nics {
		card, err := b.ethernetCard(ctx, op, devices, nic)
		if err != nil {
			return err
		}
		devices = append(devices, card)
		changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: card})
		extraConfig = append(extraConfig, opt(keyNICPrefix+nic.PortID, nic.MACAddress))
	}
	if len(changes) == 0 && len(extraConfig) == 0 {
		return nil
	}
	return runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: changes, ExtraConfig: extraConfig})
	})
}

// growDisk is the change that grows the first disk to gb (nil when it is
// already as large: disks never shrink).
func growDisk(devices object.VirtualDeviceList, gb int) types.BaseVirtualDeviceConfigSpec {
	disks := devices.SelectByType((*types.VirtualDisk)(nil))
	if len(disks) == 0 || gb <= 0 {
		return nil
	}
	disk := disks[0].(*types.VirtualDisk)
	want := int64(gb) << 20 // KiB
	if disk.CapacityInKB >= want {
		return nil
	}
	disk.CapacityInKB, disk.CapacityInBytes = want, want<<10
	return &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: disk}
}

// ethernetCard is a vmxnet3 card on nic's port group with nic's MAC.
func (b *Backend) ethernetCard(ctx context.Context, op string, devices object.VirtualDeviceList, nic proxies.NIC) (types.BaseVirtualDevice, error) {
	net, err := b.portGroup(ctx, op, nic.NetworkID)
	if err != nil {
		return nil, err
	}
	backing, err := net.EthernetCardBackingInfo(ctx)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	dev, err := devices.CreateEthernetCard("vmxnet3", backing)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	card := dev.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
	if nic.MACAddress != "" {
		card.AddressType, card.MacAddress = string(types.VirtualEthernetCardMacTypeManual), nic.MACAddress
	}
	return dev, nil
}

// guestInfo is the cloud-init VMware datasource's input: metadata (instance
// id, hostname, key) and user data, base64-encoded.
func guestInfo(spec proxies.ServerSpec) ([]types.BaseOptionValue, error) {
	md := map[string]any{"instance-id": spec.ID, "local-hostname": hostname(spec.Name, spec.ID)}
	if spec.PublicKey != "" {
		md["public-keys"] = []string{spec.PublicKey}
	}
	raw, err := json.Marshal(md)
	if err != nil {
		return nil, proxies.Errorf(proxies.ErrInvalid, "CreateServer", "server metadata cannot be encoded")
	}
	out := []types.BaseOptionValue{
		opt("guestinfo.metadata", base64.StdEncoding.EncodeToString(raw)),
		opt("guestinfo.metadata.encoding", "base64"),
	}
	if len(spec.UserData) > 0 {
		out = append(out, opt("guestinfo.userdata", base64.StdEncoding.EncodeToString(spec.UserData)),
			opt("guestinfo.userdata.encoding", "base64"))
	}
	return out, nil
}

// hostname is a DNS label from the server's name (its id when the name has
// none of the allowed characters).
func hostname(name, id string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			sb.WriteRune(r)
		case r == ' ', r == '_', r == '.':
			sb.WriteByte('-')
		}
	}
	h := strings.Trim(sb.String(), "-")
	if h == "" {
		h = "canopy-" + id
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-")
	}
	return h
}

func opt(key, value string) types.BaseOptionValue {
	return &types.OptionValue{Key: key, Value: value}
}

// runTask starts a vCenter task and waits for it.
func runTask(ctx context.Context, op string, start func(context.Context) (*object.Task, error)) error {
	task, err := start(ctx)
	if err != nil {
		return wrapErr(op, err)
	}
	return wrapErr(op, task.Wait(ctx))
}

// GetServer reports server id.
func (s *servers) GetServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	b := (*Backend)(s)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	_, m, err := b.findVM(ctx, "GetServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return b.status(m), nil
}

// ListServers reports every Canopy VM in the folder (templates excluded).
func (s *servers) ListServers(ctx context.Context) ([]proxies.ServerStatus, error) {
	const op = "ListServers"
	b := (*Backend)(s)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	vms, err := b.folderVMs(ctx, op)
	if err != nil {
		return nil, err
	}
	out := make([]proxies.ServerStatus, 0, len(vms))
	for i := range vms {
		m := &vms[i]
		if m.Config == nil || m.Config.Template || !strings.HasPrefix(m.Name, serverPrefix) || m.Name != vmName(extra(m, keyID)) {
			continue
		}
		out = append(out, b.status(m))
	}
	return out, nil
}

// folderVMs retrieves every VM and template directly in the folder.
func (b *Backend) folderVMs(ctx context.Context, op string) ([]mo.VirtualMachine, error) {
	var f mo.Folder
	if err := b.folder.Properties(ctx, b.folder.Reference(), []string{"childEntity"}, &f); err != nil {
		return nil, wrapErr(op, err)
	}
	var refs []types.ManagedObjectReference
	for _, r := range f.ChildEntity {
		if r.Type == "VirtualMachine" {
			refs = append(refs, r)
		}
	}
	var vms []mo.VirtualMachine
	if len(refs) == 0 {
		return vms, nil
	}
	if err := property.DefaultCollector(b.vc).Retrieve(ctx, refs, vmProps, &vms); err != nil {
		return nil, wrapErr(op, err)
	}
	return vms, nil
}

// StartServer powers a stopped VM on (ErrConflict when it runs).
func (s *servers) StartServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	return (*Backend)(s).power(ctx, "StartServer", id, types.VirtualMachinePowerStatePoweredOff, (*object.VirtualMachine).PowerOn)
}

// StopServer powers a running VM off (ErrConflict when it is off).
func (s *servers) StopServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	return (*Backend)(s).power(ctx, "StopServer", id, types.VirtualMachinePowerStatePoweredOn, (*object.VirtualMachine).PowerOff)
}

// power runs a power task on a VM that must be in state from.
func (b *Backend) power(ctx context.Context, op, id string, from types.VirtualMachinePowerState, action func(*object.VirtualMachine, context.Context) (*object.Task, error)) (proxies.ServerStatus, error) {
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	vm, m, err := b.findVM(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if m.Runtime.PowerState != from {
		return b.status(m), proxies.Errorf(proxies.ErrConflict, op, "server %s is %s", id, m.Runtime.PowerState)
	}
	if err := runTask(ctx, op, func(ctx context.Context) (*object.Task, error) { return action(vm, ctx) }); err != nil {
		return proxies.ServerStatus{}, err
	}
	return b.refresh(ctx, op, vm)
}

// RebootServer reboots through VMware Tools (SOFT; ErrConflict when Tools
// are not running) or resets the VM (HARD). The server must be running.
func (s *servers) RebootServer(ctx context.Context, id string, kind proxies.RebootKind) (proxies.ServerStatus, error) {
	const op = "RebootServer"
	b := (*Backend)(s)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	vm, m, err := b.findVM(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if m.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		return b.status(m), proxies.Errorf(proxies.ErrConflict, op, "server %s is not running", id)
	}
	switch kind {
	case proxies.RebootHard:
		err = runTask(ctx, op, vm.Reset)
	case proxies.RebootSoft:
		if m.Guest == nil || m.Guest.ToolsRunningStatus != string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
			return b.status(m), proxies.Errorf(proxies.ErrConflict, op, "VMware Tools are not running in server %s; a soft reboot needs them, use a hard reboot", id)
		}
		err = wrapErr(op, vm.RebootGuest(ctx))
	default:
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "reboot type %q is not SOFT or HARD", kind)
	}
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return b.refresh(ctx, op, vm)
}

// DeleteServer powers the VM off and destroys it with its disks, after
// detaching the plain-VMDK volumes it has (their files stay); nil when it is
// already gone.
func (s *servers) DeleteServer(ctx context.Context, id string) error {
	const op = "DeleteServer"
	b := (*Backend)(s)
	defer b.lockID(id)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	vm, m, err := b.findVM(ctx, op, id)
	if errors.Is(err, proxies.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if m.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
		if err := runTask(ctx, op, vm.PowerOff); err != nil && !errors.Is(err, proxies.ErrConflict) {
			return err
		}
	}
	// Destroying a VM deletes every disk it has: volume files (plain VMDKs
	// in the volume folder) are detached first, their files kept.
	if disks := b.volumeDisks(m); len(disks) > 0 {
		spec := types.VirtualMachineConfigSpec{}
		for id, disk := range disks {
			spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationRemove, Device: disk})
			spec.ExtraConfig = append(spec.ExtraConfig, opt(keyVolPrefix+id, ""))
		}
		if err := runTask(ctx, op, func(ctx context.Context) (*object.Task, error) { return vm.Reconfigure(ctx, spec) }); err != nil {
			return err
		}
	}
	if err := runTask(ctx, op, vm.Destroy); err != nil && !errors.Is(err, proxies.ErrNotFound) {
		return err
	}
	return nil
}

// ConsoleOutput is unsupported: the vSphere API cannot read a VM's serial
// console.
func (s *servers) ConsoleOutput(context.Context, string, int) (string, error) {
	return "", unsupported("ConsoleOutput", "console output")
}

// SnapshotServer clones the VM to a template that becomes image imageID.
func (s *servers) SnapshotServer(ctx context.Context, id, imageID string) (proxies.ImageStatus, error) {
	const op = "SnapshotServer"
	b := (*Backend)(s)
	defer b.lockID(imageID)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if _, m, err := b.findByName(ctx, op, imagePrefix+imageID, keyImage, imageID, "image"); err == nil {
		return b.imageStatus(m), nil
	}
	vm, _, err := b.findVM(ctx, op, id)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	ds := b.ds.Reference()
	cs := types.VirtualMachineCloneSpec{
		Location: types.VirtualMachineRelocateSpec{Datastore: &ds},
		Template: true,
		Config:   &types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{opt(keyImage, imageID)}},
	}
	task, err := vm.Clone(ctx, b.folder, imagePrefix+imageID, cs)
	if err != nil {
		return proxies.ImageStatus{}, wrapErr(op, err)
	}
	if err := task.Wait(ctx); err != nil {
		return proxies.ImageStatus{}, wrapErr(op, err)
	}
	_, m, err := b.findByName(ctx, op, imagePrefix+imageID, keyImage, imageID, "image")
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	return b.imageStatus(m), nil
}
