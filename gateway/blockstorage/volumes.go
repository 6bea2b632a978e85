package blockstorage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// driver is the volume driver of cloud, or 501 when it has none.
func (s *Service) driver(cloud string) (proxies.VolumeDriver, error) {
	if d, ok := proxies.VolumesOf(s.backendOf(cloud)); ok {
		return d, nil
	}
	return nil, wire.NotImplemented("The cloud %q does not offer block storage.", cloud)
}

func writer(r *http.Request) (*wire.Principal, error) {
	p := wire.PrincipalFrom(r.Context())
	if !p.CanWrite() {
		return nil, wire.Forbidden("Policy doesn't allow this operation to be performed.")
	}
	return p, nil
}

// getVolume reads a volume the caller may see (own project; admin: any),
// refreshed from its backend while it is in transition.
func (s *Service) getVolume(ctx context.Context, p *wire.Principal, id string) (*Volume, error) {
	vv, err := s.volumes.Lookup(ctx, id)
	if err == nil && (vv.Project == p.ProjectID || p.IsAdmin()) {
		if v := s.refresh(ctx, vv.Value); v != nil {
			return v, nil
		}
	} else if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, err
	}
	return nil, wire.NotFound("Volume %s could not be found.", id)
}

// transitional statuses are refreshed from the backend on read.
var transitional = map[string]bool{StatusCreating: true, StatusExtending: true, StatusDeleting: true}

// refresh brings a volume in transition up to its backend's state, and
// finishes a delete the backend has completed (nil: the volume is gone).
func (s *Service) refresh(ctx context.Context, v *Volume) *Volume {
	if !transitional[v.Status] || v.Routing.Cloud == "" {
		return v
	}
	d, err := s.driver(v.Routing.Cloud)
	if err != nil {
		return v
	}
	st, err := d.GetVolume(ctx, v.ID)
	if errors.Is(err, proxies.ErrNotFound) && v.Status == StatusDeleting {
		s.finishDelete(ctx, v)
		return nil
	}
	if err != nil || string(st.State) == v.Status {
		return v
	}
	nv, err := s.volumes.Update(ctx, v.ProjectID, v.ID, func(cur *Volume) error {
		if !transitional[cur.Status] {
			return errStale
		}
		cur.Status, cur.Size, cur.Updated = string(st.State), st.SizeGB, s.opts.Now().UTC()
		if st.State == proxies.VolumeError {
			cur.Status = StatusError
		}
		return nil
	})
	if err != nil {
		return v
	}
	return nv
}

var errStale = errors.New("blockstorage: record changed under us")

// finishDelete removes the record and gives its quota back, once.
func (s *Service) finishDelete(ctx context.Context, v *Volume) {
	if err := s.volumes.Delete(ctx, v.ProjectID, v.ID); err == nil {
		if err := s.release(ctx, v.ProjectID, map[string]int{"volumes": 1, "gigabytes": v.Size}); err != nil {
			wire.Logger(ctx).Error("volume quota not released", "volume", v.ID, "err", err)
		}
	}
}

func (s *Service) createVolume(w http.ResponseWriter, r *http.Request) error {
	p, err := writer(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, wire.MaxBodyBytes+1))
	if err != nil {
		return wire.BadRequest("could not read the request body")
	}
	cmd, err := decodeCreate(body)
	if err != nil {
		return err
	}
	v, err := s.create(r.Context(), p, cmd, "")
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusAccepted, map[string]any{"volume": volumeView(r, v, false)})
	return nil
}

