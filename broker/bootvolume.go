package broker

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/blockstorage"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// Block device sources and destinations of Nova's block_device_mapping_v2.
const (
	SourceVolume   = "volume"
	SourceImage    = "image"
	SourceSnapshot = "snapshot"
	SourceBlank    = "blank"

	DestinationVolume = "volume"
	DestinationLocal  = "local"
)

// BlockDevice is one validated entry of a create's block_device_mapping_v2
// (the compute API has checked its types and formats).
type BlockDevice struct {
	Source      string
	Destination string
	// UUID is the source volume, image or snapshot ("" for blank).
	UUID string
	// BootIndex is the boot order: 0 is the root disk; -1 (or any
	// negative) is not bootable.
	BootIndex int
	// SizeGB is the size of a volume to make (0: the source's); for a
	// swap disk it is in MB, as Nova's.
	SizeGB              int
	DeleteOnTermination bool
	DeviceName          string
	GuestFormat         string
	VolumeType          string
	Tag                 string
}

// BootVolume is a create's block device mapping: the volumes the server
// boots from or gets attached at create, in the order given. The image
// itself as the root disk (source image, destination local, boot index 0
// with imageRef) is not listed: ImageID says it. The name is kept from the
// days it held one existing boot volume.
type BootVolume struct {
	Devices []BlockDevice
}

// Root is the mapping's boot device (boot index 0), if it has one.
func (bv *BootVolume) Root() (BlockDevice, bool) {
	for _, d := range bv.Devices {
		if d.BootIndex == 0 {
			return d, true
		}
	}
	return BlockDevice{}, false
}

// VolumeMaker is the optional part of Volumes that makes and deletes the
// volumes of block device mappings (image, snapshot and blank sources,
// delete_on_termination). gateway/blockstorage implements it; without it
// those mappings answer 501.
type VolumeMaker interface {
	// CreateServerVolume creates a volume and waits until it is available;
	// a retry with the same id finds the volume.
	CreateServerVolume(ctx context.Context, spec blockstorage.ServerVolumeSpec) (*blockstorage.Volume, error)
	// DeleteServerVolume deletes a detached volume; gone is nil.
	DeleteServerVolume(ctx context.Context, projectID, volumeID string) error
}

// rootDevice is the device a boot volume is attached as.
const rootDevice = "/dev/vda"

// checkBootVolume is the create-time check of a request with a block
// device mapping, before anything is made: the image (when the server
// boots from one), one server per existing volume, the images of
// image-to-volume mappings, and local disks against the flavor.
func (b *Broker) checkBootVolume(ctx context.Context, req CreateRequest, f *registry.Flavor) error {
	const op = "CreateServers"
	if req.ImageID != "" {
		if _, err := b.checkImage(ctx, req, f); err != nil {
			return err
		}
	}
	devs := req.BootVolume.Devices
	if req.MaxCount > 1 && slices.ContainsFunc(devs, func(d BlockDevice) bool { return d.Source == SourceVolume }) {
		return invalid(op, "Cannot attach one or more volumes to multiple instances")
	}
	ephemeralGB, swaps, swapMB, locals := 0, 0, 0, 0
	for _, d := range devs {
		if d.Destination == DestinationLocal {
			locals++
			if d.GuestFormat == "swap" {
				swaps++
				swapMB = d.SizeGB
				continue
			}
			if d.SizeGB > 0 {
				ephemeralGB += d.SizeGB
			} else {
				ephemeralGB += f.EphemeralGB
			}
			continue
		}
		if d.Source == SourceImage {
			img, err := b.images.VisibleImage(ctx, req.ProjectID, req.IsAdmin, d.UUID)
			if errors.Is(err, registry.ErrNotFound) {
				return invalid(op, "Block Device Mapping is Invalid: failed to get image %s.", d.UUID)
			}
			if err != nil {
				return err
			}
			if img.Status != "active" {
				return invalid(op, "Image %s is not active.", d.UUID)
			}
		}
	}
	if ephemeralGB > f.EphemeralGB {
		return invalid(op, "Ephemeral disks requested are larger than the instance type allows. If no size is given in one block device mapping, flavor ephemeral size will be used.")
	}
	if swaps > 1 {
		return invalid(op, "Block Device Mapping is Invalid: More than one swap drive requested.")
	}
	if swapMB > f.SwapMB {
		return invalid(op, "Swap drive requested is larger than instance type allows.")
	}
	if locals > 0 {
		return proxies.Errorf(proxies.ErrNotSupported, op, "Ephemeral and swap disks (block device mappings with destination_type local) are not supported by this cloud.")
	}
	if _, err := b.volumeService(op); err != nil {
		return err
	}
	for _, d := range devs {
		if d.Source != SourceVolume || d.DeleteOnTermination {
			if _, ok := b.volumes.(VolumeMaker); !ok {
				return proxies.Errorf(proxies.ErrNotSupported, op, "Block device mappings that create or delete volumes are not available in this cloud.")
			}
		}
	}
	return nil
}

