package image

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// image reads an image the caller may see; anything else (unknown id, a
// name, another project's private image) is 404, as Glance answers.
func (s *Service) image(ctx context.Context, p *wire.Principal, id string) (*registry.Image, string, error) {
	if !uuidRE.MatchString(id) {
		return nil, "", imageNotFound(id)
	}
	v, err := s.images.Lookup(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, "", imageNotFound(id)
	}
	if err != nil {
		return nil, "", err
	}
	status := ""
	if v.Value.Visibility == "shared" && !p.IsAdmin() && !isOwner(p, v.Value) && p != nil && p.ProjectID != "" {
		if status, err = s.memberStatus(ctx, v.Project, id, p.ProjectID); err != nil {
			return nil, "", err
		}
	}
	if !canSee(p, v.Value, status) {
		return nil, "", imageNotFound(id)
	}
	return v.Value, v.Project, nil
}

func imageNotFound(id string) *wire.Error { return wire.NotFound("No image found with ID %s", id) }

func (s *Service) showImage(w http.ResponseWriter, r *http.Request) error {
	img, _, err := s.image(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, render(img))
	return nil
}

func (s *Service) createImage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	if !p.CanWrite() {
		return wire.Forbidden("You are not authorized to complete add_image action.")
	}
	var body map[string]json.RawMessage
	if err := wire.DecodeJSON(r, &body, false); err != nil {
		return err
	}
	if body == nil {
		return wire.BadRequest("Body expected in request.")
	}
	now := s.now()
	img := &registry.Image{ID: s.opts.NewID(), Owner: p.ProjectID, Status: "queued", Visibility: "shared",
		Tags: []string{}, Properties: map[string]string{}, Created: now, Updated: now}
	if raw, ok := body["id"]; ok {
		var id string
		if json.Unmarshal(raw, &id) != nil || !uuidRE.MatchString(id) {
			return wire.BadRequest("Provided object does not match schema 'image': %s is not a valid UUID", string(raw))
		}
		img.ID = id
		delete(body, "id")
	}
	if raw, ok := body["owner"]; ok {
		var owner string
		if json.Unmarshal(raw, &owner) != nil {
			return wire.BadRequest("Provided object does not match schema 'image': owner must be a string")
		}
		if owner != p.ProjectID && !p.IsAdmin() {
			return wire.Forbidden("You are not permitted to create images owned by '%s'.", owner)
		}
		img.Owner = owner
		delete(body, "owner")
	}
	for k, v := range body {
		if err := setAttr(p, img, k, v, true); err != nil {
			return err
		}
	}
	if err := checkQuotas(img); err != nil {
		return err
	}
	project := img.Owner
	if err := s.images.Create(ctx, project, img.ID, now, img); errors.Is(err, registry.ErrExists) {
		return wire.Conflict("Image with identifier %s already exists!", img.ID)
	} else if err != nil {
		return err
	}
	w.Header().Set("Location", wire.BaseURL(r)+prefix+selfLink(img.ID))
	wire.WriteJSON(w, http.StatusCreated, render(img))
	return nil
}

