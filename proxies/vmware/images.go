package vmware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// imageDir is the datastore directory imported disks are uploaded to.
const imageDir = "canopy-images"

// images is the Backend's ImageDriver: images are VM templates.
type images Backend

// template finds the template of image id: a configured one first, then
// one Canopy made (ImportImage or a snapshot).
func (b *Backend) template(ctx context.Context, op, id string) (*object.VirtualMachine, *mo.VirtualMachine, error) {
	if p, ok := b.cfg.Templates[id]; ok {
		vm, err := b.finder.VirtualMachine(ctx, p)
		if err != nil {
			return nil, nil, inventoryErr(op, "templates", p, err)
		}
		var m mo.VirtualMachine
		if err := vm.Properties(ctx, vm.Reference(), vmProps, &m); err != nil {
			return nil, nil, wrapErr(op, err)
		}
		return vm, &m, nil
	}
	vm, m, err := b.findByName(ctx, op, imagePrefix+id, keyImage, id, "image")
	if errors.Is(err, proxies.ErrNotFound) {
		return nil, nil, errorf(proxies.ErrNotFound, op, err, "image %s has no template in cloud %s; import it or map it in vsphere.templates", id, b.name)
	}
	return vm, m, err
}

func (b *Backend) imageStatus(m *mo.VirtualMachine) proxies.ImageStatus {
	size, _ := strconv.ParseInt(extra(m, keyImageSize), 10, 64)
	return proxies.ImageStatus{ID: extra(m, keyImage), BottomID: m.Self.Value, Location: "vsphere:" + b.folder.InventoryPath + "/" + m.Name, Size: size, Ready: true}
}

// ImportImage makes a template from a raw disk image: the bytes go to the
// datastore as the flat extent of a VMDK (with a descriptor beside it), a
// VM is created around that disk and marked a template. qcow2, vmdk, vhd,
// vhdx and vdi images are converted to raw first with qemu-img (when it is
// installed; else ErrNotSupported); other formats are ErrNotSupported.
func (d *images) ImportImage(ctx context.Context, spec proxies.ImageSpec, data proxies.ImageReader) (proxies.ImageStatus, error) {
	const op = "ImportImage"
	b := (*Backend)(d)
	if spec.ID == "" {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "an image needs an id")
	}
	defer b.lockID(spec.ID)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if vm, m, err := b.template(ctx, op, spec.ID); err == nil {
		if p, mapped := b.cfg.Templates[spec.ID]; mapped {
			return proxies.ImageStatus{ID: spec.ID, BottomID: vm.Reference().Value, Location: "vsphere:" + p, Ready: true}, nil
		}
		return b.imageStatus(m), nil
	} else if !errors.Is(err, proxies.ErrNotFound) {
		return proxies.ImageStatus{}, err
	}
	if spec.DiskFormat != "" && spec.DiskFormat != "raw" {
		if !proxies.CanConvertToRaw(spec.DiskFormat) {
			return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrNotSupported, op, "the vSphere cloud cannot import disk_format %s", spec.DiskFormat)
		}
	}
	var r io.ReadSeekCloser
	r, err := data(ctx)
	if err != nil {
		return proxies.ImageStatus{}, errorf(proxies.ErrUnavailable, op, err, "the image's bytes cannot be read")
	}
	defer r.Close()
	if spec.DiskFormat != "" && spec.DiskFormat != "raw" {
		raw, done, err := proxies.ToRaw(ctx, op, "vSphere", spec.DiskFormat, r)
		if err != nil {
			return proxies.ImageStatus{}, err
		}
		defer done()
		r = raw
	}
	size, err := r.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = r.Seek(0, io.SeekStart)
	}
	if err != nil || size <= 0 {
		return proxies.ImageStatus{}, errorf(proxies.ErrInvalid, op, err, "the image is empty or cannot be sized")
	}
	name := imagePrefix + spec.ID
	dir := fmt.Sprintf("[%s] %s", b.ds.Name(), imageDir)
	if err := object.NewFileManager(b.vc).MakeDirectory(ctx, dir, b.dc, true); err != nil && !isFault[*types.FileAlreadyExists](err) {
		return proxies.ImageStatus{}, wrapErr(op, err)
	}
	sectors := (size + 511) / 512
	flat := io.MultiReader(r, bytes.NewReader(make([]byte, sectors*512-size)))
	if err := b.ds.Upload(ctx, flat, imageDir+"/"+name+"-flat.vmdk", upload(sectors*512)); err != nil {
		return proxies.ImageStatus{}, wrapErr(op, err)
	}
	desc := vmdkDescriptor(name+"-flat.vmdk", sectors)
	if err := b.ds.Upload(ctx, bytes.NewReader(desc), imageDir+"/"+name+".vmdk", upload(int64(len(desc)))); err != nil {
		return proxies.ImageStatus{}, wrapErr(op, err)
	}
	vm, err := b.createTemplateVM(ctx, op, name, spec, sectors)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	if err := vm.MarkAsTemplate(ctx); err != nil {
		return proxies.ImageStatus{}, wrapErr(op, err)
	}
	_, m, err := b.findByName(ctx, op, name, keyImage, spec.ID, "image")
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	return b.imageStatus(m), nil
}

