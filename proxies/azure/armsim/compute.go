package armsim

import (
	"context"
	"net/http"
	"strings"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	computefake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
)

const compute = "Microsoft.Compute"

type (
	vmPut    = armcompute.VirtualMachinesClientCreateOrUpdateResponse
	vmPatch  = armcompute.VirtualMachinesClientUpdateResponse
	vmDel    = armcompute.VirtualMachinesClientDeleteResponse
	diskPut  = armcompute.DisksClientCreateOrUpdateResponse
	diskDel  = armcompute.DisksClientDeleteResponse
	diskPat  = armcompute.DisksClientUpdateResponse
	snapPut  = armcompute.SnapshotsClientCreateOrUpdateResponse
	snapDel  = armcompute.SnapshotsClientDeleteResponse
	imagePut = armcompute.ImagesClientCreateOrUpdateResponse
	imageDel = armcompute.ImagesClientDeleteResponse
)

func diagKey(rg, name string) string { return strings.ToLower(rg + "--" + name) }

func (st *state) vmCores(exclude string) int {
	n := 0
	for k, vm := range st.vms {
		if k == exclude || st.power[k] == "deallocated" {
			continue
		}
		c, _ := sizeOf(string(*vm.Properties.HardwareProfile.VMSize))
		n += c
	}
	return n
}

// attachDisks validates and applies a VM's data disk list; it returns an
// ARM error code and message when the list is not acceptable.
func (st *state) checkDataDisks(vmID string, disks []*armcompute.DataDisk) (int, string, string) {
	luns := map[int32]bool{}
	for _, d := range disks {
		if d.Lun == nil || d.ManagedDisk == nil || d.ManagedDisk.ID == nil {
			return http.StatusBadRequest, "InvalidParameter", "a data disk needs a lun and a managed disk id"
		}
		if luns[*d.Lun] {
			return http.StatusBadRequest, "InvalidParameter", "two data disks use the same lun"
		}
		luns[*d.Lun] = true
		disk, ok := st.disks[key(*d.ManagedDisk.ID)]
		if !ok {
			return http.StatusNotFound, "NotFound", "disk " + *d.ManagedDisk.ID + " not found"
		}
		if disk.ManagedBy != nil && key(*disk.ManagedBy) != key(vmID) {
			return http.StatusConflict, "OperationNotAllowed", "disk is attached to VM " + *disk.ManagedBy
		}
	}
	return 0, "", ""
}

// applyDataDisks sets disk ownership after a VM's data disks changed.
func (st *state) applyDataDisks(vmID string, old, now []*armcompute.DataDisk) {
	keep := map[string]bool{}
	for _, d := range now {
		keep[key(*d.ManagedDisk.ID)] = true
		if disk := st.disks[key(*d.ManagedDisk.ID)]; disk != nil {
			disk.ManagedBy = to.Ptr(vmID)
			disk.Properties.DiskState = to.Ptr(armcompute.DiskStateAttached)
		}
	}
	for _, d := range old {
		if d.ManagedDisk == nil || d.ManagedDisk.ID == nil || keep[key(*d.ManagedDisk.ID)] {
			continue
		}
		if disk := st.disks[key(*d.ManagedDisk.ID)]; disk != nil {
			disk.ManagedBy = nil
			disk.Properties.DiskState = to.Ptr(armcompute.DiskStateUnattached)
		}
	}
}

func (st *state) console(rg, name, line string) {
	k := diagKey(rg, name)
	st.consoles[k] += time.Now().UTC().Format("2006-01-02T15:04:05Z ") + line + "\n"
}

func (st *state) instanceView(id string) *armcompute.VirtualMachineInstanceView {
	vm := st.vms[id]
	power := st.power[id]
	return &armcompute.VirtualMachineInstanceView{Statuses: []*armcompute.InstanceViewStatus{
		{Code: to.Ptr("ProvisioningState/" + strings.ToLower(*vm.Properties.ProvisioningState))},
		{Code: to.Ptr("PowerState/" + power), DisplayStatus: to.Ptr("VM " + power)},
	}}
}

