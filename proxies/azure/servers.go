package azure

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/canopy-cloud/canopy/proxies"
)

type servers Backend

func vmName(id string) string     { return "canopy-" + id }
func nicName(port string) string  { return "canopy-port-" + port }
func imageName(id string) string  { return "canopy-img-" + id }
func osDiskName(id string) string { return "canopy-" + id + "-os" }

// topID returns the top id of a VM named by vmName.
func topID(vm *armcompute.VirtualMachine) string {
	if v := vm.Tags[tagID]; v != nil {
		return *v
	}
	return strings.TrimPrefix(*vm.Name, "canopy-")
}

// placement picks the location and zone of a Canopy AZ.
func (b *Backend) placement(az string) (loc, zone string, err error) {
	if az == "" {
		return b.cfg.Locations[0].Name, "", nil
	}
	for _, l := range b.cfg.Locations {
		for z, name := range l.Zones {
			if name == az {
				return l.Name, z, nil
			}
		}
		if l.AvailabilityZone == az {
			return l.Name, "", nil
		}
	}
	return "", "", proxies.Errorf(proxies.ErrInvalid, "CreateServer", "availability zone %q is not one of this Azure cloud's", az)
}

func hostName(loc, zone string) string {
	if zone == "" {
		return "azure-" + loc
	}
	return "azure-" + loc + "-" + zone
}

// resolveImage finds the Azure image of a Canopy image.
func (b *Backend) resolveImage(ctx context.Context, op, imageID string) (*armcompute.ImageReference, error) {
	if ref, ok := b.cfg.ImageMap[imageID]; ok {
		return parseImageRef(ref)
	}
	if rg := b.lookupRG(ctx, "image", imageID); rg != "" {
		im, err := b.images.Get(ctx, rg, imageName(imageID), nil)
		if err == nil {
			return &armcompute.ImageReference{ID: im.ID}, nil
		}
		if !isNotFound(err) {
			return nil, mapErr(op, "could not read the captured image", err)
		}
	}
	if ref, ok := b.cfg.ImageMap["*"]; ok {
		return parseImageRef(ref)
	}
	return nil, proxies.Errorf(proxies.ErrInvalid, op, "image %s is not available in this Azure cloud; map it in azure.image_map", imageID)
}

func (d *servers) CreateServer(ctx context.Context, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	const op = "CreateServer"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if spec.ID == "" {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a server needs its top id")
	}
	loc, zone, err := b.placement(spec.AvailabilityZone)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	size, err := b.chooseSize(ctx, op, spec.Flavor, loc, zone)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	img, err := b.resolveImage(ctx, op, spec.ImageID)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	rg, err := b.ensureRG(ctx, op, spec.ProjectID)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	b.remember(ctx, "vm", spec.ID, rg)
	nicRefs, err := b.ensureServerNICs(ctx, op, rg, loc, spec)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	computer := hostnameOf(spec)
	osp := &armcompute.OSProfile{ComputerName: &computer, AdminUsername: to.Ptr(b.cfg.AdminUsername),
		LinuxConfiguration: &armcompute.LinuxConfiguration{}}
	if spec.PublicKey != "" {
		osp.LinuxConfiguration.DisablePasswordAuthentication = to.Ptr(true)
		osp.LinuxConfiguration.SSH = &armcompute.SSHConfiguration{PublicKeys: []*armcompute.SSHPublicKey{{
			Path: to.Ptr("/home/" + b.cfg.AdminUsername + "/.ssh/authorized_keys"), KeyData: to.Ptr(spec.PublicKey)}}}
	} else {
		osp.AdminPassword = to.Ptr(randomPassword())
	}
	if len(spec.UserData) > 0 {
		osp.CustomData = to.Ptr(base64.StdEncoding.EncodeToString(spec.UserData))
	}
	tags := b.tags(spec.ID, spec.ProjectID)
	for k, v := range spec.Metadata {
		if len(tags) < 50 && !strings.HasPrefix(k, "canopy-") {
			tags["meta-"+k] = to.Ptr(v)
		}
	}
	vm := armcompute.VirtualMachine{Location: &loc, Tags: tags, Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(size))},
		StorageProfile: &armcompute.StorageProfile{ImageReference: img, OSDisk: &armcompute.OSDisk{
			Name: to.Ptr(osDiskName(spec.ID)), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage),
			DeleteOption: to.Ptr(armcompute.DiskDeleteOptionTypesDelete), DiskSizeGB: diskSize(spec.Flavor.DiskGB)}},
		OSProfile:          osp,
		NetworkProfile:     &armcompute.NetworkProfile{NetworkInterfaces: nicRefs},
		DiagnosticsProfile: &armcompute.DiagnosticsProfile{BootDiagnostics: &armcompute.BootDiagnostics{Enabled: to.Ptr(true)}},
	}}
	if zone != "" {
		vm.Zones = []*string{to.Ptr(zone)}
	}
	_, err = run(ctx, b, spec.ID+"/create", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientCreateOrUpdateResponse], error) {
		return b.vms.BeginCreateOrUpdate(ctx, rg, vmName(spec.ID), vm, &armcompute.VirtualMachinesClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return proxies.ServerStatus{}, mapErr(op, "the VM could not be created", err)
	}
	return d.GetServer(ctx, spec.ID)
}

