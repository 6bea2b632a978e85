package blockstorage

import (
	"time"

	"github.com/canopy-cloud/canopy/registry"
)

// Kinds of block-storage records in the registry.
const (
	KindVolume     registry.Kind = "volume"
	KindSnapshot   registry.Kind = "vsnapshot"
	KindVolumeType registry.Kind = "volumetype"
)

// Cinder's volume statuses that Canopy uses.
const (
	StatusCreating  = "creating"
	StatusAvailable = "available"
	StatusReserved  = "reserved"
	StatusAttaching = "attaching"
	StatusInUse     = "in-use"
	StatusDetaching = "detaching"
	StatusExtending = "extending"
	StatusDeleting  = "deleting"
	StatusError     = "error"
)

// Attachment is one server a volume is attached to.
type Attachment struct {
	ID         string    `json:"id"`
	ServerID   string    `json:"server_id"`
	Device     string    `json:"device,omitempty"`
	AttachedAt time.Time `json:"attached_at,omitzero"`
}

// Volume is a Cinder volume's record. Quota for it (one volume, Size GB) is
// held from create until the record is deleted.
type Volume struct {
	ID               string            `json:"id"`
	ProjectID        string            `json:"project_id"`
	UserID           string            `json:"user_id"`
	Name             string            `json:"name"`
	Description      *string           `json:"description"`
	Status           string            `json:"status"`
	Size             int               `json:"size"`
	AvailabilityZone string            `json:"availability_zone"`
	VolumeType       string            `json:"volume_type"`
	SnapshotID       string            `json:"snapshot_id,omitempty"`
	SourceVolID      string            `json:"source_volid,omitempty"`
	ImageID          string            `json:"image_id,omitempty"`
	ImageMetadata    map[string]string `json:"volume_image_metadata,omitempty"`
	Bootable         bool              `json:"bootable"`
	// ReadOnly is Cinder's admin metadata "readonly", shown in metadata
	// once set (os-update_readonly_flag).
	ReadOnly    *bool             `json:"readonly,omitempty"`
	Metadata    map[string]string `json:"metadata"`
	Attachments []Attachment      `json:"attachments,omitempty"`
	// ReservedFor is the server a reserve (attach in progress) is for.
	ReservedFor string           `json:"reserved_for,omitempty"`
	Routing     registry.Routing `json:"routing"`
	Created     time.Time        `json:"created_at"`
	Updated     time.Time        `json:"updated_at,omitzero"`
}

// Snapshot is a Cinder volume snapshot's record.
type Snapshot struct {
	ID          string            `json:"id"`
	ProjectID   string            `json:"project_id"`
	UserID      string            `json:"user_id"`
	VolumeID    string            `json:"volume_id"`
	Name        string            `json:"name"`
	Description *string           `json:"description"`
	Status      string            `json:"status"`
	Size        int               `json:"size"`
	Metadata    map[string]string `json:"metadata"`
	Cloud       string            `json:"cloud"`
	Created     time.Time         `json:"created_at"`
	Updated     time.Time         `json:"updated_at,omitzero"`
}

// VolumeType is a Cinder volume type (global, made by admins).
type VolumeType struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description *string           `json:"description"`
	IsPublic    bool              `json:"is_public"`
	ExtraSpecs  map[string]string `json:"extra_specs"`
}