// bdmVolumeID is the top id of the volume made for entry i of server
// serverID's mapping: a name-based (version 5 style) UUID, so a retried
// create finds the volume it made.
func bdmVolumeID(serverID string, i int) string {
	h := sha1.Sum([]byte(fmt.Sprintf("canopy-bdm/%s/%d", serverID, i)))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// bdmVolumeName is the name Nova gives the volumes it makes.
func bdmVolumeName(serverID string, d BlockDevice) string {
	if d.Source == SourceBlank {
		return serverID + "-blank-vol"
	}
	return ""
}

// attachBootVolume makes, reserves and attaches every volume of a server's
// block device mapping, in boot order, and records them as the server's
// attachments (the root disk at /dev/vda); spec takes the root volume's
// source image, which the backend boots. On error nothing stays: volumes
// attached are detached and volumes made are deleted.
func (b *Broker) attachBootVolume(ctx context.Context, req CreateRequest, s *registry.Server, spec *proxies.ServerSpec) (err error) {
	const op = "CreateServers"
	vs, err := b.volumeService(op)
	if err != nil {
		return err
	}
	order := make([]int, len(req.BootVolume.Devices))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int {
		return bootRank(req.BootVolume.Devices[x].BootIndex) - bootRank(req.BootVolume.Devices[y].BootIndex)
	})
	if err := b.checkBootVolumeClouds(ctx, vs, s, req.BootVolume.Devices); err != nil {
		return err
	}
	var made, attached []string
	var atts []VolumeAttachment
	defer func() {
		if err == nil {
			return
		}
		wctx := context.WithoutCancel(ctx)
		for _, id := range attached {
			b.giveBack(wctx, vs, s, id)
		}
		if vm, ok := vs.(VolumeMaker); ok {
			for _, id := range made {
				if derr := vm.DeleteServerVolume(wctx, s.ProjectID, id); derr != nil {
					b.log.Error("delete volume of failed boot", "server", s.ID, "volume", id, "err", derr)
				}
			}
		}
		if len(atts) > 0 {
			if derr := b.serverVolumes().Delete(wctx, s.ProjectID, s.ID); derr != nil && !errors.Is(derr, registry.ErrNotFound) {
				b.log.Error("drop volume attachments of failed boot", "server", s.ID, "err", derr)
			}
		}
	}()
	for _, i := range order {
		d := req.BootVolume.Devices[i]
		id := d.UUID
		created := d.Source != SourceVolume
		if created {
			id = bdmVolumeID(s.ID, i)
			made = append(made, id)
			if err := b.makeVolume(ctx, req, s, d, id); err != nil {
				return err
			}
		}
		vol, err := vs.ReserveAttach(ctx, s.ProjectID, id, s.ID)
		var we *wire.Error
		if errors.As(err, &we) && we.Status == http.StatusNotFound {
			return invalid(op, "Block Device Mapping is Invalid: failed to get volume %s.", id)
		}
		if err != nil {
			return err
		}
		attached = append(attached, id)
		if otherCloud(s, vol) {
			return bootCloudMismatch(op, s, vol)
		}
		device := d.DeviceName
		if d.BootIndex == 0 {
			if !vol.Bootable {
				return invalid(op, "Block Device %s is not bootable.", id)
			}
			if vol.ImageMetadata["image_id"] != "" {
				spec.ImageID = vol.ImageMetadata["image_id"]
			}
			device = rootDevice
		}
		vol, err = vs.CompleteAttach(ctx, s.ProjectID, id, s.ID, device)
		if err != nil {
			return err
		}
		for _, a := range vol.Attachments {
			if a.ServerID == s.ID && a.Device != "" {
				device = a.Device
			}
		}
		atts = append(atts, VolumeAttachment{VolumeID: id, Device: device, Tag: d.Tag,
			DeleteOnTermination: d.DeleteOnTermination, Created: created})
		if err := b.updateAttachments(ctx, s, func([]VolumeAttachment) []VolumeAttachment {
			return slices.Clone(atts)
		}); err != nil {
			return err
		}
	}
	return nil
}

