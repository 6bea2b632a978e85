package image

import (
	"slices"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// propHidden is where os_hidden lives among the record's properties; it is
// shown as a boolean base attribute, never as a string property.
const propHidden = "os_hidden"

// Glance's enumerations.
var (
	visibilities     = []string{"public", "private", "shared", "community"}
	diskFormats      = []string{"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"}
	containerFormats = []string{"ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"}
)

// readOnly attributes are computed by Glance; reserved ones may never be set.
var (
	readOnly = []string{"id", "status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
		"created_at", "updated_at", "self", "file", "schema", "direct_url", "stores"}
	reserved = []string{"location", "locations", "deleted", "deleted_at", "owner_id"}
)

// reservedPrefix marks Glance's internal properties (import locks and
// progress); users may neither set nor remove them.
const reservedPrefix = "os_glance_"

// isReserved reports whether key is reserved to the service.
func isReserved(key string) bool {
	return slices.Contains(reserved, key) || strings.HasPrefix(key, reservedPrefix)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// render is the image body exactly as Glance shows it: base attributes plus
// additional properties flattened at the top level.
func render(img *registry.Image) map[string]any {
	out := make(map[string]any, 24+len(img.Properties))
	for k, v := range img.Properties {
		if k != propHidden && k != propStagePending {
			out[k] = v
		}
	}
	for _, loc := range img.Locations {
		if loc.Cloud == "" && loc.URL == storeLocation(img.ID) {
			out["stores"] = gatewayStoreID
		}
	}
	tags := img.Tags
	if tags == nil {
		tags = []string{}
	}
	out["id"] = img.ID
	out["name"] = nullable(img.Name)
	out["status"] = img.Status
	out["visibility"] = img.Visibility
	out["protected"] = img.Protected
	out["os_hidden"] = img.Properties[propHidden] == "true"
	out["checksum"] = nullable(img.Checksum)
	out["os_hash_algo"] = nullable(img.HashAlgo)
	out["os_hash_value"] = nullable(img.HashValue)
	out["size"] = img.Size
	out["virtual_size"] = img.VirtualSize
	out["min_disk"] = img.MinDisk
	out["min_ram"] = img.MinRAM
	out["disk_format"] = nullable(img.DiskFormat)
	out["container_format"] = nullable(img.ContainerFormat)
	out["owner"] = nullable(img.Owner)
	out["tags"] = tags
	out["self"] = selfLink(img.ID)
	out["file"] = fileLink(img.ID)
	out["schema"] = imageSchemaLink
	out["created_at"] = stamp(img.Created)
	out["updated_at"] = stamp(img.Updated)
	return out
}

// canSee is Glance's visibility rule for show: admin, owner, public,
// community, or a member of a shared image whatever its member status
// (memberStatus is the caller's status, "" when it is no member).
func canSee(p *wire.Principal, img *registry.Image, memberStatus string) bool {
	switch {
	case p.IsAdmin(), isOwner(p, img):
		return true
	case img.Visibility == "public", img.Visibility == "community":
		return true
	case img.Visibility == "shared":
		return memberStatus != ""
	}
	return false
}

func isOwner(p *wire.Principal, img *registry.Image) bool {
	return p != nil && img.Owner != "" && img.Owner == p.ProjectID
}

// canModify is Glance's modify_image rule: the owner or an admin.
func canModify(p *wire.Principal, img *registry.Image) bool {
	return p.IsAdmin() || (isOwner(p, img) && p.CanWrite())
}
