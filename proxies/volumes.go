package proxies

import (
	"context"
	"time"
)

// VolumeState is a backend's view of a block device's lifecycle, in Cinder's
// status vocabulary where the two agree.
type VolumeState string

const (
	VolumeCreating  VolumeState = "creating"
	VolumeAvailable VolumeState = "available"
	VolumeInUse     VolumeState = "in-use"
	VolumeExtending VolumeState = "extending"
	VolumeDeleting  VolumeState = "deleting"
	VolumeError     VolumeState = "error"
)

// VolumeSpec is everything a backend needs to create one volume. ID is the
// top (Canopy) id: backends tag the bottom volume with it and use it to make
// the create idempotent. At most one of ImageID, SnapshotID and SourceVolumeID
// is set; none means a blank volume.
type VolumeSpec struct {
	ID               string            `json:"id"`
	ProjectID        string            `json:"project_id"`
	Name             string            `json:"name,omitempty"`
	SizeGB           int               `json:"size_gb"`
	AvailabilityZone string            `json:"availability_zone,omitempty"`
	VolumeType       string            `json:"volume_type,omitempty"`
	ImageID          string            `json:"image_id,omitempty"`
	SnapshotID       string            `json:"snapshot_id,omitempty"`
	SourceVolumeID   string            `json:"source_volume_id,omitempty"`
	Metadata         map[string]string `json:"metadata,omitempty"`
}

// VolumeStatus is a backend's report of one volume.
type VolumeStatus struct {
	ID       string      `json:"id"`        // top id
	BottomID string      `json:"bottom_id"` // the id in the backend
	State    VolumeState `json:"state"`
	SizeGB   int         `json:"size_gb"`
	// AttachedTo is the server the volume is attached to ("" when none) and
	// Device its device name there.
	AttachedTo string    `json:"attached_to,omitempty"`
	Device     string    `json:"device,omitempty"`
	Fault      string    `json:"fault,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
}

// SnapshotSpec describes a point-in-time copy of a volume.
type SnapshotSpec struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	VolumeID  string `json:"volume_id"`
	Name      string `json:"name,omitempty"`
	// Force allows a snapshot of an attached volume (Cinder's force flag).
	Force bool `json:"force,omitempty"`
}

// SnapshotStatus is a backend's report of one snapshot.
type SnapshotStatus struct {
	ID       string      `json:"id"`
	BottomID string      `json:"bottom_id"`
	VolumeID string      `json:"volume_id"`
	State    VolumeState `json:"state"` // creating, available, deleting, error
	SizeGB   int         `json:"size_gb"`
}

// VolumeDriver creates and drives block volumes. Every call is idempotent by
// top id: a retried create finds the volume it made, a repeated delete of a
// volume that is gone returns nil.
type VolumeDriver interface {
	// CreateVolume starts making a volume; it returns at once in state
	// creating (or available when the backend is instant). ErrCapacity when
	// the backend has no room; ErrNotFound when a source does not exist.
	CreateVolume(ctx context.Context, spec VolumeSpec) (VolumeStatus, error)
	GetVolume(ctx context.Context, id string) (VolumeStatus, error)
	// DeleteVolume removes a volume; nil when it is already gone.
	// ErrConflict while it is attached or has snapshots.
	DeleteVolume(ctx context.Context, id string) error
	// ExtendVolume grows a detached volume to newSizeGB (ErrInvalid when not
	// larger, ErrConflict when not available, ErrCapacity when no room).
	ExtendVolume(ctx context.Context, id string, newSizeGB int) (VolumeStatus, error)
	CreateSnapshot(ctx context.Context, spec SnapshotSpec) (SnapshotStatus, error)
	GetSnapshot(ctx context.Context, id string) (SnapshotStatus, error)
	// DeleteSnapshot removes a snapshot; nil when it is already gone.
	DeleteSnapshot(ctx context.Context, id string) error
	// AttachVolume attaches an available volume to serverID and returns the
	// device name it got there. Attaching to the server it is already
	// attached to returns the same device (idempotent).
	AttachVolume(ctx context.Context, volumeID, serverID string) (device string, err error)
	// DetachVolume detaches a volume; nil when it is not attached.
	DetachVolume(ctx context.Context, volumeID string) error
}

// VolumeBackend is the optional interface of a backend that holds block
// volumes.
type VolumeBackend interface {
	Volumes() VolumeDriver
}

// volumeUnwrapper is a backend wrapper (the metered one) that exposes what it
// wraps.
type volumeUnwrapper interface{ Unwrap() Backend }

// VolumesOf returns b's VolumeDriver and whether it has one: the backend must
// declare Capabilities().Volumes and implement VolumeBackend. A wrapper that
// does not itself implement VolumeBackend is looked through via Unwrap().
func VolumesOf(b Backend) (VolumeDriver, bool) {
	if b == nil || !b.Capabilities().Volumes {
		return nil, false
	}
	for be := b; be != nil; {
		if vb, ok := be.(VolumeBackend); ok {
			if d := vb.Volumes(); d != nil {
				return d, true
			}
			return nil, false
		}
		u, ok := be.(volumeUnwrapper)
		if !ok {
			break
		}
		be = u.Unwrap()
	}
	return nil, false
}