// setAttr validates and sets one attribute of a create or a patch.
func setAttr(p *wire.Principal, img *registry.Image, key string, raw json.RawMessage, creating bool) error {
	if slices.Contains(readOnly, key) {
		return wire.Forbidden("Attribute '%s' is read-only.", key)
	}
	if isReserved(key) {
		return wire.Forbidden("Attribute '%s' is reserved.", key)
	}
	if len(key) > 255 || key == "" {
		return wire.BadRequest("Provided object does not match schema 'image': property name %q is not valid", key)
	}
	schemaErr := func(format string, args ...any) error {
		return wire.BadRequest("Provided object does not match schema 'image': "+format, args...)
	}
	str := func(allowNull bool) (string, bool, error) {
		if string(raw) == "null" {
			if allowNull {
				return "", true, nil
			}
			return "", false, schemaErr("None is not of type 'string' (%s)", key)
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return "", false, schemaErr("%s is not of type 'string' (%s)", string(raw), key)
		}
		if len([]rune(v)) > 255 {
			return "", false, schemaErr("'%s' is too long (%s)", v, key)
		}
		return v, false, nil
	}
	boolean := func() (bool, error) {
		var v bool
		if json.Unmarshal(raw, &v) != nil {
			return false, schemaErr("%s is not of type 'boolean' (%s)", string(raw), key)
		}
		return v, nil
	}
	integer := func() (int, error) {
		var v int
		if json.Unmarshal(raw, &v) != nil || v < 0 {
			return 0, schemaErr("%s is not a non-negative integer (%s)", string(raw), key)
		}
		return v, nil
	}
	enum := func(allowed []string) (string, error) {
		v, null, err := str(true)
		if err != nil || null {
			return "", err
		}
		if !slices.Contains(allowed, v) {
			return "", schemaErr("'%s' is not one of %q (%s)", v, allowed, key)
		}
		return v, nil
	}
	var err error
	switch key {
	case "name":
		img.Name, _, err = str(true)
	case "visibility":
		var v string
		if v, err = enum(visibilities); err == nil {
			if v == "" {
				return schemaErr("None is not one of %q (visibility)", visibilities)
			}
			if v == "public" && v != img.Visibility && !p.IsAdmin() {
				return wire.Forbidden("You are not authorized to complete publicize_image action.")
			}
			img.Visibility = v
		}
	case "protected":
		img.Protected, err = boolean()
	case "os_hidden":
		var v bool
		if v, err = boolean(); err == nil {
			if v {
				img.Properties[propHidden] = "true"
			} else {
				delete(img.Properties, propHidden)
			}
		}
	case "disk_format", "container_format":
		if img.Status != "queued" && !creating {
			return wire.Forbidden("Attribute %s can be only replaced for a queued image.", key)
		}
		allowed := diskFormats
		if key == "container_format" {
			allowed = containerFormats
		}
		var v string
		if v, err = enum(allowed); err == nil {
			if key == "disk_format" {
				img.DiskFormat = v
			} else {
				img.ContainerFormat = v
			}
		}
	case "min_disk":
		img.MinDisk, err = integer()
	case "min_ram":
		img.MinRAM, err = integer()
	case "tags":
		var tags []string
		if json.Unmarshal(raw, &tags) != nil {
			return schemaErr("%s is not of type 'array' of strings (tags)", string(raw))
		}
		out := []string{}
		for _, t := range tags {
			if len([]rune(t)) > 255 {
				return schemaErr("'%s' is too long (tags)", t)
			}
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
		img.Tags = out
	case "owner":
		var v string
		if v, _, err = str(false); err == nil {
			if v != img.Owner && !p.IsAdmin() {
				return wire.Forbidden("Attribute 'owner' may only be changed by an administrator.")
			}
			img.Owner = v
		}
	case "kernel_id", "ramdisk_id":
		var v string
		var null bool
		if v, null, err = str(true); err == nil {
			if null {
				delete(img.Properties, key)
			} else if !uuidRE.MatchString(v) {
				return schemaErr("'%s' does not match '%s' (%s)", v, uuidPattern, key)
			} else {
				img.Properties[key] = v
			}
		}
	case "cinder_encryption_key_deletion_policy":
		var v string
		if v, err = enum(keyDeletionPolicies); err == nil {
			if v == "" {
				return schemaErr("None is not of type 'string' (%s)", key)
			}
			img.Properties[key] = v
		}
	default:
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return schemaErr("%s is not of type 'string' (%s)", string(raw), key)
		}
		if len(v) > 65535 {
			return schemaErr("value of %s is too long", key)
		}
		img.Properties[key] = v
	}
	return err
}

func (s *Service) deleteImage(w http.ResponseWriter, r *http.Request) error {
	if err := s.DeleteImageAs(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) addTag(w http.ResponseWriter, r *http.Request) error {
	return s.changeTag(w, r, true)
}

func (s *Service) deleteTag(w http.ResponseWriter, r *http.Request) error {
	return s.changeTag(w, r, false)
}

func (s *Service) changeTag(w http.ResponseWriter, r *http.Request, add bool) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	img, project, err := s.image(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !canModify(p, img) {
		return wire.Forbidden("You are not authorized to complete modify_image action.")
	}
	tag := r.PathValue("tag")
	if len([]rune(tag)) > 255 {
		return wire.BadRequest("Image tag too long: at most 255 characters.")
	}
	if !add && !slices.Contains(img.Tags, tag) {
		return wire.NotFound("Tag %s not found", tag)
	}
	_, err = s.images.Update(ctx, project, img.ID, func(cur *registry.Image) error {
		has := slices.Contains(cur.Tags, tag)
		switch {
		case add && !has:
			cur.Tags = append(cur.Tags, tag)
			if err := checkQuotas(cur); err != nil {
				return err
			}
		case !add && has:
			cur.Tags = slices.DeleteFunc(cur.Tags, func(t string) bool { return t == tag })
		default:
			return nil
		}
		cur.Updated = s.now()
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Glance's default image_property_quota and image_tag_quota.
const (
	imagePropertyQuota = 128
	imageTagQuota      = 128
)

// checkQuotas is Glance's property and tag quota: 413 past 128 of either.
// os_hidden and the service's os_glance_* bookkeeping do not count.
func checkQuotas(img *registry.Image) error {
	n := 0
	for k := range img.Properties {
		if k != propHidden && !strings.HasPrefix(k, reservedPrefix) {
			n++
		}
	}
	if n > imagePropertyQuota {
		return wire.Errorf(http.StatusRequestEntityTooLarge,
			"The limit has been exceeded on the number of allowed image properties. Attempted: %d, Maximum: %d", n, imagePropertyQuota)
	}
	if len(img.Tags) > imageTagQuota {
		return wire.Errorf(http.StatusRequestEntityTooLarge,
			"The limit has been exceeded on the number of allowed image tags. Attempted: %d, Maximum: %d", len(img.Tags), imageTagQuota)
	}
	return nil
}
