package image

import (
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

const uuidPattern = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"

// customProperties are the properties Glance's default schema-image.json
// declares; they are validated on write (see checkCustomProperty) and are
// not base attributes ("is_base": false).
func customProperties() map[string]any {
	custom := func(m map[string]any) map[string]any { m["is_base"] = false; return m }
	see := "as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html"
	return map[string]any{
		"kernel_id": custom(map[string]any{"type": []any{"null", "string"}, "pattern": uuidPattern,
			"description": "ID of image stored in Glance that should be used as the kernel when booting an AMI-style image."}),
		"ramdisk_id": custom(map[string]any{"type": []any{"null", "string"}, "pattern": uuidPattern,
			"description": "ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image."}),
		"instance_uuid": custom(map[string]any{"type": "string",
			"description": "Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)"}),
		"architecture": custom(map[string]any{"type": "string", "description": "Operating system architecture " + see}),
		"os_distro":    custom(map[string]any{"type": "string", "description": "Common name of operating system distribution " + see}),
		"os_version":   custom(map[string]any{"type": "string", "description": "Operating system version as specified by the distributor."}),
		"description":  custom(map[string]any{"type": "string", "description": "A human-readable string describing this image."}),
		"cinder_encryption_key_id": custom(map[string]any{"type": "string",
			"description": "Identifier in the OpenStack Key Management Service for the encryption key for the Block Storage Service to use when mounting a volume created from this image"}),
		"cinder_encryption_key_deletion_policy": custom(map[string]any{"type": "string", "enum": keyDeletionPolicies,
			"description": "States the condition under which the Image Service will delete the object associated with the 'cinder_encryption_key_id' image property.  If this property is missing, the Image Service will take no action"}),
	}
}

var keyDeletionPolicies = []string{"on_image_deletion", "do_not_delete"}

// imageSchema is Glance's image schema (glance/api/v2/images.py
// get_base_properties plus the default schema-image.json), which
// openstackclient and glanceclient read before they create or change an
// image. Additional properties are strings.
func imageSchema() map[string]any {
	ro := func(m map[string]any) map[string]any { m["readOnly"] = true; return m }
	nullStr := []any{"null", "string"}
	props := map[string]any{
		"id":            map[string]any{"type": "string", "pattern": uuidPattern, "description": "An identifier for the image"},
		"name":          map[string]any{"type": nullStr, "maxLength": 255, "description": "Descriptive name for the image"},
		"status":        ro(map[string]any{"type": "string", "enum": []string{"queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"}, "description": "Status of the image"}),
		"visibility":    map[string]any{"type": "string", "enum": []string{"community", "public", "private", "shared"}, "description": "Scope of image accessibility"},
		"protected":     map[string]any{"type": "boolean", "description": "If true, image will not be deletable."},
		"os_hidden":     map[string]any{"type": "boolean", "description": "If true, image will not appear in default image list response."},
		"checksum":      ro(map[string]any{"type": nullStr, "maxLength": 32, "description": "md5 hash of image contents."}),
		"os_hash_algo":  ro(map[string]any{"type": nullStr, "maxLength": 64, "description": "Algorithm to calculate the os_hash_value"}),
		"os_hash_value": ro(map[string]any{"type": nullStr, "maxLength": 128, "description": "Hexdigest of the image contents using the algorithm specified by the os_hash_algo"}),
		"owner":         map[string]any{"type": nullStr, "maxLength": 255, "description": "Owner of the image"},
		"size":          ro(map[string]any{"type": []any{"null", "integer"}, "description": "Size of image file in bytes"}),
		"virtual_size":  ro(map[string]any{"type": []any{"null", "integer"}, "description": "Virtual size of image in bytes"}),
		"container_format": map[string]any{"type": nullStr, "enum": append([]any{nil}, anySlice(containerFormats)...),
			"description": "Format of the container"},
		"disk_format": map[string]any{"type": nullStr, "enum": append([]any{nil}, anySlice(diskFormats)...),
			"description": "Format of the disk"},
		"created_at": ro(map[string]any{"type": "string", "description": "Date and time of image registration"}),
		"updated_at": ro(map[string]any{"type": "string", "description": "Date and time of the last image modification"}),
		"tags": map[string]any{"type": "array", "items": map[string]any{"type": "string", "maxLength": 255},
			"description": "List of strings related to the image"},
		"direct_url": ro(map[string]any{"type": "string", "description": "URL to access the image file kept in external store"}),
		"min_ram":    map[string]any{"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
		"min_disk":   map[string]any{"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
		"self":       ro(map[string]any{"type": "string", "description": "An image self url"}),
		"file":       ro(map[string]any{"type": "string", "description": "An image file url"}),
		"stores": ro(map[string]any{"type": "string",
			"description": "Store in which image data resides.  Only present when the operator has enabled multiple stores.  May be a comma-separated list of store identifiers."}),
		"schema": ro(map[string]any{"type": "string", "description": "An image schema url"}),
		"locations": map[string]any{"type": "array", "description": "A set of URLs to access the image file kept in external store",
			"items": map[string]any{"type": "object", "required": []string{"url", "metadata"}, "properties": map[string]any{
				"url":      map[string]any{"type": "string", "maxLength": 255},
				"metadata": map[string]any{"type": "object"},
				"validation_data": map[string]any{
					"description":          "Values to be used to populate the corresponding image properties. If the image status is not 'queued', values must exactly match those already contained in the image properties.",
					"type":                 "object",
					"writeOnly":            true,
					"additionalProperties": false,
					"required":             []string{"os_hash_algo", "os_hash_value"},
					"properties": map[string]any{
						"checksum":      map[string]any{"type": "string", "minLength": 32, "maxLength": 32},
						"os_hash_algo":  map[string]any{"type": "string", "maxLength": 64},
						"os_hash_value": map[string]any{"type": "string", "maxLength": 128},
					},
				},
			}}},
	}
	for k, v := range customProperties() {
		props[k] = v
	}
	return map[string]any{
		"name":                 "image",
		"properties":           props,
		"additionalProperties": map[string]any{"type": "string"},
		"links": []any{
			map[string]string{"rel": "self", "href": "{self}"},
			map[string]string{"rel": "enclosure", "href": "{file}"},
			map[string]string{"rel": "describedby", "href": "{schema}"},
		},
	}
}

// memberSchema is Glance's image member schema (no additional properties).
func memberSchema() map[string]any {
	return map[string]any{
		"name": "member",
		"properties": map[string]any{
			"member_id":  map[string]any{"type": "string", "description": "An identifier for the image member (tenantId)"},
			"image_id":   map[string]any{"type": "string", "pattern": uuidPattern, "description": "An identifier for the image"},
			"created_at": map[string]any{"type": "string", "description": "Date and time of image member creation"},
			"updated_at": map[string]any{"type": "string", "description": "Date and time of last modification of image member"},
			"status":     map[string]any{"type": "string", "enum": memberStatuses, "description": "The status of this image member"},
			"schema":     map[string]any{"type": "string", "readOnly": true},
		},
		"additionalProperties": false,
	}
}

// collectionSchema is Glance's CollectionSchema around an item schema.
func collectionSchema(name string, item map[string]any) map[string]any {
	return map[string]any{
		"name": name,
		"properties": map[string]any{
			name:     map[string]any{"type": "array", "items": item},
			"first":  map[string]any{"type": "string"},
			"next":   map[string]any{"type": "string"},
			"schema": map[string]any{"type": "string"},
		},
		"links": []any{
			map[string]string{"rel": "first", "href": "{first}"},
			map[string]string{"rel": "next", "href": "{next}"},
			map[string]string{"rel": "describedby", "href": "{schema}"},
		},
	}
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (s *Service) showImageSchema(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, imageSchema())
	return nil
}

func (s *Service) showImagesSchema(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, collectionSchema("images", imageSchema()))
	return nil
}

func (s *Service) showMemberSchema(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, memberSchema())
	return nil
}

func (s *Service) showMembersSchema(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, collectionSchema("members", memberSchema()))
	return nil
}