// checkBootVolumeClouds refuses, before any volume is made or reserved,
// existing volumes of the mapping that another cloud than the server's
// holds (when the volume service can read volumes; otherwise each reserved
// volume is checked as it is reserved).
func (b *Broker) checkBootVolumeClouds(ctx context.Context, vs Volumes, s *registry.Server, devs []BlockDevice) error {
	const op = "CreateServers"
	vr, ok := vs.(VolumeReader)
	if !ok {
		return nil
	}
	for _, d := range devs {
		if d.Source != SourceVolume {
			continue
		}
		v, err := vr.Volume(ctx, s.ProjectID, d.UUID)
		var we *wire.Error
		if errors.As(err, &we) && we.Status == http.StatusNotFound {
			return invalid(op, "Block Device Mapping is Invalid: failed to get volume %s.", d.UUID)
		}
		if err != nil {
			return err
		}
		if otherCloud(s, v) {
			return bootCloudMismatch(op, s, v)
		}
	}
	return nil
}

// bootCloudMismatch is Nova's 400 for a server created with a volume of
// another zone ([cinder]cross_az_attach = False): here, of another cloud.
func bootCloudMismatch(op string, s *registry.Server, v *blockstorage.Volume) error {
	serverZone, volumeZone := zonesOf(s, v)
	return invalid(op, "The availability zone between the server and its attached volumes do not match: "+
		"Server and volumes are not in the same availability zone. Server is in: %s. Volumes are in: %s.", serverZone, volumeZone)
}

// bootRank orders devices by boot index, the unbootable ones last.
func bootRank(i int) int {
	if i < 0 {
		return 1 << 30
	}
	return i
}

// makeVolume creates the volume of one image, snapshot or blank mapping.
// Cinder's "not found" for the snapshot is Nova's invalid mapping.
func (b *Broker) makeVolume(ctx context.Context, req CreateRequest, s *registry.Server, d BlockDevice, id string) error {
	const op = "CreateServers"
	vm, ok := b.volumes.(VolumeMaker)
	if !ok {
		return proxies.Errorf(proxies.ErrNotSupported, op, "Block device mappings that create or delete volumes are not available in this cloud.")
	}
	// The volume is made in the server's zone (as Nova does with
	// [cinder]cross_az_attach = False), so in the server's cloud.
	spec := blockstorage.ServerVolumeSpec{ID: id, ProjectID: s.ProjectID, UserID: req.UserID, IsAdmin: req.IsAdmin,
		Name: bdmVolumeName(s.ID, d), SizeGB: d.SizeGB, VolumeType: d.VolumeType, AvailabilityZone: s.AvailabilityZone}
	switch d.Source {
	case SourceImage:
		spec.ImageID = d.UUID
	case SourceSnapshot:
		spec.SnapshotID = d.UUID
	}
	_, err := vm.CreateServerVolume(ctx, spec)
	var we *wire.Error
	if errors.As(err, &we) && we.Status == http.StatusNotFound {
		switch d.Source {
		case SourceSnapshot:
			return invalid(op, "Block Device Mapping is Invalid: failed to get snapshot %s.", d.UUID)
		case SourceImage:
			return invalid(op, "Block Device Mapping is Invalid: failed to get image %s.", d.UUID)
		}
	}
	return err
}

// deleteMadeVolumes deletes, after they were detached, the volumes of a
// server that go with it: those with delete_on_termination, and those its
// block device mapping made when it never launched (a failed boot leaves
// nothing it made behind).
func (b *Broker) deleteMadeVolumes(ctx context.Context, s *registry.Server, list []VolumeAttachment) {
	vm, ok := b.volumes.(VolumeMaker)
	for _, a := range list {
		if !a.DeleteOnTermination && !(a.Created && s.LaunchedAt.IsZero()) {
			continue
		}
		if !ok {
			b.log.Error("volume to delete but no volume maker", "server", s.ID, "volume", a.VolumeID)
			continue
		}
		if err := vm.DeleteServerVolume(ctx, s.ProjectID, a.VolumeID); err != nil {
			b.log.Error("delete volume of deleted server", "server", s.ID, "volume", a.VolumeID, "err", err)
		}
	}
}