func diskSize(gb int) *int32 {
	if gb <= 0 {
		return nil
	}
	return to.Ptr(int32(max(gb, 30)))
}

// hostnameOf is a valid Linux computer name from the server's name.
func hostnameOf(spec proxies.ServerSpec) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(spec.Name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			sb.WriteRune(r)
		}
	}
	h := strings.Trim(sb.String(), "-")
	if h == "" || len(h) > 63 || strings.Trim(h, "0123456789") == "" {
		h = "vm-" + strings.ReplaceAll(spec.ID, "-", "")[:12]
	}
	return h
}

// ensureServerNICs makes one NIC per Canopy port (or one on the project's
// default network) and returns the VM's references to them.
func (b *Backend) ensureServerNICs(ctx context.Context, op, rg, loc string, spec proxies.ServerSpec) ([]*armcompute.NetworkInterfaceReference, error) {
	nics := spec.NICs
	if len(nics) == 0 {
		nics = []proxies.NIC{{PortID: spec.ID + "-default"}}
	}
	var refs []*armcompute.NetworkInterfaceReference
	for i, n := range nics {
		subnetID, err := b.subnetFor(ctx, op, rg, loc, n)
		if err != nil {
			return nil, err
		}
		nic := armnetwork.Interface{Location: &loc, Tags: b.tags(spec.ID, spec.ProjectID), Properties: &armnetwork.InterfacePropertiesFormat{
			IPConfigurations: []*armnetwork.InterfaceIPConfiguration{{Name: to.Ptr("ipconfig1"), Properties: &armnetwork.InterfaceIPConfigurationPropertiesFormat{
				Subnet: &armnetwork.Subnet{ID: &subnetID}, Primary: to.Ptr(true)}}}}}
		if len(n.FixedIPs) > 0 {
			ipc := nic.Properties.IPConfigurations[0].Properties
			ipc.PrivateIPAddress = to.Ptr(n.FixedIPs[0])
			ipc.PrivateIPAllocationMethod = to.Ptr(armnetwork.IPAllocationMethodStatic)
		}
		nsg, err := b.nsgFor(ctx, op, rg, n.SecurityGroupIDs)
		if err != nil {
			return nil, err
		}
		nic.Properties.NetworkSecurityGroup = nsg
		asgs, err := b.asgRefs(ctx, op, n.SecurityGroupIDs)
		if err != nil {
			return nil, err
		}
		nic.Properties.IPConfigurations[0].Properties.ApplicationSecurityGroups = asgs
		name := nicName(n.PortID)
		res, err := run(ctx, b, spec.ID+"/nic-"+n.PortID, func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.InterfacesClientCreateOrUpdateResponse], error) {
			return b.nics.BeginCreateOrUpdate(ctx, rg, name, nic, &armnetwork.InterfacesClientBeginCreateOrUpdateOptions{ResumeToken: tok})
		})
		if err != nil {
			return nil, mapErr(op, "the network interface could not be created", err)
		}
		refs = append(refs, &armcompute.NetworkInterfaceReference{ID: res.ID, Properties: &armcompute.NetworkInterfaceReferenceProperties{
			Primary: to.Ptr(i == 0), DeleteOption: to.Ptr(armcompute.DeleteOptionsDelete)}})
	}
	return refs, nil
}

