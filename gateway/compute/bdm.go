package compute

import (
	"encoding/json"
	"regexp"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/wire"
)

// Nova's block_device_mapping_v2 item patterns.
var (
	bdmUUIDPattern  = regexp.MustCompile(`^[a-zA-Z0-9._-]*$`)
	bdmIndexPattern = regexp.MustCompile(`^-?[0-9]+$`)
	bdmSizePattern  = regexp.MustCompile(`^[0-9]+$`)
)

// bdmItem is one block_device_mapping_v2 entry as Nova's schema allows it
// (additionalProperties: false).
type bdmItem struct {
	SourceType          *string         `json:"source_type"`
	DestinationType     *string         `json:"destination_type"`
	UUID                *string         `json:"uuid"`
	BootIndex           json.RawMessage `json:"boot_index"`
	DeleteOnTermination json.RawMessage `json:"delete_on_termination"`
	VolumeSize          json.RawMessage `json:"volume_size"`
	DeviceName          *string         `json:"device_name"`
	GuestFormat         *string         `json:"guest_format"`
	DeviceType          *string         `json:"device_type"`
	DiskBus             *string         `json:"disk_bus"`
	NoDevice            json.RawMessage `json:"no_device"`
	ImageID             *string         `json:"image_id"`
	SnapshotID          *string         `json:"snapshot_id"`
	VolumeID            *string         `json:"volume_id"`
	ConnectionInfo      *string         `json:"connection_info"`
	Tag                 *string         `json:"tag"`
	VolumeType          *string         `json:"volume_type"`
}

// enumField checks a string against Nova's enum with its schema message.
func enumField(field, value string, allowed string, ok bool) error {
	if ok {
		return nil
	}
	return invalidField(field, value, "'"+value+"' is not one of "+allowed)
}

// parseBootVolume reads block_device_mapping_v2 as Nova validates it.
// Canopy boots from an existing volume (source_type and destination_type
// volume, boot_index 0); every other mapping (image, snapshot or blank
// sources, local disks, extra volumes) answers 501. hasImage is whether
// imageRef was given.
func parseBootVolume(items []json.RawMessage, legacy []json.RawMessage, hasImage bool, v wire.Version) (*broker.BootVolume, error) {
	if len(legacy) > 0 {
		return nil, wire.NotImplemented("Legacy block_device_mapping is not supported by this cloud; use block_device_mapping_v2.")
	}
	var boot *broker.BootVolume
	for _, raw := range items {
		var it bdmItem
		if err := wire.DecodeBytes(raw, &it, true); err != nil {
			return nil, err
		}
		src, dst := "", ""
		if it.SourceType != nil {
			src = *it.SourceType
			if err := enumField("source_type", src, "['volume', 'image', 'snapshot', 'blank']",
				src == "volume" || src == "image" || src == "snapshot" || src == "blank"); err != nil {
				return nil, err
			}
		}
		if it.DestinationType != nil {
			dst = *it.DestinationType
			if err := enumField("destination_type", dst, "['local', 'volume']", dst == "local" || dst == "volume"); err != nil {
				return nil, err
			}
		}
		if it.UUID != nil {
			u := *it.UUID
			switch {
			case u == "":
				return nil, invalidField("uuid", u, "'' is too short")
			case len(u) > 255:
				return nil, invalidField("uuid", u, "'"+u+"' is too long")
			case !bdmUUIDPattern.MatchString(u):
				return nil, invalidField("uuid", u, "'"+u+"' does not match '"+bdmUUIDPattern.String()+"'")
			}
		}
		bootIndex, hasIndex, err := patternInt("boot_index", it.BootIndex, bdmIndexPattern, true)
		if err != nil {
			return nil, err
		}
		if size, ok, err := patternInt("volume_size", it.VolumeSize, bdmSizePattern, false); err != nil {
			return nil, err
		} else if ok && size < 1 {
			return nil, invalidField("volume_size", compact(it.VolumeSize), compact(it.VolumeSize)+" is less than the minimum of 1")
		}
		dot := false
		if len(it.DeleteOnTermination) > 0 && string(it.DeleteOnTermination) != "null" {
			if dot, err = boolish("delete_on_termination", it.DeleteOnTermination); err != nil {
				return nil, err
			}
		}
		if it.Tag != nil && !v.AtLeast(2, 42) {
			return nil, wire.BadRequest("Invalid input for field/attribute block_device_mapping_v2. Additional properties are not allowed ('tag' was unexpected)")
		}
		if it.VolumeType != nil && !v.AtLeast(2, 67) {
			return nil, wire.BadRequest("Invalid input for field/attribute block_device_mapping_v2. Additional properties are not allowed ('volume_type' was unexpected)")
		}
		if src == "" {
			return nil, wire.BadRequest("Block Device Mapping is Invalid: Invalid source_type field.")
		}
		if src != "blank" && (it.UUID == nil || *it.UUID == "") {
			return nil, wire.BadRequest("Block Device Mapping is Invalid: Missing device UUID.")
		}
		if dst == "" && src == "volume" {
			dst = "volume"
		}
		if src != "volume" || dst != "volume" || !hasIndex || bootIndex != 0 || boot != nil {
			return nil, wire.NotImplemented("This cloud boots from an existing volume only (source_type and destination_type volume, boot_index 0); other block device mappings are not supported.")
		}
		if it.Tag != nil || it.VolumeType != nil {
			return nil, wire.NotImplemented("Device tags and volume types in block device mappings are not supported by this cloud.")
		}
		if dot {
			return nil, wire.NotImplemented("delete_on_termination is not supported by this cloud.")
		}
		if !isUUID(*it.UUID) {
			return nil, wire.BadRequest("Block Device Mapping is Invalid: failed to get volume %s.", *it.UUID)
		}
		boot = &broker.BootVolume{VolumeID: *it.UUID}
	}
	if boot == nil || hasImage {
		return nil, wire.BadRequest("Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.")
	}
	return boot, nil
}

// patternInt reads an integer-or-string field checked against pattern;
// null is "not given" when nullable.
func patternInt(field string, raw json.RawMessage, pattern *regexp.Regexp, nullable bool) (int, bool, error) {
	if len(raw) == 0 || (nullable && string(raw) == "null") {
		return 0, false, nil
	}
	var s string
	var n json.Number
	switch {
	case json.Unmarshal(raw, &n) == nil:
		s = n.String()
	case json.Unmarshal(raw, &s) == nil:
	default:
		kinds := "'integer', 'string'"
		if nullable {
			kinds = "'integer', 'string', 'null'"
		}
		return 0, false, invalidField(field, compact(raw), compact(raw)+" is not of type "+kinds)
	}
	if !pattern.MatchString(s) {
		return 0, false, invalidField(field, s, "'"+s+"' does not match '"+pattern.String()+"'")
	}
	var i int
	if err := json.Unmarshal([]byte(s), &i); err != nil {
		return 0, false, invalidField(field, s, "'"+s+"' does not match '"+pattern.String()+"'")
	}
	return i, true, nil
}