func (st *state) vmCreate(ctx context.Context, rg, name string, vm armcompute.VirtualMachine) (azfake.PollerResponder[vmPut], azfake.ErrorResponder) {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !st.rgExists(rg) {
		return fail[vmPut](ctx, http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
	}
	if vm.Location == nil || s.opts.Locations[*vm.Location] == nil {
		return fail[vmPut](ctx, http.StatusBadRequest, "LocationNotAvailableForResourceType", "location is missing or not served")
	}
	p := vm.Properties
	if p == nil || p.HardwareProfile == nil || p.HardwareProfile.VMSize == nil || p.StorageProfile == nil || p.NetworkProfile == nil {
		return fail[vmPut](ctx, http.StatusBadRequest, "InvalidParameter", "hardwareProfile, storageProfile and networkProfile are required")
	}
	cores, ok := sizeOf(string(*p.HardwareProfile.VMSize))
	if !ok {
		return fail[vmPut](ctx, http.StatusConflict, "SkuNotAvailable", "The requested VM size %s is not available in location %s.", *p.HardwareProfile.VMSize, *vm.Location)
	}
	id := s.id(rg, compute, "virtualMachines", name)
	k := key(id)
	old, exists := st.vms[k]
	if st.vmCores(k)+cores > s.opts.CoreLimit {
		return fail[vmPut](ctx, http.StatusConflict, "OperationNotAllowed", "Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Limit: %d", s.opts.CoreLimit)
	}
	if code, c, msg := st.checkDataDisks(id, p.StorageProfile.DataDisks); code != 0 {
		return fail[vmPut](ctx, code, c, "%s", msg)
	}
	if len(p.NetworkProfile.NetworkInterfaces) == 0 {
		return fail[vmPut](ctx, http.StatusBadRequest, "InvalidParameter", "at least one network interface is required")
	}
	for _, ref := range p.NetworkProfile.NetworkInterfaces {
		nic, ok := st.nics[key(*ref.ID)]
		if !ok {
			return fail[vmPut](ctx, http.StatusBadRequest, "InvalidResourceReference", "network interface %s not found", *ref.ID)
		}
		if nic.Properties.VirtualMachine != nil && key(*nic.Properties.VirtualMachine.ID) != k {
			return fail[vmPut](ctx, http.StatusBadRequest, "NicInUse", "network interface is used by another VM")
		}
	}
	if !exists {
		ir := p.StorageProfile.ImageReference
		switch {
		case ir == nil:
			return fail[vmPut](ctx, http.StatusBadRequest, "InvalidParameter", "imageReference is required")
		case ir.ID != nil && strings.Contains(strings.ToLower(*ir.ID), "/providers/microsoft.compute/images/"):
			if _, ok := st.images[key(*ir.ID)]; !ok {
				return fail[vmPut](ctx, http.StatusNotFound, "ImageNotFound", "image %s not found", *ir.ID)
			}
		case ir.ID != nil:
		case ir.Publisher == nil || ir.Offer == nil || ir.SKU == nil:
			return fail[vmPut](ctx, http.StatusBadRequest, "InvalidParameter", "imageReference needs publisher, offer and sku")
		}
	}
	next := clone(&vm)
	setMeta(next, id, name, "Microsoft.Compute/virtualMachines")
	np := next.Properties
	if exists {
		np.StorageProfile.OSDisk = old.Properties.StorageProfile.OSDisk
		np.TimeCreated, np.VMID = old.Properties.TimeCreated, old.Properties.VMID
		np.ProvisioningState = to.Ptr("Updating")
	} else {
		osName := name + "_OsDisk_1"
		if np.StorageProfile.OSDisk != nil && np.StorageProfile.OSDisk.Name != nil {
			osName = *np.StorageProfile.OSDisk.Name
		}
		if np.StorageProfile.OSDisk == nil {
			np.StorageProfile.OSDisk = &armcompute.OSDisk{}
		}
		size := int32(30)
		if np.StorageProfile.OSDisk.DiskSizeGB != nil {
			size = *np.StorageProfile.OSDisk.DiskSizeGB
		}
		osID := s.id(rg, compute, "disks", osName)
		np.StorageProfile.OSDisk.Name = to.Ptr(osName)
		np.StorageProfile.OSDisk.DiskSizeGB = to.Ptr(size)
		np.StorageProfile.OSDisk.ManagedDisk = &armcompute.ManagedDiskParameters{ID: to.Ptr(osID)}
		np.TimeCreated, np.VMID = to.Ptr(time.Now().UTC()), to.Ptr(strings.TrimPrefix(k, "/"))
		np.ProvisioningState = to.Ptr("Creating")
		disk := &armcompute.Disk{Location: vm.Location, Tags: vm.Tags, ManagedBy: to.Ptr(id), Zones: vm.Zones,
			Properties: &armcompute.DiskProperties{DiskSizeGB: to.Ptr(size), DiskState: to.Ptr(armcompute.DiskStateAttached),
				ProvisioningState: to.Ptr("Succeeded"), OSType: to.Ptr(armcompute.OperatingSystemTypesLinux),
				CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionFromImage)}}}
		setMeta(disk, osID, osName, "Microsoft.Compute/disks")
		st.disks[key(osID)] = disk
		st.power[k] = "starting"
	}
	var oldDisks []*armcompute.DataDisk
	if exists {
		oldDisks = old.Properties.StorageProfile.DataDisks
	}
	st.applyDataDisks(id, oldDisks, np.StorageProfile.DataDisks)
	for _, ref := range np.NetworkProfile.NetworkInterfaces {
		st.nics[key(*ref.ID)].Properties.VirtualMachine = &armnetwork.SubResource{ID: to.Ptr(id)}
	}
	st.vms[k] = next
	final := clone(next)
	final.Properties.ProvisioningState = to.Ptr("Succeeded")
	nt := http.StatusCreated
	if exists {
		nt = http.StatusOK
	}
	return lro(ctx, s, nt, as[vmPut](final), func() {
		if cur, ok := st.vms[k]; ok {
			cur.Properties.ProvisioningState = to.Ptr("Succeeded")
			if !exists {
				st.power[k] = "running"
				st.console(rg, name, "[    0.000000] Linux version 6.8.0-azure (armsim) #1 SMP")
				st.console(rg, name, "cloud-init: datasource Azure, instance "+name)
				st.console(rg, name, name+" login:")
			}
		}
	})
}