// subnetFor finds the Azure subnet of a NIC: the subnet of its network's
// vnet that holds its address, or the project's default network.
func (b *Backend) subnetFor(ctx context.Context, op, rg, loc string, n proxies.NIC) (string, error) {
	if n.NetworkID == "" {
		st, err := b.ensureVNet(ctx, op, rg, loc, "canopy-default", defaultNetworkSpec(), nil)
		if err != nil {
			return "", err
		}
		return st.subnets[0], nil
	}
	nrg := b.lookupRG(ctx, "net", n.NetworkID)
	if nrg == "" {
		nrg = rg
	}
	v, err := b.vnets.Get(ctx, nrg, netName(n.NetworkID), nil)
	if err != nil {
		if isNotFound(err) {
			return "", proxies.Errorf(proxies.ErrInvalid, op, "network %s is not realised in this Azure cloud", n.NetworkID)
		}
		return "", mapErr(op, "could not read the virtual network", err)
	}
	var first string
	for _, sn := range v.Properties.Subnets {
		if first == "" {
			first = *sn.ID
		}
		if len(n.FixedIPs) == 0 || sn.Properties == nil || sn.Properties.AddressPrefix == nil {
			continue
		}
		pf, err1 := netip.ParsePrefix(*sn.Properties.AddressPrefix)
		a, err2 := netip.ParseAddr(n.FixedIPs[0])
		if err1 == nil && err2 == nil && pf.Contains(a) {
			if azureReserved(pf, a) {
				return "", proxies.Errorf(proxies.ErrInvalid, op, "Azure reserves the first four and the last address of subnet %s; %s cannot be a port's address in this cloud", pf, a)
			}
			return *sn.ID, nil
		}
	}
	if first == "" {
		return "", proxies.Errorf(proxies.ErrInvalid, op, "network %s has no IPv4 subnet in this Azure cloud", n.NetworkID)
	}
	return first, nil
}

// findVM locates a server's VM: its resource group from the index, else a
// subscription-wide search by tag (after a restart with a fresh store).
func (b *Backend) findVM(ctx context.Context, op, id string) (rg string, vm *armcompute.VirtualMachine, err error) {
	rg = b.lookupRG(ctx, "vm", id)
	if rg != "" {
		res, err := b.vms.Get(ctx, rg, vmName(id), &armcompute.VirtualMachinesClientGetOptions{Expand: to.Ptr(armcompute.InstanceViewTypesInstanceView)})
		if err == nil {
			return rg, &res.VirtualMachine, nil
		}
		if !isNotFound(err) {
			return "", nil, mapErr(op, "could not read the VM", err)
		}
		return "", nil, proxies.Errorf(proxies.ErrNotFound, op, "server %s is not in this Azure cloud", id)
	}
	all, err := b.listVMs(ctx, op)
	if err != nil {
		return "", nil, err
	}
	for _, vm := range all {
		if topID(vm) == id {
			rg = rgOf(*vm.ID)
			b.remember(ctx, "vm", id, rg)
			return rg, vm, nil
		}
	}
	return "", nil, proxies.Errorf(proxies.ErrNotFound, op, "server %s is not in this Azure cloud", id)
}

// rgOf is the resource group of an ARM id.
func rgOf(id string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "resourceGroups") {
			return parts[i+1]
		}
	}
	return ""
}

