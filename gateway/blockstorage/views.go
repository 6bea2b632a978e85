package blockstorage

import (
	"net/http"
	"strconv"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// urls builds Cinder's self and bookmark links below the request's base.
func links(r *http.Request, project, collection, id string) []any {
	base := wire.BaseURL(r) + "/volume"
	return []any{
		map[string]any{"href": base + "/v3/" + project + "/" + collection + "/" + id, "rel": "self"},
		map[string]any{"href": base + "/" + project + "/" + collection + "/" + id, "rel": "bookmark"},
	}
}

// volumeView renders a volume. full adds the attributes Cinder shows on
// show and detail but not in the create and update answers (tempest's
// create_volume schema forbids them): the tenant attribute, the image
// metadata and, for admins, the host and migration attributes.
func volumeView(r *http.Request, v *Volume, full bool) map[string]any {
	atts := make([]any, 0, len(v.Attachments))
	for _, a := range v.Attachments {
		var dev any
		if a.Device != "" {
			dev = a.Device
		}
		atts = append(atts, map[string]any{"id": v.ID, "attachment_id": a.ID, "volume_id": v.ID, "server_id": a.ServerID,
			"host_name": nil, "device": dev, "attached_at": stamp(a.AttachedAt)})
	}
	md := v.Metadata
	if md == nil || v.ReadOnly != nil {
		md = clone(v.Metadata)
	}
	if v.ReadOnly != nil {
		md["readonly"] = pyBool(*v.ReadOnly)
	}
	out := map[string]any{
		"id": v.ID, "name": v.Name, "description": v.Description, "status": v.Status, "size": v.Size,
		"availability_zone": v.AvailabilityZone, "volume_type": v.VolumeType, "user_id": v.UserID,
		"snapshot_id": nullable(v.SnapshotID), "source_volid": nullable(v.SourceVolID),
		"bootable": strconv.FormatBool(v.Bootable), "encrypted": false, "multiattach": false,
		"replication_status": nil, "consistencygroup_id": nil, "migration_status": nil,
		"metadata": md, "attachments": atts, "links": links(r, v.ProjectID, "volumes", v.ID),
		"created_at": stamp(v.Created), "updated_at": stamp(v.Updated),
	}
	if full {
		out["os-vol-tenant-attr:tenant_id"] = v.ProjectID
		if v.ImageMetadata != nil {
			out["volume_image_metadata"] = v.ImageMetadata
		}
		if wire.PrincipalFrom(r.Context()).IsAdmin() {
			out["os-vol-host-attr:host"] = "canopy@" + v.Routing.Cloud + "#" + v.AvailabilityZone
			out["os-vol-mig-status-attr:migstat"] = nil
			out["os-vol-mig-status-attr:name_id"] = nil
		}
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// snapshotView renders a snapshot; detail adds the extended attributes.
func snapshotView(sn *Snapshot, detail bool) map[string]any {
	md := sn.Metadata
	if md == nil {
		md = map[string]string{}
	}
	out := map[string]any{
		"id": sn.ID, "name": sn.Name, "description": sn.Description, "status": sn.Status, "size": sn.Size,
		"volume_id": sn.VolumeID, "metadata": md, "created_at": stamp(sn.Created), "updated_at": stamp(sn.Updated),
	}
	if detail {
		progress := "0%"
		if sn.Status == StatusAvailable {
			progress = "100%"
		}
		out["os-extended-snapshot-attributes:progress"] = progress
		out["os-extended-snapshot-attributes:project_id"] = sn.ProjectID
	}
	return out
}

// pyBool is a boolean as Cinder's Python renders it in metadata.
func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