// create plans, reserves quota for, records and places a volume; id ""
// mints a new id.
func (s *Service) create(ctx context.Context, p *wire.Principal, cmd *volumeCommand, id string) (*Volume, error) {
	v, err := s.planVolume(ctx, p, cmd)
	if err != nil {
		return nil, err
	}
	if id != "" {
		v.ID = id
	}
	if q := s.quotaLimit(ctx, p.ProjectID, "per_volume_gigabytes"); q >= 0 && v.Size > q {
		return nil, wire.Errorf(http.StatusRequestEntityTooLarge, "VolumeSizeExceedsLimit: Requested volume size %dG is larger than maximum allowed limit %dG.", v.Size, q)
	}
	if err := s.reserve(ctx, p.ProjectID, map[string]int{"volumes": 1, "gigabytes": v.Size}); err != nil {
		return nil, err
	}
	if err := s.volumes.Create(ctx, p.ProjectID, v.ID, v.Created, v); err != nil {
		_ = s.release(ctx, p.ProjectID, map[string]int{"volumes": 1, "gigabytes": v.Size})
		return nil, err
	}
	return s.place(ctx, v, cmd), nil
}

// quotaLimit reads one effective limit of a project.
func (s *Service) quotaLimit(ctx context.Context, project, name string) int {
	limits, _, err := s.quotaOf(ctx, project)
	if err != nil {
		return -1
	}
	return limits[name]
}

// planVolume resolves the create's type, zone and source into a new record
// (status creating), or refuses it with Cinder's fault.
func (s *Service) planVolume(ctx context.Context, p *wire.Principal, cmd *volumeCommand) (*Volume, error) {
	typeRef := cmd.VolumeType
	if typeRef == "" {
		typeRef = DefaultTypeName
	}
	vt, err := s.findType(ctx, typeRef)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now().UTC()
	v := &Volume{ID: newID(), ProjectID: p.ProjectID, UserID: p.UserID, Name: cmd.Name, Description: cmd.Description,
		Status: StatusCreating, Size: cmd.Size, AvailabilityZone: cmd.Zone, VolumeType: vt.Name,
		Metadata: cmd.Metadata, Created: now, Updated: now}
	switch {
	case cmd.BackupID != "":
		return nil, wire.NotFound("Backup %s could not be found.", cmd.BackupID)
	case cmd.GroupID != "":
		return nil, wire.NotFound("Group %s could not be found.", cmd.GroupID)
	case cmd.SnapshotID != "":
		sn, err := s.getSnapshot(ctx, p, cmd.SnapshotID)
		if err != nil {
			return nil, err
		}
		if sn.Status != StatusAvailable {
			return nil, wire.BadRequest("Invalid snapshot: Originating snapshot status must be one of 'available' values")
		}
		src, err := s.volumes.Get(ctx, sn.ProjectID, sn.VolumeID)
		if err == nil {
			// As Cinder: a volume from a snapshot keeps its source's
			// bootable flag and image metadata.
			v.Bootable, v.ImageMetadata = src.Bootable, src.ImageMetadata
			if v.AvailabilityZone == "" {
				v.AvailabilityZone = src.AvailabilityZone
			}
		}
		if v.Size == 0 {
			v.Size = sn.Size
		}
		if v.Size < sn.Size {
			return nil, wire.BadRequest("Invalid input received: Volume size '%d'GB cannot be smaller than the snapshot size %dGB. They must be >= original snapshot size.", v.Size, sn.Size)
		}
		v.SnapshotID = sn.ID
	case cmd.SourceVolID != "":
		src, err := s.getVolume(ctx, p, cmd.SourceVolID)
		if err != nil {
			return nil, err
		}
		if src.Status != StatusAvailable && src.Status != StatusInUse {
			return nil, wire.BadRequest("Invalid volume: Source volume status must be available or in-use, not %s.", src.Status)
		}
		if v.Size == 0 {
			v.Size = src.Size
		}
		if v.Size < src.Size {
			return nil, wire.BadRequest("Invalid input received: Volume size '%d'GB cannot be smaller than original volume size %dGB. They must be >= original volume size.", v.Size, src.Size)
		}
		if v.AvailabilityZone == "" {
			v.AvailabilityZone = src.AvailabilityZone
		}
		v.SourceVolID, v.Bootable, v.ImageMetadata = src.ID, src.Bootable, src.ImageMetadata
	case cmd.ImageID != "":
		if err := s.fromImage(ctx, p, v, cmd.ImageID); err != nil {
			return nil, err
		}
	}
	if v.AvailabilityZone == "" {
		v.AvailabilityZone = s.defaultZone()
	}
	if _, ok := s.Zones()[v.AvailabilityZone]; !ok {
		return nil, wire.BadRequest("Invalid input received: Availability zone '%s' is invalid.", v.AvailabilityZone)
	}
	v.Routing = registry.Routing{State: registry.RoutingBuilding, Cloud: s.Zones()[v.AvailabilityZone]}
	return v, nil
}