func (b *Backend) listVMs(ctx context.Context, op string) ([]*armcompute.VirtualMachine, error) {
	var out []*armcompute.VirtualMachine
	pager := b.vms.NewListAllPager(&armcompute.VirtualMachinesClientListAllOptions{StatusOnly: to.Ptr("true")})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, mapErr(op, "could not list VMs", err)
		}
		for _, vm := range page.Value {
			if c := vm.Tags[tagCloud]; c != nil && *c == b.name {
				out = append(out, vm)
			}
		}
	}
	return out, nil
}

// status maps a VM (with its instance view) to Canopy's view.
func (b *Backend) status(vm *armcompute.VirtualMachine) proxies.ServerStatus {
	st := proxies.ServerStatus{ID: topID(vm), BottomID: *vm.ID}
	loc, zone := "", ""
	if vm.Location != nil {
		loc = *vm.Location
	}
	if len(vm.Zones) > 0 && vm.Zones[0] != nil {
		zone = *vm.Zones[0]
	}
	st.Host = hostName(loc, zone)
	p := vm.Properties
	if p == nil {
		return st
	}
	if p.TimeCreated != nil {
		st.LaunchedAt = *p.TimeCreated
	}
	power := ""
	if p.InstanceView != nil {
		for _, s := range p.InstanceView.Statuses {
			if s.Code != nil && strings.HasPrefix(*s.Code, "PowerState/") {
				power = strings.TrimPrefix(*s.Code, "PowerState/")
			}
		}
	}
	prov := ""
	if p.ProvisioningState != nil {
		prov = *p.ProvisioningState
	}
	switch power {
	case "running":
		st.State, st.PowerState = proxies.StateActive, proxies.PowerRunning
	case "deallocated", "stopped":
		st.State, st.PowerState = proxies.StateStopped, proxies.PowerShutdown
	case "starting":
		st.State, st.TaskState = proxies.StateActive, "powering-on"
	case "stopping", "deallocating":
		st.State, st.PowerState, st.TaskState = proxies.StateActive, proxies.PowerRunning, "powering-off"
	default:
		st.State = proxies.StateActive
	}
	switch prov {
	case "Creating":
		st.State, st.TaskState, st.PowerState = proxies.StateBuilding, "spawning", proxies.PowerNoState
	case "Failed":
		st.State, st.Fault = proxies.StateError, "the VM's provisioning failed in Azure"
	case "Deleting":
		st.TaskState = "deleting"
	}
	return st
}

// resumePending finishes (within a short budget) operations a previous
// call or process left running for server id.
func (b *Backend) resumePending(ctx context.Context, id string) {
	keys := b.pendingOps(ctx, id)
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	for _, k := range keys {
		if err := b.resume(ctx, strings.TrimPrefix(k, "lro/")); err != nil && ctx.Err() == nil {
			b.log.Warn("azure: a resumed operation failed", "op", k, "err", err)
		}
	}
}

