package blockstorage

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// ImageUploader is the optional part of the image service that
// os-volume_upload_image needs (gateway/image implements it).
type ImageUploader interface {
	CreateImageFromVolume(ctx context.Context, projectID, name, diskFormat, containerFormat, sourceImageID string, size int64) (*registry.Image, error)
}

var uploadDiskFormats = map[string]bool{"raw": true, "qcow2": true, "vmdk": true, "vdi": true, "vhd": true, "vhdx": true, "ploop": true, "iso": true}

// uploadToImage is the os-volume_upload_image action: the volume goes
// uploading while its contents are copied into a new image, then back to
// available.
func (s *Service) uploadToImage(w http.ResponseWriter, r *http.Request, v *Volume, arg json.RawMessage) error {
	up, ok := s.images.(ImageUploader)
	if !ok {
		return wire.NotImplemented("The volume action os-volume_upload_image is not implemented by this cloud.")
	}
	var a struct {
		ImageName       string `json:"image_name"`
		DiskFormat      string `json:"disk_format"`
		ContainerFormat string `json:"container_format"`
		Force           any    `json:"force"`
	}
	if err := wire.DecodeBytes(arg, &a, false); err != nil {
		return err
	}
	if a.ImageName == "" {
		return wire.BadRequest("Invalid input for field/attribute image_name. It is required.")
	}
	if a.DiskFormat == "" {
		a.DiskFormat = "raw"
	}
	if !uploadDiskFormats[a.DiskFormat] {
		return wire.BadRequest("Invalid disk-format '%s' is specified. Allowed disk-formats are raw, qcow2, vmdk, vdi, vhd, vhdx, ploop, iso.", a.DiskFormat)
	}
	if a.ContainerFormat == "" {
		a.ContainerFormat = "bare"
	}
	ctx := r.Context()
	if v.Status != "available" {
		return wire.BadRequest("Invalid volume: Volume %s status must be available, but current status is: %s.", v.ID, v.Status)
	}
	if _, err := s.volumes.Update(ctx, v.ProjectID, v.ID, func(cur *Volume) error {
		if cur.Status != "available" {
			return wire.BadRequest("Invalid volume: Volume %s status must be available, but current status is: %s.", v.ID, cur.Status)
		}
		cur.Status, cur.Updated = "uploading", s.opts.Now().UTC()
		return nil
	}); err != nil {
		return err
	}
	img, err := up.CreateImageFromVolume(ctx, v.ProjectID, a.ImageName, a.DiskFormat, a.ContainerFormat,
		v.ImageMetadata["image_id"], int64(v.Size)<<30)
	_, uerr := s.volumes.Update(context.WithoutCancel(ctx), v.ProjectID, v.ID, func(cur *Volume) error {
		cur.Status, cur.Updated = "available", s.opts.Now().UTC()
		return nil
	})
	if err != nil {
		return err
	}
	if uerr != nil {
		return uerr
	}
	wire.WriteJSON(w, http.StatusAccepted, map[string]any{"os-volume_upload_image": map[string]any{
		"id": v.ID, "updated_at": s.opts.Now().UTC().Format(timeFormat), "status": "uploading",
		"display_description": v.Description, "size": v.Size, "volume_type": v.VolumeType,
		"image_id": img.ID, "container_format": a.ContainerFormat, "disk_format": a.DiskFormat, "image_name": a.ImageName,
	}})
	return nil
}