// fromImage copies a visible, active image's facts into v (Cinder's
// volume_image_metadata) and checks that the volume is large enough.
func (s *Service) fromImage(ctx context.Context, p *wire.Principal, v *Volume, imageID string) error {
	if s.images == nil {
		return wire.NotImplemented("Volumes from images are not available: no image service is wired.")
	}
	img, err := s.images.VisibleImage(ctx, p.ProjectID, p.IsAdmin(), imageID)
	if errors.Is(err, registry.ErrNotFound) {
		return wire.NotFound("Image %s could not be found.", imageID)
	}
	if err != nil {
		return err
	}
	if img.Status != "active" {
		return wire.BadRequest("Invalid image identifier or unable to access requested image. Image %s is not active.", imageID)
	}
	var size int64
	if img.Size != nil {
		size = *img.Size
	}
	needGB := int((size + 1<<30 - 1) >> 30)
	if img.MinDisk > needGB {
		needGB = img.MinDisk
	}
	if v.Size < needGB {
		return wire.BadRequest("Invalid input received: Size of specified image %dGB is larger than volume size %dGB.", needGB, v.Size)
	}
	md := map[string]string{"image_id": img.ID, "image_name": img.Name, "checksum": img.Checksum,
		"container_format": img.ContainerFormat, "disk_format": img.DiskFormat,
		"min_disk": strconv.Itoa(img.MinDisk), "min_ram": strconv.Itoa(img.MinRAM), "size": strconv.FormatInt(size, 10)}
	for k, val := range img.Properties {
		md[k] = val
	}
	v.ImageID, v.ImageMetadata, v.Bootable = img.ID, md, true
	return nil
}

// place asks the zone's backend to make the volume and records the outcome;
// a backend failure leaves the volume in error (its quota is held until the
// user deletes it, as Cinder does).
func (s *Service) place(ctx context.Context, v *Volume, cmd *volumeCommand) *Volume {
	status, routing, fault := StatusError, v.Routing, ""
	d, err := s.driver(v.Routing.Cloud)
	if err == nil {
		var st proxies.VolumeStatus
		st, err = d.CreateVolume(ctx, proxies.VolumeSpec{ID: v.ID, ProjectID: v.ProjectID, Name: v.Name, SizeGB: v.Size,
			AvailabilityZone: v.AvailabilityZone, VolumeType: v.VolumeType, ImageID: v.ImageID,
			SnapshotID: v.SnapshotID, SourceVolumeID: v.SourceVolID, Metadata: v.Metadata})
		if err == nil {
			status = string(st.State)
			routing.State, routing.BottomID = registry.RoutingActive, st.BottomID
		}
	}
	if err != nil {
		fault = err.Error()
		routing.State = registry.RoutingError
		wire.Logger(ctx).Warn("volume create failed", "volume", v.ID, "cloud", v.Routing.Cloud, "err", fault)
	}
	nv, uerr := s.volumes.Update(ctx, v.ProjectID, v.ID, func(cur *Volume) error {
		cur.Status, cur.Routing, cur.Updated = status, routing, s.opts.Now().UTC()
		return nil
	})
	if uerr != nil {
		return v
	}
	return nv
}

func (s *Service) showVolume(w http.ResponseWriter, r *http.Request) error {
	v, err := s.getVolume(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"volume": volumeView(r, v, true)})
	return nil
}

