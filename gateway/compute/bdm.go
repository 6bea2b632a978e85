package compute

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"

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

// parseBootVolume reads block_device_mapping_v2 as Nova validates it and
// returns the mapping for the broker (nil when it only restates imageRef as
// the root disk). Every source and destination Nova knows is read: existing
// volumes, and image, snapshot and blank sources made into volumes, with
// boot_index ordering, delete_on_termination, device names, tags (2.42) and
// volume types (2.67). Local disks other than the image itself (ephemeral,
// swap) are checked against the flavor by the broker and answer 501.
// imageID is imageRef ("" when not given). With imageRef and a volume
// root (boot index 0), the server boots from the volume, as Nova does when
// openstackclient sends --image with a --block-device root; the caller then
// drops imageRef.
func parseBootVolume(items []json.RawMessage, legacy []json.RawMessage, imageID string, v wire.Version) (*broker.BootVolume, error) {
	if len(legacy) > 0 {
		return nil, wire.NotImplemented("Legacy block_device_mapping is not supported by this cloud; use block_device_mapping_v2.")
	}
	out := &broker.BootVolume{}
	imageRoot := false // the image of imageRef restated as boot index 0
	var bootIndexes []int
	for _, raw := range items {
		d, skip, err := parseBlockDevice(raw, imageID, v)
		if err != nil {
			return nil, err
		}
		if skip {
			continue
		}
		if d.BootIndex >= 0 {
			bootIndexes = append(bootIndexes, d.BootIndex)
		}
		if d.Source == broker.SourceImage && d.Destination == broker.DestinationLocal {
			imageRoot = true
			continue
		}
		out.Devices = append(out.Devices, d)
	}
	_, volumeRoot := out.Root()
	if imageRoot && volumeRoot {
		return nil, bootSequenceInvalid()
	}
	if imageID != "" && !imageRoot && !volumeRoot {
		bootIndexes = append(bootIndexes, 0) // imageRef is the root disk
	}
	slices.Sort(bootIndexes)
	if len(bootIndexes) == 0 {
		return nil, bootSequenceInvalid()
	}
	for i, b := range bootIndexes {
		if b != i {
			return nil, bootSequenceInvalid()
		}
	}
	if root, ok := out.Root(); ok && root.Source == broker.SourceBlank {
		return nil, bootSequenceInvalid()
	}
	if len(out.Devices) == 0 {
		return nil, nil
	}
	return out, nil
}

func bootSequenceInvalid() error {
	return wire.BadRequest("Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.")
}

func bdmInvalid(details string) error {
	return wire.BadRequest("Block Device Mapping is Invalid: %s", details)
}