// createTemplateVM creates the VM around the uploaded disk.
func (b *Backend) createTemplateVM(ctx context.Context, op, name string, spec proxies.ImageSpec, sectors int64) (*object.VirtualMachine, error) {
	dsName := b.ds.Name()
	var devices object.VirtualDeviceList
	ctrl, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return nil, wrapErr(op, err)
	}
	devices = append(devices, ctrl)
	disk := devices.CreateDisk(ctrl.(types.BaseVirtualController), b.ds.Reference(), fmt.Sprintf("[%s] %s/%s.vmdk", dsName, imageDir, name))
	disk.CapacityInKB = (sectors*512 + 1023) / 1024
	disk.CapacityInBytes = sectors * 512
	changes := []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: ctrl},
		// No file operation: the disk is the uploaded one, not a new file.
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: disk},
	}
	cfg := types.VirtualMachineConfigSpec{
		Name: name, GuestId: string(types.VirtualMachineGuestOsIdentifierOtherLinux64Guest),
		NumCPUs: 1, MemoryMB: 512, DeviceChange: changes,
		Files:       &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s]", dsName)},
		Annotation:  "Canopy image " + spec.ID + " (" + spec.Name + ")",
		ExtraConfig: []types.BaseOptionValue{opt(keyImage, spec.ID), opt(keyImageSize, strconv.FormatInt(spec.Size, 10))},
	}
	task, err := b.folder.CreateVM(ctx, cfg, b.zones[0].pool, nil)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	ref, ok := info.Result.(types.ManagedObjectReference)
	if !ok {
		return nil, proxies.Errorf(proxies.ErrUnavailable, op, "creating the template of image %s finished without naming its VM", spec.ID)
	}
	return object.NewVirtualMachine(b.vc, ref), nil
}

// upload is a PUT of n bytes.
func upload(n int64) *soap.Upload {
	u := soap.DefaultUpload
	u.ContentLength = n
	return &u
}

// vmdkDescriptor is a monolithicFlat VMDK descriptor over a raw extent.
func vmdkDescriptor(extent string, sectors int64) []byte {
	return fmt.Appendf(nil, `# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="monolithicFlat"

# Extent description
RW %d FLAT "%s" 0

# The Disk Data Base
ddb.adapterType = "lsilogic"
ddb.virtualHWVersion = "13"
`, sectors, extent)
}

// GetImage reports image id's template.
func (d *images) GetImage(ctx context.Context, id string) (proxies.ImageStatus, error) {
	const op = "GetImage"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	vm, m, err := b.template(ctx, op, id)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	if p, mapped := b.cfg.Templates[id]; mapped {
		return proxies.ImageStatus{ID: id, BottomID: vm.Reference().Value, Location: "vsphere:" + p, Ready: true}, nil
	}
	return b.imageStatus(m), nil
}

// DeleteImage destroys a template Canopy made; nil when it is gone. A
// template mapped in the configuration is not Canopy's to delete
// (ErrConflict: remove the mapping instead).
func (d *images) DeleteImage(ctx context.Context, id string) error {
	const op = "DeleteImage"
	b := (*Backend)(d)
	if _, mapped := b.cfg.Templates[id]; mapped {
		return proxies.Errorf(proxies.ErrConflict, op, "image %s is a template mapped in vsphere.templates; remove the mapping instead", id)
	}
	defer b.lockID(id)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	vm, _, err := b.findByName(ctx, op, imagePrefix+id, keyImage, id, "image")
	if errors.Is(err, proxies.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := runTask(ctx, op, vm.Destroy); err != nil && !errors.Is(err, proxies.ErrNotFound) {
		return err
	}
	return nil
}
