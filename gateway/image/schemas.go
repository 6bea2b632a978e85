package image

import (
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// imageSchema is the JSON schema of an image, as openstackclient reads it
// before `image create`: the base attributes Canopy implements, additional
// properties as strings.
func imageSchema() map[string]any {
	str := func(desc string) map[string]any {
		return map[string]any{"type": []any{"null", "string"}, "description": desc}
	}
	ro := func(m map[string]any) map[string]any { m["readOnly"] = true; return m }
	return map[string]any{
		"name": "image",
		"properties": map[string]any{
			"id":               map[string]any{"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$", "description": "An identifier for the image"},
			"name":             map[string]any{"type": []any{"null", "string"}, "maxLength": 255, "description": "Descriptive name for the image"},
			"status":           ro(map[string]any{"type": "string", "enum": []string{"queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"}, "description": "Status of the image"}),
			"visibility":       map[string]any{"type": "string", "enum": visibilities, "description": "Scope of image accessibility"},
			"protected":        map[string]any{"type": "boolean", "description": "If true, image will not be deletable."},
			"os_hidden":        map[string]any{"type": "boolean", "description": "If true, image will not appear in default image list response."},
			"checksum":         ro(str("md5 hash of image contents.")),
			"os_hash_algo":     ro(str("Algorithm to calculate the os_hash_value")),
			"os_hash_value":    ro(str("Hexdigest of the image contents using the algorithm specified by the os_hash_algo")),
			"owner":            str("Owner of the image"),
			"size":             ro(map[string]any{"type": []any{"null", "integer"}, "description": "Size of image file in bytes"}),
			"virtual_size":     ro(map[string]any{"type": []any{"null", "integer"}, "description": "Virtual size of image in bytes"}),
			"container_format": map[string]any{"type": []any{"null", "string"}, "enum": append([]any{nil}, anySlice(containerFormats)...), "description": "Format of the container"},
			"disk_format":      map[string]any{"type": []any{"null", "string"}, "enum": append([]any{nil}, anySlice(diskFormats)...), "description": "Format of the disk"},
			"created_at":       ro(map[string]any{"type": "string", "description": "Date and time of image registration"}),
			"updated_at":       ro(map[string]any{"type": "string", "description": "Date and time of the last image modification"}),
			"tags":             map[string]any{"type": "array", "items": map[string]any{"type": "string", "maxLength": 255}, "description": "List of strings related to the image"},
			"min_ram":          map[string]any{"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
			"min_disk":         map[string]any{"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
			"self":             ro(map[string]any{"type": "string", "description": "An image self url"}),
			"file":             ro(map[string]any{"type": "string", "description": "An image file url"}),
			"schema":           ro(map[string]any{"type": "string", "description": "An image schema url"}),
		},
		"additionalProperties": map[string]any{"type": "string"},
		"links": []any{
			map[string]string{"rel": "self", "href": "{self}"},
			map[string]string{"rel": "enclosure", "href": "{file}"},
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
	wire.WriteJSON(w, http.StatusOK, map[string]any{
		"name": "images",
		"properties": map[string]any{
			"images": map[string]any{"type": "array", "items": imageSchema()},
			"schema": map[string]any{"type": "string"},
			"first":  map[string]any{"type": "string"},
			"next":   map[string]any{"type": "string"},
		},
		"links": []any{
			map[string]string{"rel": "first", "href": "{first}"},
			map[string]string{"rel": "next", "href": "{next}"},
			map[string]string{"rel": "describedby", "href": "{schema}"},
		},
	})
	return nil
}