// resume finishes a stored operation by its key (<top id>/<op>).
func (b *Backend) resume(ctx context.Context, key string) error {
	_, opName, _ := strings.Cut(key, "/")
	only := func(tok string) error {
		if tok == "" {
			return errors.New("the operation is over")
		}
		return nil
	}
	var err error
	switch {
	case opName == "create":
		_, err = run(ctx, b, key, func(ctx context.Context, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientCreateOrUpdateResponse], error) {
			if e := only(tok); e != nil {
				return nil, e
			}
			return b.vms.BeginCreateOrUpdate(ctx, "", "", armcompute.VirtualMachine{}, &armcompute.VirtualMachinesClientBeginCreateOrUpdateOptions{ResumeToken: tok})
		})
	case opName == "start":
		_, err = run(ctx, b, key, func(ctx context.Context, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientStartResponse], error) {
			if e := only(tok); e != nil {
				return nil, e
			}
			return b.vms.BeginStart(ctx, "", "", &armcompute.VirtualMachinesClientBeginStartOptions{ResumeToken: tok})
		})
	case opName == "stop":
		_, err = run(ctx, b, key, func(ctx context.Context, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientDeallocateResponse], error) {
			if e := only(tok); e != nil {
				return nil, e
			}
			return b.vms.BeginDeallocate(ctx, "", "", &armcompute.VirtualMachinesClientBeginDeallocateOptions{ResumeToken: tok})
		})
	case opName == "restart":
		_, err = run(ctx, b, key, func(ctx context.Context, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientRestartResponse], error) {
			if e := only(tok); e != nil {
				return nil, e
			}
			return b.vms.BeginRestart(ctx, "", "", &armcompute.VirtualMachinesClientBeginRestartOptions{ResumeToken: tok})
		})
	case opName == "poweroff":
		_, err = run(ctx, b, key, func(ctx context.Context, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientPowerOffResponse], error) {
			if e := only(tok); e != nil {
				return nil, e
			}
			return b.vms.BeginPowerOff(ctx, "", "", &armcompute.VirtualMachinesClientBeginPowerOffOptions{ResumeToken: tok})
		})
	case opName == "resize" || opName == "disks":
		_, err = run(ctx, b, key, func(ctx context.Context, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientUpdateResponse], error) {
			if e := only(tok); e != nil {
				return nil, e
			}
			return b.vms.BeginUpdate(ctx, "", "", armcompute.VirtualMachineUpdate{}, &armcompute.VirtualMachinesClientBeginUpdateOptions{ResumeToken: tok})
		})
	case opName == "delete":
		_, err = run(ctx, b, key, func(ctx context.Context, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientDeleteResponse], error) {
			if e := only(tok); e != nil {
				return nil, e
			}
			return b.vms.BeginDelete(ctx, "", "", &armcompute.VirtualMachinesClientBeginDeleteOptions{ResumeToken: tok})
		})
	default:
		// NIC, disk and network operations are resumed by retrying the call
		// that started them (they are create-or-update by name).
		return nil
	}
	return err
}

func (d *servers) GetServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	b := (*Backend)(d)
	b.resumePending(ctx, id)
	_, vm, err := b.findVM(ctx, "GetServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return b.status(vm), nil
}

func (d *servers) ListServers(ctx context.Context) ([]proxies.ServerStatus, error) {
	b := (*Backend)(d)
	vms, err := b.listVMs(ctx, "ListServers")
	if err != nil {
		return nil, err
	}
	out := make([]proxies.ServerStatus, 0, len(vms))
	for _, vm := range vms {
		out = append(out, b.status(vm))
	}
	return out, nil
}

// action runs one power operation after checking the server's state.
func action[T any](ctx context.Context, b *Backend, op, id, name string, allowed func(proxies.ServerStatus) bool,
	begin func(ctx context.Context, rg, vm, tok string) (*runtime.Poller[T], error)) (proxies.ServerStatus, error) {
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	b.resumePending(ctx, id)
	rg, vm, err := b.findVM(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if st := b.status(vm); !allowed(st) {
		return st, proxies.Errorf(proxies.ErrConflict, op, "server %s is %s (task %q); it cannot be %s now", id, st.State, st.TaskState, name)
	}
	_, err = run(ctx, b, id+"/"+name, func(ctx context.Context, tok string) (*runtime.Poller[T], error) {
		return begin(ctx, rg, vmName(id), tok)
	})
	if err != nil {
		return proxies.ServerStatus{}, mapErr(op, "the VM could not be "+name+"ed", err)
	}
	_, vm, err = b.findVM(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return b.status(vm), nil
}

func running(st proxies.ServerStatus) bool {
	return st.State == proxies.StateActive && st.PowerState == proxies.PowerRunning && st.TaskState == ""
}

func stopped(st proxies.ServerStatus) bool {
	return st.State == proxies.StateStopped && st.TaskState == ""
}

func (d *servers) StartServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	b := (*Backend)(d)
	return action(ctx, b, "StartServer", id, "start", stopped, func(ctx context.Context, rg, vm, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientStartResponse], error) {
		return b.vms.BeginStart(ctx, rg, vm, &armcompute.VirtualMachinesClientBeginStartOptions{ResumeToken: tok})
	})
}