// parseBlockDevice reads one block_device_mapping_v2 item; skip is true for
// a no_device entry (a device suppressed, which Canopy has none of).
func parseBlockDevice(raw json.RawMessage, imageID string, v wire.Version) (broker.BlockDevice, bool, error) {
	var d broker.BlockDevice
	var it bdmItem
	if err := wire.DecodeBytes(raw, &it, true); err != nil {
		return d, false, err
	}
	if it.SourceType != nil {
		d.Source = *it.SourceType
		if err := enumField("source_type", d.Source, "['volume', 'image', 'snapshot', 'blank']",
			d.Source == "volume" || d.Source == "image" || d.Source == "snapshot" || d.Source == "blank"); err != nil {
			return d, false, err
		}
	}
	if it.DestinationType != nil {
		d.Destination = *it.DestinationType
		if err := enumField("destination_type", d.Destination, "['local', 'volume']", d.Destination == "local" || d.Destination == "volume"); err != nil {
			return d, false, err
		}
	}
	if it.UUID != nil {
		u := *it.UUID
		switch {
		case u == "":
			return d, false, invalidField("uuid", u, "'' is too short")
		case len(u) > 255:
			return d, false, invalidField("uuid", u, "'"+u+"' is too long")
		case !bdmUUIDPattern.MatchString(u):
			return d, false, invalidField("uuid", u, "'"+u+"' does not match '"+bdmUUIDPattern.String()+"'")
		}
		d.UUID = u
	}
	for _, f := range []struct {
		name string
		val  *string
	}{{"device_name", it.DeviceName}, {"guest_format", it.GuestFormat}, {"device_type", it.DeviceType}, {"disk_bus", it.DiskBus}} {
		if f.val != nil && len(*f.val) > 255 {
			return d, false, invalidField(f.name, *f.val, "'"+*f.val+"' is too long")
		}
	}
	bootIndex, hasIndex, err := patternInt("boot_index", it.BootIndex, bdmIndexPattern, true)
	if err != nil {
		return d, false, err
	}
	d.BootIndex = -1
	if hasIndex && bootIndex >= 0 {
		d.BootIndex = bootIndex
	}
	size, _, err := patternInt("volume_size", it.VolumeSize, bdmSizePattern, false)
	if err != nil {
		return d, false, err
	}
	if len(it.VolumeSize) > 0 && size < 1 {
		return d, false, invalidField("volume_size", compact(it.VolumeSize), compact(it.VolumeSize)+" is less than the minimum of 1")
	}
	d.SizeGB = size
	if len(it.DeleteOnTermination) > 0 && string(it.DeleteOnTermination) != "null" {
		if d.DeleteOnTermination, err = boolish("delete_on_termination", it.DeleteOnTermination); err != nil {
			return d, false, err
		}
	}
	if it.Tag != nil && !v.AtLeast(2, 42) {
		return d, false, wire.BadRequest("Invalid input for field/attribute block_device_mapping_v2. Additional properties are not allowed ('tag' was unexpected)")
	}
	if it.VolumeType != nil && !v.AtLeast(2, 67) {
		return d, false, wire.BadRequest("Invalid input for field/attribute block_device_mapping_v2. Additional properties are not allowed ('volume_type' was unexpected)")
	}
	if it.Tag != nil {
		if len(*it.Tag) > 60 || strings.ContainsAny(*it.Tag, "/,") {
			return d, false, invalidField("tag", *it.Tag, "'"+*it.Tag+"' does not match '^[^,/]*$'")
		}
		d.Tag = *it.Tag
	}
	if len(it.NoDevice) > 0 && string(it.NoDevice) != "null" && string(it.NoDevice) != "false" {
		return d, true, nil
	}
	if d.Source == "" {
		return d, false, bdmInvalid("Invalid source_type field.")
	}
	if d.Source == broker.SourceBlank && d.UUID != "" {
		return d, false, bdmInvalid("Invalid device UUID.")
	}
	if d.Source != broker.SourceBlank && d.UUID == "" {
		return d, false, bdmInvalid("Missing device UUID.")
	}
	if d.Destination == "" {
		// Nova's defaults: volumes and snapshots go to volumes, images
		// and blanks to local disks.
		d.Destination = broker.DestinationVolume
		if d.Source == broker.SourceImage || d.Source == broker.SourceBlank {
			d.Destination = broker.DestinationLocal
		}
	}
	if it.DeviceName != nil {
		d.DeviceName = *it.DeviceName
		if d.DeviceName == "" {
			return d, false, bdmInvalid("Device name empty or too long.")
		}
		if strings.Contains(d.DeviceName, " ") {
			return d, false, bdmInvalid("Device name contains spaces.")
		}
	}
	if it.GuestFormat != nil {
		d.GuestFormat = *it.GuestFormat
	}
	if it.VolumeType != nil {
		d.VolumeType = *it.VolumeType
	}
	switch {
	case d.Source == broker.SourceImage && d.Destination == broker.DestinationLocal:
		if imageID == "" || d.BootIndex != 0 {
			return d, false, bdmInvalid("Mapping image to local is not supported.")
		}
		if d.UUID != imageID {
			return d, false, bootSequenceInvalid()
		}
	case d.Destination == broker.DestinationLocal && d.Source != broker.SourceBlank:
		return d, false, bdmInvalid("Mapping " + d.Source + " to local is not supported.")
	}
	if d.Destination == broker.DestinationLocal && d.VolumeType != "" {
		return d, false, bdmInvalid("Specifying a volume_type with destination_type=local is not supported.")
	}
	if d.Source == broker.SourceVolume && d.VolumeType != "" {
		return d, false, bdmInvalid("Specifying volume type to existing volume is not supported.")
	}
	if d.Destination == broker.DestinationVolume {
		if d.Source == broker.SourceImage && d.SizeGB == 0 {
			return d, false, wire.BadRequest("Images with destination_type 'volume' need to have a non-zero size specified")
		}
		if d.Source == broker.SourceBlank && d.SizeGB == 0 {
			return d, false, wire.BadRequest("Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size")
		}
		if d.GuestFormat != "" {
			return d, false, wire.NotImplemented("guest_format on volumes is not supported by this cloud.")
		}
		if (it.DeviceType != nil && *it.DeviceType != "disk") || (it.DiskBus != nil && *it.DiskBus != "virtio") {
			return d, false, wire.NotImplemented("Only device_type disk on disk_bus virtio is supported by this cloud.")
		}
		if d.Source != broker.SourceBlank && !isUUID(d.UUID) {
			return d, false, bdmInvalid("failed to get " + d.Source + " " + d.UUID + ".")
		}
	}
	return d, false, nil
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
