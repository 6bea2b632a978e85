package blockstorage

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// ServerVolumeSpec is a volume the compute service makes for a server's
// block device mapping (Nova's image, snapshot or blank source with a
// volume destination). It is created as a Cinder volume of the server's
// project, under its quota, and shows in the volume list like any other.
type ServerVolumeSpec struct {
	// ID is the volume's top id: a retried create with the same id finds
	// the volume it made instead of making a second.
	ID        string
	ProjectID string
	UserID    string
	IsAdmin   bool
	Name      string
	// SizeGB is the size; 0 takes the snapshot's.
	SizeGB int
	// ImageID or SnapshotID is the source; neither makes a blank volume.
	ImageID          string
	SnapshotID       string
	VolumeType       string
	AvailabilityZone string
}

// serverVolumeWait bounds the wait for a volume to become available, as
// Nova's block_device_allocate_retries (60 tries, 3 s apart) bounds its own.
const serverVolumeWait = 3 * time.Minute

// serverVolumePoll is how often a creating volume is looked at.
const serverVolumePoll = 20 * time.Millisecond

// CreateServerVolume creates the volume of spec and waits until it is
// available. Faults are Cinder's (quota, size, unknown image or snapshot);
// a volume that ends in error is an error, and stays for the caller to
// delete with DeleteServerVolume.
func (s *Service) CreateServerVolume(ctx context.Context, spec ServerVolumeSpec) (*Volume, error) {
	ctx, cancel := context.WithTimeout(ctx, serverVolumeWait)
	defer cancel()
	v, err := s.volumes.Get(ctx, spec.ProjectID, spec.ID)
	if errors.Is(err, registry.ErrNotFound) {
		roles := []string{"member"}
		if spec.IsAdmin {
			roles = append(roles, "admin")
		}
		p := &wire.Principal{UserID: spec.UserID, ProjectID: spec.ProjectID, Roles: roles}
		cmd := &volumeCommand{Size: spec.SizeGB, Name: spec.Name, VolumeType: spec.VolumeType, Zone: spec.AvailabilityZone,
			Metadata: map[string]string{}, ImageID: spec.ImageID, SnapshotID: spec.SnapshotID}
		if cmd.Size == 0 && cmd.SnapshotID == "" {
			return nil, wire.BadRequest("Invalid input for field/attribute size. Value: None. None is not of type 'integer', 'string'")
		}
		v, err = s.create(ctx, p, cmd, spec.ID)
	}
	if err != nil {
		return nil, err
	}
	return s.awaitAvailable(ctx, v)
}

// awaitAvailable polls a volume until it leaves creating.
func (s *Service) awaitAvailable(ctx context.Context, v *Volume) (*Volume, error) {
	t := time.NewTicker(serverVolumePoll)
	defer t.Stop()
	for {
		if v = s.refresh(ctx, v); v == nil {
			return nil, wire.NotFound("Volume could not be found.")
		}
		switch v.Status {
		case StatusAvailable:
			return v, nil
		case StatusCreating:
		default:
			return nil, wire.Errorf(http.StatusInternalServerError,
				"Volume %s did not finish being created and its status is %s.", v.ID, v.Status)
		}
		select {
		case <-ctx.Done():
			return nil, wire.Errorf(http.StatusInternalServerError,
				"Volume %s did not finish being created even after we waited %d seconds.", v.ID, int(serverVolumeWait/time.Second))
		case <-t.C:
		}
		cur, err := s.volumes.Get(ctx, v.ProjectID, v.ID)
		if err != nil {
			if errors.Is(err, registry.ErrNotFound) {
				return nil, wire.NotFound("Volume %s could not be found.", v.ID)
			}
			return nil, err
		}
		v = cur
	}
}

// DeleteServerVolume deletes a volume the compute service made (after it
// was detached), or one whose server was deleted with
// delete_on_termination. A volume already gone is nil.
func (s *Service) DeleteServerVolume(ctx context.Context, projectID, volumeID string) error {
	v, err := s.volumes.Get(ctx, projectID, volumeID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.startDelete(ctx, v)
}
