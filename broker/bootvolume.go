package broker

import (
	"context"
	"errors"
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// BootVolume is a create's root disk when it boots from an existing volume
// (block_device_mapping_v2 source and destination volume, boot_index 0).
// The server then has no image (Nova shows image "").
type BootVolume struct {
	VolumeID string
}

// rootDevice is the device a boot volume is attached as.
const rootDevice = "/dev/vda"

// checkBootVolume is the create-time check of a volume-backed request:
// one server per volume, as Nova.
func checkBootVolume(req CreateRequest) error {
	if req.MaxCount > 1 {
		return invalid("CreateServers", "Cannot attach one or more volumes to multiple instances")
	}
	return nil
}

// attachBootVolume reserves and attaches a server's boot volume and records
// it as the server's first attachment; spec takes the volume's source
// image, which the backend boots. On error nothing stays reserved.
func (b *Broker) attachBootVolume(ctx context.Context, req CreateRequest, s *registry.Server, spec *proxies.ServerSpec) error {
	const op = "CreateServers"
	vs, err := b.volumeService(op)
	if err != nil {
		return err
	}
	id := req.BootVolume.VolumeID
	vol, err := vs.ReserveAttach(ctx, s.ProjectID, id, s.ID)
	var we *wire.Error
	if errors.As(err, &we) && we.Status == http.StatusNotFound {
		return invalid(op, "Block Device Mapping is Invalid: failed to get volume %s.", id)
	}
	if err != nil {
		return err
	}
	if !vol.Bootable {
		b.giveBack(ctx, vs, s, id)
		return invalid(op, "Block Device %s is not bootable.", id)
	}
	if vol.ImageMetadata["image_id"] != "" {
		spec.ImageID = vol.ImageMetadata["image_id"]
	}
	if _, err := vs.CompleteAttach(ctx, s.ProjectID, id, s.ID, rootDevice); err != nil {
		b.giveBack(ctx, vs, s, id)
		return err
	}
	if err := b.updateAttachments(ctx, s, func([]VolumeAttachment) []VolumeAttachment {
		return []VolumeAttachment{{VolumeID: id, Device: rootDevice}}
	}); err != nil {
		b.giveBack(ctx, vs, s, id)
		return err
	}
	return nil
}
