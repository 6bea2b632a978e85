package blockstorage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// createVolumeBody is POST /volumes as cinderclient, the SDK and tempest send
// it (cinderclient sends every key, most of them null).
type createVolumeBody struct {
	Volume *struct {
		Size               json.RawMessage   `json:"size"`
		Name               *string           `json:"name"`
		DisplayName        *string           `json:"display_name"`
		Description        *string           `json:"description"`
		DisplayDescription *string           `json:"display_description"`
		VolumeType         *string           `json:"volume_type"`
		AvailabilityZone   *string           `json:"availability_zone"`
		Metadata           map[string]string `json:"metadata"`
		ImageRef           *string           `json:"imageRef"`
		ImageID            *string           `json:"image_id"`
		SnapshotID         *string           `json:"snapshot_id"`
		SourceVolID        *string           `json:"source_volid"`
		ConsistencyGroupID *string           `json:"consistencygroup_id"`
		GroupID            *string           `json:"group_id"`
		BackupID           *string           `json:"backup_id"`
		Multiattach        *bool             `json:"multiattach"`
	} `json:"volume"`
}

// volumeCommand is a validated create.
type volumeCommand struct {
	Size        int // 0: not given (taken from the source)
	Name        string
	Description *string
	VolumeType  string
	Zone        string
	Metadata    map[string]string
	ImageID     string
	SnapshotID  string
	SourceVolID string
	BackupID    string
	GroupID     string
}

// decodeCreate parses and validates a create body. Every refusal is a 400
// naming the field, before anything is written.
func decodeCreate(body []byte) (*volumeCommand, error) {
	var req createVolumeBody
	if err := wire.DecodeBytes(body, &req, false); err != nil {
		return nil, err
	}
	v := req.Volume
	if v == nil {
		return nil, wire.BadRequest("Missing required element 'volume' in request body.")
	}
	cmd := &volumeCommand{Metadata: v.Metadata}
	if cmd.Metadata == nil {
		cmd.Metadata = map[string]string{}
	}
	size, err := parseSize(v.Size)
	if err != nil {
		return nil, err
	}
	cmd.Size = size
	cmd.Name = firstOf(v.Name, v.DisplayName)
	if d := v.Description; d != nil {
		cmd.Description = d
	} else if d := v.DisplayDescription; d != nil {
		cmd.Description = d
	}
	if err := checkLen("name", cmd.Name, 255); err != nil {
		return nil, err
	}
	if cmd.Description != nil {
		if err := checkLen("description", *cmd.Description, 255); err != nil {
			return nil, err
		}
	}
	if err := checkMetadata(cmd.Metadata); err != nil {
		return nil, err
	}
	cmd.VolumeType = deref(v.VolumeType)
	cmd.Zone = deref(v.AvailabilityZone)
	cmd.ImageID = firstOf(v.ImageRef, v.ImageID)
	cmd.SnapshotID = deref(v.SnapshotID)
	cmd.SourceVolID = deref(v.SourceVolID)
	cmd.BackupID = deref(v.BackupID)
	cmd.GroupID = firstOf(v.ConsistencyGroupID, v.GroupID)
	sources := 0
	for _, src := range []string{cmd.ImageID, cmd.SnapshotID, cmd.SourceVolID, cmd.BackupID} {
		if src != "" {
			sources++
		}
	}
	if sources > 1 {
		return nil, wire.BadRequest("Invalid input received: only one of imageRef, snapshot_id, source_volid and backup_id may be given.")
	}
	if v.Multiattach != nil && *v.Multiattach {
		return nil, wire.BadRequest("Invalid input received: multiattach is not supported by any volume type of this cloud.")
	}
	if cmd.Size == 0 && (cmd.SnapshotID == "" && cmd.SourceVolID == "" && cmd.BackupID == "") {
		return nil, wire.BadRequest("Invalid input for field/attribute size. Value: None. None is not of type 'integer', 'string'")
	}
	return cmd, nil
}

// parseSize reads Cinder's size: an integer, or a string of digits, >= 1.
// Absent or null is 0 (the caller decides whether a source gives it).
func parseSize(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	shown := string(raw)
	var n int64
	var str string
	switch {
	case json.Unmarshal(raw, &n) == nil:
	case json.Unmarshal(raw, &str) == nil:
		shown = str
		if str == "" || !allDigits(str) {
			return 0, wire.BadRequest("Invalid input for field/attribute size. Value: %s. '%s' does not match '^[0-9]+$'", str, str)
		}
		var err error
		if n, err = strconv.ParseInt(str, 10, 64); err != nil {
			return 0, wire.BadRequest("Invalid input for field/attribute size. Value: %s. %s is greater than the maximum of 2147483647", str, str)
		}
	default:
		return 0, wire.BadRequest("Invalid input for field/attribute size. Value: %s. %s is not of type 'integer', 'string'", shown, shown)
	}
	if n < 1 {
		return 0, wire.BadRequest("Invalid input for field/attribute size. Value: %s. %d is less than the minimum of 1", shown, n)
	}
	if n > 2147483647 {
		return 0, wire.BadRequest("Invalid input for field/attribute size. Value: %s. %d is greater than the maximum of 2147483647", shown, n)
	}
	return int(n), nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func checkLen(field, v string, max int) error {
	if utf8.RuneCountInString(v) > max {
		return wire.BadRequest("Invalid input for field/attribute %s. Value: %s. '%s' is too long", field, v, v)
	}
	return nil
}

// checkMetadata applies Cinder's metadata rules: keys of 1-255 characters,
// values of at most 255.
func checkMetadata(md map[string]string) error {
	for k, v := range md {
		if k == "" {
			return wire.BadRequest("Invalid input for field/attribute metadata. Value: %s. Metadata property key blank.", fmt.Sprint(md))
		}
		if err := checkLen("metadata", k, 255); err != nil {
			return err
		}
		if err := checkLen("metadata", v, 255); err != nil {
			return err
		}
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func firstOf(a, b *string) string {
	if a != nil && *a != "" {
		return *a
	}
	return deref(b)
}