// updateVolume changes name, description and metadata.
func (s *Service) updateVolume(w http.ResponseWriter, r *http.Request) error {
	p, err := writer(r)
	if err != nil {
		return err
	}
	var req struct {
		Volume *struct {
			Name               *string            `json:"name"`
			DisplayName        *string            `json:"display_name"`
			Description        *string            `json:"description"`
			DisplayDescription *string            `json:"display_description"`
			Metadata           *map[string]string `json:"metadata"`
		} `json:"volume"`
	}
	if err := wire.DecodeJSON(r, &req, false); err != nil {
		return err
	}
	ctx := r.Context()
	cur, err := s.getVolume(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	u := req.Volume
	if u == nil {
		return wire.BadRequest("Missing required element 'volume' in request body.")
	}
	name := u.Name
	if name == nil {
		name = u.DisplayName
	}
	desc := u.Description
	if desc == nil {
		desc = u.DisplayDescription
	}
	if name == nil && desc == nil && u.Metadata == nil {
		return wire.BadRequest("Invalid input for field/attribute volume. Value: {}. {} does not have enough properties")
	}
	if name != nil {
		if err := checkLen("name", *name, 255); err != nil {
			return err
		}
	}
	if desc != nil {
		if err := checkLen("description", *desc, 255); err != nil {
			return err
		}
	}
	if u.Metadata != nil {
		if err := checkMetadata(*u.Metadata); err != nil {
			return err
		}
	}
	v, err := s.volumes.Update(ctx, cur.ProjectID, cur.ID, func(v *Volume) error {
		if name != nil {
			v.Name = *name
		}
		if desc != nil {
			v.Description = desc
		}
		if u.Metadata != nil {
			v.Metadata = *u.Metadata
		}
		v.Updated = s.opts.Now().UTC()
		return nil
	})
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"volume": volumeView(r, v, false)})
	return nil
}

// deletable are the statuses a volume may be deleted from.
var deletable = map[string]bool{StatusAvailable: true, StatusError: true, "error_restoring": true, "error_extending": true, "error_deleting": true}

const deleteRefusal = "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots or be disassociated from snapshots after volume transfer."

// deleteVolume starts a delete: 202, then GET answers 404 once the backend
// has removed it. In use or with snapshots is 400, as Cinder answers.
func (s *Service) deleteVolume(w http.ResponseWriter, r *http.Request) error {
	p, err := writer(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	cur, err := s.getVolume(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.startDelete(ctx, cur); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// startDelete moves a deletable volume to deleting and asks its backend to
// remove it. In use or with snapshots is Cinder's 400.
func (s *Service) startDelete(ctx context.Context, cur *Volume) error {
	if cur.Status != StatusDeleting {
		if n, err := s.snapshotCount(ctx, cur); err != nil {
			return err
		} else if n > 0 {
			return wire.BadRequest("%s", deleteRefusal)
		}
		var err error
		cur, err = s.volumes.Update(ctx, cur.ProjectID, cur.ID, func(v *Volume) error {
			if v.Status == StatusDeleting {
				return nil
			}
			if !deletable[v.Status] || len(v.Attachments) > 0 || v.ReservedFor != "" {
				return wire.BadRequest("%s", deleteRefusal)
			}
			v.Status, v.Updated = StatusDeleting, s.opts.Now().UTC()
			v.Routing.State = registry.RoutingDeleting
			return nil
		})
		if err != nil {
			return err
		}
	}
	return s.deleteOnBackend(ctx, cur)
}

// deleteOnBackend removes the bottom volume (if one was made) and finishes
// the delete when the backend is already done.
func (s *Service) deleteOnBackend(ctx context.Context, v *Volume) error {
	if v.Routing.BottomID == "" {
		s.finishDelete(ctx, v)
		return nil
	}
	d, err := s.driver(v.Routing.Cloud)
	if err != nil {
		return err
	}
	if err := d.DeleteVolume(ctx, v.ID); err != nil {
		_, _ = s.volumes.Update(ctx, v.ProjectID, v.ID, func(cur *Volume) error {
			cur.Status = "error_deleting"
			return nil
		})
		return fmt.Errorf("delete volume %s: %w", v.ID, err)
	}
	s.refresh(ctx, v)
	return nil
}