func (d *servers) StopServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	b := (*Backend)(d)
	return action(ctx, b, "StopServer", id, "stop", running, func(ctx context.Context, rg, vm, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientDeallocateResponse], error) {
		return b.vms.BeginDeallocate(ctx, rg, vm, &armcompute.VirtualMachinesClientBeginDeallocateOptions{ResumeToken: tok})
	})
}

func (d *servers) RebootServer(ctx context.Context, id string, kind proxies.RebootKind) (proxies.ServerStatus, error) {
	b := (*Backend)(d)
	if kind != proxies.RebootHard {
		return action(ctx, b, "RebootServer", id, "restart", running, func(ctx context.Context, rg, vm, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientRestartResponse], error) {
			return b.vms.BeginRestart(ctx, rg, vm, &armcompute.VirtualMachinesClientBeginRestartOptions{ResumeToken: tok})
		})
	}
	// A hard reboot: power off without a guest shutdown, then start.
	if _, err := action(ctx, b, "RebootServer", id, "poweroff", func(st proxies.ServerStatus) bool { return st.State == proxies.StateActive && st.TaskState == "" },
		func(ctx context.Context, rg, vm, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientPowerOffResponse], error) {
			return b.vms.BeginPowerOff(ctx, rg, vm, &armcompute.VirtualMachinesClientBeginPowerOffOptions{SkipShutdown: to.Ptr(true), ResumeToken: tok})
		}); err != nil {
		return proxies.ServerStatus{}, err
	}
	return d.StartServer(ctx, id)
}

func (d *servers) DeleteServer(ctx context.Context, id string) error {
	const op = "DeleteServer"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg, _, err := b.findVM(ctx, op, id)
	if errors.Is(err, proxies.ErrNotFound) {
		b.forget(ctx, "vm", id)
		return nil
	}
	if err != nil {
		return err
	}
	_, err = run(ctx, b, id+"/delete", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientDeleteResponse], error) {
		return b.vms.BeginDelete(ctx, rg, vmName(id), &armcompute.VirtualMachinesClientBeginDeleteOptions{ResumeToken: tok})
	})
	if err != nil && !isNotFound(err) {
		return mapErr(op, "the VM could not be deleted", err)
	}
	for _, k := range b.pendingOps(ctx, id) {
		_ = b.tokens.Delete(ctx, k)
	}
	b.forget(ctx, "vm", id)
	return nil
}

// ConsoleOutput reads the serial log that boot diagnostics keep.
func (d *servers) ConsoleOutput(ctx context.Context, id string, lines int) (string, error) {
	const op = "ConsoleOutput"
	b := (*Backend)(d)
	rg, _, err := b.findVM(ctx, op, id)
	if err != nil {
		return "", err
	}
	res, err := b.vms.RetrieveBootDiagnosticsData(ctx, rg, vmName(id), &armcompute.VirtualMachinesClientRetrieveBootDiagnosticsDataOptions{SasURIExpirationTimeInMinutes: to.Ptr(int32(5))})
	if err != nil {
		return "", mapErr(op, "boot diagnostics are not available", err)
	}
	if res.SerialConsoleLogBlobURI == nil {
		return "", proxies.Errorf(proxies.ErrConflict, op, "server %s has no serial log yet", id)
	}
	cctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, *res.SerialConsoleLogBlobURI, nil)
	if err != nil {
		return "", proxies.Errorf(proxies.ErrUnavailable, op, "the serial log URL is not valid")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		// The error would carry the SAS URL: keep it out of the cause.
		return "", proxies.Errorf(proxies.ErrUnavailable, op, "the serial log could not be read")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", proxies.Errorf(proxies.ErrUnavailable, op, "the serial log answered %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", proxies.Errorf(proxies.ErrUnavailable, op, "the serial log could not be read")
	}
	out := string(data)
	if lines > 0 {
		all := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		out = strings.Join(all, "\n") + "\n"
	}
	return out, nil
}