func (st *state) vmUpdate(ctx context.Context, rg, name string, u armcompute.VirtualMachineUpdate) (azfake.PollerResponder[vmPatch], azfake.ErrorResponder) {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.id(rg, compute, "virtualMachines", name)
	k := key(id)
	vm, ok := st.vms[k]
	if !ok {
		return fail[vmPatch](ctx, http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", id)
	}
	next := clone(vm)
	if u.Tags != nil {
		next.Tags = u.Tags
	}
	if p := u.Properties; p != nil {
		if p.HardwareProfile != nil && p.HardwareProfile.VMSize != nil {
			cores, ok := sizeOf(string(*p.HardwareProfile.VMSize))
			if !ok {
				return fail[vmPatch](ctx, http.StatusConflict, "SkuNotAvailable", "The requested VM size %s is not available.", *p.HardwareProfile.VMSize)
			}
			if st.power[k] != "deallocated" && st.vmCores(k)+cores > s.opts.CoreLimit {
				return fail[vmPatch](ctx, http.StatusConflict, "OperationNotAllowed", "Operation results in exceeding approved Total Regional Cores quota.")
			}
			next.Properties.HardwareProfile.VMSize = p.HardwareProfile.VMSize
		}
		if p.StorageProfile != nil && p.StorageProfile.DataDisks != nil {
			if code, c, msg := st.checkDataDisks(id, p.StorageProfile.DataDisks); code != 0 {
				return fail[vmPatch](ctx, code, c, "%s", msg)
			}
			st.applyDataDisks(id, vm.Properties.StorageProfile.DataDisks, p.StorageProfile.DataDisks)
			next.Properties.StorageProfile.DataDisks = p.StorageProfile.DataDisks
		}
	}
	next.Properties.ProvisioningState = to.Ptr("Updating")
	st.vms[k] = next
	final := clone(next)
	final.Properties.ProvisioningState = to.Ptr("Succeeded")
	return lro(ctx, s, http.StatusOK, as[vmPatch](final), func() {
		if cur, ok := st.vms[k]; ok {
			cur.Properties.ProvisioningState = to.Ptr("Succeeded")
		}
	})
}

func (st *state) vmDelete(ctx context.Context, rg, name string) (azfake.PollerResponder[vmDel], azfake.ErrorResponder) {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.id(rg, compute, "virtualMachines", name)
	k := key(id)
	vm, ok := st.vms[k]
	if !ok {
		return gone[vmDel]()
	}
	vm.Properties.ProvisioningState = to.Ptr("Deleting")
	st.power[k] = "stopping"
	return lro(ctx, s, http.StatusAccepted, vmDel{}, func() {
		vm, ok := st.vms[k]
		if !ok {
			return
		}
		sp := vm.Properties.StorageProfile
		if os := sp.OSDisk; os != nil && os.ManagedDisk != nil && os.ManagedDisk.ID != nil {
			if os.DeleteOption != nil && *os.DeleteOption == armcompute.DiskDeleteOptionTypesDelete {
				delete(st.disks, key(*os.ManagedDisk.ID))
			} else if d := st.disks[key(*os.ManagedDisk.ID)]; d != nil {
				d.ManagedBy, d.Properties.DiskState = nil, to.Ptr(armcompute.DiskStateUnattached)
			}
		}
		st.applyDataDisks(id, sp.DataDisks, nil)
		for _, ref := range vm.Properties.NetworkProfile.NetworkInterfaces {
			nk := key(*ref.ID)
			if ref.Properties != nil && ref.Properties.DeleteOption != nil && *ref.Properties.DeleteOption == armcompute.DeleteOptionsDelete {
				st.deleteNIC(nk)
			} else if nic := st.nics[nk]; nic != nil {
				nic.Properties.VirtualMachine = nil
			}
		}
		delete(st.vms, k)
		delete(st.power, k)
		delete(st.consoles, diagKey(rg, name))
	})
}

// vmAction answers start, deallocate, powerOff and restart.
func vmAction[R any](st *state, ctx context.Context, rg, name, during, after, line string, needRunning bool) (azfake.PollerResponder[R], azfake.ErrorResponder) {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.id(rg, compute, "virtualMachines", name)
	k := key(id)
	if _, ok := st.vms[k]; !ok {
		return fail[R](ctx, http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", id)
	}
	if needRunning && st.power[k] != "running" {
		return fail[R](ctx, http.StatusConflict, "OperationNotAllowed", "Operation 'restart' is not allowed on VM '%s' since the VM is %s.", name, st.power[k])
	}
	if after == "running" && st.power[k] != "running" {
		_, ok := sizeOf(string(*st.vms[k].Properties.HardwareProfile.VMSize))
		cores := 0
		if ok {
			cores, _ = sizeOf(string(*st.vms[k].Properties.HardwareProfile.VMSize))
		}
		if st.power[k] == "deallocated" && st.vmCores(k)+cores > s.opts.CoreLimit {
			return fail[R](ctx, http.StatusConflict, "OperationNotAllowed", "Operation results in exceeding approved Total Regional Cores quota.")
		}
	}
	st.power[k] = during
	var zero R
	return lro(ctx, s, http.StatusAccepted, zero, func() {
		if _, ok := st.vms[k]; ok {
			st.power[k] = after
			st.console(rg, name, line)
		}
	})
}

func (s *Sim) computeServers() *computefake.ServerFactory {
	st := s.st
	return &computefake.ServerFactory{
		VirtualMachinesServer: computefake.VirtualMachinesServer{
			BeginCreateOrUpdate: func(ctx context.Context, rg, name string, vm armcompute.VirtualMachine, _ *armcompute.VirtualMachinesClientBeginCreateOrUpdateOptions) (azfake.PollerResponder[vmPut], azfake.ErrorResponder) {
				return st.vmCreate(ctx, rg, name, vm)
			},
			BeginUpdate: func(ctx context.Context, rg, name string, u armcompute.VirtualMachineUpdate, _ *armcompute.VirtualMachinesClientBeginUpdateOptions) (azfake.PollerResponder[vmPatch], azfake.ErrorResponder) {
				return st.vmUpdate(ctx, rg, name, u)
			},
			BeginDelete: func(ctx context.Context, rg, name string, _ *armcompute.VirtualMachinesClientBeginDeleteOptions) (azfake.PollerResponder[vmDel], azfake.ErrorResponder) {
				return st.vmDelete(ctx, rg, name)
			},
			Get: func(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientGetOptions) (resp azfake.Responder[armcompute.VirtualMachinesClientGetResponse], e azfake.ErrorResponder) {
				s.mu.Lock()
				defer s.mu.Unlock()
				id := s.id(rg, compute, "virtualMachines", name)
				vm, ok := st.vms[key(id)]
				if !ok {
					return failSync[armcompute.VirtualMachinesClientGetResponse](ctx, http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", id)
				}
				out := clone(vm)
				if o != nil && o.Expand != nil {
					out.Properties.InstanceView = st.instanceView(key(id))
				}
				resp.SetResponse(http.StatusOK, armcompute.VirtualMachinesClientGetResponse{VirtualMachine: *out}, nil)
				return resp, e
			},
			NewListAllPager: func(o *armcompute.VirtualMachinesClientListAllOptions) azfake.PagerResponder[armcompute.VirtualMachinesClientListAllResponse] {
				s.mu.Lock()
				defer s.mu.Unlock()
				var list []*armcompute.VirtualMachine
				for _, vm := range sortedKeys(st.vms) {
					vm = clone(vm)
					if o != nil && o.StatusOnly != nil && *o.StatusOnly == "true" {
						vm.Properties.InstanceView = st.instanceView(key(*vm.ID))
					}
					list = append(list, vm)
				}
				return pages[armcompute.VirtualMachinesClientListAllResponse](s, list)
			},
			BeginStart: func(ctx context.Context, rg, name string, _ *armcompute.VirtualMachinesClientBeginStartOptions) (azfake.PollerResponder[armcompute.VirtualMachinesClientStartResponse], azfake.ErrorResponder) {
				return vmAction[armcompute.VirtualMachinesClientStartResponse](st, ctx, rg, name, "starting", "running", name+" login:", false)
			},
			BeginDeallocate: func(ctx context.Context, rg, name string, _ *armcompute.VirtualMachinesClientBeginDeallocateOptions) (azfake.PollerResponder[armcompute.VirtualMachinesClientDeallocateResponse], azfake.ErrorResponder) {
				return vmAction[armcompute.VirtualMachinesClientDeallocateResponse](st, ctx, rg, name, "deallocating", "deallocated", "reboot: Power down", false)
			},
			BeginPowerOff: func(ctx context.Context, rg, name string, _ *armcompute.VirtualMachinesClientBeginPowerOffOptions) (azfake.PollerResponder[armcompute.VirtualMachinesClientPowerOffResponse], azfake.ErrorResponder) {
				return vmAction[armcompute.VirtualMachinesClientPowerOffResponse](st, ctx, rg, name, "stopping", "stopped", "reboot: Power down", false)
			},
			BeginRestart: func(ctx context.Context, rg, name string, _ *armcompute.VirtualMachinesClientBeginRestartOptions) (azfake.PollerResponder[armcompute.VirtualMachinesClientRestartResponse], azfake.ErrorResponder) {
				return vmAction[armcompute.VirtualMachinesClientRestartResponse](st, ctx, rg, name, "starting", "running", "reboot: Restarting system", true)
			},
			RetrieveBootDiagnosticsData: func(ctx context.Context, rg, name string, _ *armcompute.VirtualMachinesClientRetrieveBootDiagnosticsDataOptions) (resp azfake.Responder[armcompute.VirtualMachinesClientRetrieveBootDiagnosticsDataResponse], e azfake.ErrorResponder) {
				s.mu.Lock()
				defer s.mu.Unlock()
				id := s.id(rg, compute, "virtualMachines", name)
				vm, ok := st.vms[key(id)]
				if !ok {
					return failSync[armcompute.VirtualMachinesClientRetrieveBootDiagnosticsDataResponse](ctx, http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", id)
				}
				dp := vm.Properties.DiagnosticsProfile
				if dp == nil || dp.BootDiagnostics == nil || dp.BootDiagnostics.Enabled == nil || !*dp.BootDiagnostics.Enabled {
					return failSync[armcompute.VirtualMachinesClientRetrieveBootDiagnosticsDataResponse](ctx, http.StatusConflict, "OperationNotAllowed", "Boot diagnostics is not enabled for VM %s.", name)
				}
				resp.SetResponse(http.StatusOK, armcompute.VirtualMachinesClientRetrieveBootDiagnosticsDataResponse{RetrieveBootDiagnosticsDataResult: armcompute.RetrieveBootDiagnosticsDataResult{
					SerialConsoleLogBlobURI: to.Ptr(s.URL + "/diag/" + diagKey(rg, name) + "/serial.log?sv=sim&sig=sas")}}, nil)
				return resp, e
			},
		},
		ResourceSKUsServer: computefake.ResourceSKUsServer{
			NewListPager: func(*armcompute.ResourceSKUsClientListOptions) azfake.PagerResponder[armcompute.ResourceSKUsClientListResponse] {
				return pages[armcompute.ResourceSKUsClientListResponse](s, st.skus)
			},
		},
		UsageServer: computefake.UsageServer{
			NewListPager: func(location string, _ *armcompute.UsageClientListOptions) azfake.PagerResponder[armcompute.UsageClientListResponse] {
				s.mu.Lock()
				defer s.mu.Unlock()
				u := []*armcompute.Usage{
					{Name: &armcompute.UsageName{Value: to.Ptr("cores"), LocalizedValue: to.Ptr("Total Regional vCPUs")},
						CurrentValue: to.Ptr(int32(st.vmCores(""))), Limit: to.Ptr(int64(s.opts.CoreLimit)), Unit: to.Ptr("Count")},
					{Name: &armcompute.UsageName{Value: to.Ptr("virtualMachines"), LocalizedValue: to.Ptr("Virtual Machines")},
						CurrentValue: to.Ptr(int32(len(st.vms))), Limit: to.Ptr(int64(25000)), Unit: to.Ptr("Count")},
				}
				return pages[armcompute.UsageClientListResponse](s, u)
			},
		},
		DisksServer:     st.diskServer(),
		SnapshotsServer: st.snapshotServer(),
		ImagesServer:    st.imageServer(),
	}
}