// SnapshotServer snapshots the OS disk and makes a managed image of it.
func (d *servers) SnapshotServer(ctx context.Context, id, imageID string) (proxies.ImageStatus, error) {
	const op = "SnapshotServer"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg, vm, err := b.findVM(ctx, op, id)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	os := vm.Properties.StorageProfile.OSDisk
	if os == nil || os.ManagedDisk == nil || os.ManagedDisk.ID == nil {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrConflict, op, "server %s has no managed OS disk yet", id)
	}
	tags := b.tags(imageID, "")
	tags[tagProject] = vm.Tags[tagProject]
	snap, err := run(ctx, b, imageID+"/image-snapshot", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.SnapshotsClientCreateOrUpdateResponse], error) {
		return b.snaps.BeginCreateOrUpdate(ctx, rg, imageName(imageID)+"-os", armcompute.Snapshot{Location: vm.Location, Tags: tags,
			Properties: &armcompute.SnapshotProperties{Incremental: to.Ptr(false), CreationData: &armcompute.CreationData{
				CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: os.ManagedDisk.ID}}},
			&armcompute.SnapshotsClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return proxies.ImageStatus{}, mapErr(op, "the OS disk could not be snapshotted", err)
	}
	im, err := run(ctx, b, imageID+"/image", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.ImagesClientCreateOrUpdateResponse], error) {
		return b.images.BeginCreateOrUpdate(ctx, rg, imageName(imageID), armcompute.Image{Location: vm.Location, Tags: tags,
			Properties: &armcompute.ImageProperties{StorageProfile: &armcompute.ImageStorageProfile{OSDisk: &armcompute.ImageOSDisk{
				OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
				Snapshot: &armcompute.SubResource{ID: snap.ID}}}}},
			&armcompute.ImagesClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return proxies.ImageStatus{}, mapErr(op, "the image could not be made", err)
	}
	b.remember(ctx, "image", imageID, rg)
	var size int64
	if os.DiskSizeGB != nil {
		size = int64(*os.DiskSizeGB) << 30
	}
	return proxies.ImageStatus{ID: imageID, BottomID: *im.ID, Location: *im.ID, Size: size, Ready: true}, nil
}

// ResizeServer changes the VM's size (Azure restarts a running VM).
func (b *Backend) ResizeServer(ctx context.Context, id string, f proxies.Flavor) (proxies.ServerStatus, error) {
	const op = "ResizeServer"
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg, vm, err := b.findVM(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	zone := ""
	if len(vm.Zones) > 0 {
		zone = *vm.Zones[0]
	}
	size, err := b.chooseSize(ctx, op, f, *vm.Location, zone)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if strings.EqualFold(string(*vm.Properties.HardwareProfile.VMSize), size) {
		return b.status(vm), nil
	}
	if st := b.status(vm); st.TaskState != "" || st.State == proxies.StateBuilding {
		return st, proxies.Errorf(proxies.ErrConflict, op, "server %s is busy (%s)", id, st.TaskState)
	}
	_, err = run(ctx, b, id+"/resize", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.VirtualMachinesClientUpdateResponse], error) {
		return b.vms.BeginUpdate(ctx, rg, vmName(id), armcompute.VirtualMachineUpdate{Properties: &armcompute.VirtualMachineProperties{
			HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(size))}}},
			&armcompute.VirtualMachinesClientBeginUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return proxies.ServerStatus{}, mapErr(op, "the VM could not be resized", err)
	}
	_, vm, err = b.findVM(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return b.status(vm), nil
}

// azureReserved reports whether a is one of the addresses Azure keeps in
// every IPv4 subnet: the network address, the gateway, two for DNS, and
// the broadcast address.
func azureReserved(pf netip.Prefix, a netip.Addr) bool {
	pf = pf.Masked()
	if !a.Is4() || !pf.Addr().Is4() {
		return false
	}
	base := binary.BigEndian.Uint32(pf.Addr().AsSlice())
	last := base | (1<<(32-pf.Bits()) - 1)
	v := binary.BigEndian.Uint32(a.AsSlice())
	return v-base < 4 || v == last
}
