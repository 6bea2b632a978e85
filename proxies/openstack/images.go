package openstack

import (
	"context"
	"io"
	"strings"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

// imageDriver keeps bottom Glance copies of Canopy images. Each bottom image
// is named canopy-<top id> and carries the property canopy_id=<top id>.
type imageDriver struct{ b *Backend }

func bottomImageName(id string) string { return "canopy-" + id }

// findImage finds the bottom image made for top image id.
func (b *Backend) findImage(ctx context.Context, s *scope, id string) (images.Image, bool, error) {
	pages, err := images.List(s.image, images.ListOpts{Name: bottomImageName(id)}).AllPages(ctx)
	if err != nil {
		return images.Image{}, false, err
	}
	list, err := images.ExtractImages(pages)
	if err != nil {
		return images.Image{}, false, err
	}
	for _, img := range list {
		if prop(img, metaID) == id && img.Status != images.ImageStatusDeleted && img.Status != images.ImageStatusKilled {
			return img, true, nil
		}
	}
	return images.Image{}, false, nil
}

func prop(img images.Image, key string) string {
	v, _ := img.Properties[key].(string)
	if v == "" {
		v = img.Metadata[key]
	}
	return v
}

func (b *Backend) imageLocation(bottomID string) string {
	return strings.TrimRight(b.def.image.ResourceBaseURL(), "/") + "/images/" + bottomID
}

func (b *Backend) imageStatus(id string, img images.Image) proxies.ImageStatus {
	return proxies.ImageStatus{ID: id, BottomID: img.ID, Location: b.imageLocation(img.ID), Size: img.SizeBytes,
		Ready: img.Status == images.ImageStatusActive}
}

// bottomImage maps a top image for a server create: image_map, else the copy
// ImportImage (or a snapshot) made, else the bottom image of the same id (a
// bottom Canopy bootstraps the same image ids as the top).
func (b *Backend) bottomImage(ctx context.Context, s *scope, id string) (string, error) {
	if v, ok := b.cfg.ImageMap[id]; ok {
		return v, nil
	}
	b.mu.Lock()
	v, ok := b.images[id]
	b.mu.Unlock()
	if ok {
		return v, nil
	}
	if img, ok, err := b.findImage(ctx, s, id); err != nil {
		return "", err
	} else if ok {
		b.mu.Lock()
		b.images[id] = img.ID
		b.mu.Unlock()
		return img.ID, nil
	}
	if _, err := images.Get(ctx, s.image, id).Extract(); err == nil {
		return id, nil
	} else if !isNotFound(err) {
		return "", err
	}
	return "", proxies.Errorf(proxies.ErrInvalid, "CreateServer", "image %s has no copy in the bottom cloud; import it or map it in image_map", id)
}

// ImportImage creates the bottom image, uploads the bytes and checks the
// bottom's checksum (md5) and os_hash_value (sha512) against spec; on a
// mismatch the bottom image is deleted and the answer is ErrInvalid.
// Idempotent: an active copy with the same canopy_id is returned as is.
func (d imageDriver) ImportImage(ctx context.Context, spec proxies.ImageSpec, data proxies.ImageReader) (proxies.ImageStatus, error) {
	const op = "ImportImage"
	b := d.b
	ctx, cancel := context.WithTimeout(ctx, b.cfg.ImageTimeout)
	defer cancel()
	if spec.ID == "" {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "an image needs a top id")
	}
	unlock := b.lockID(spec.ID)
	defer unlock()
	s := b.def
	img, ok, err := b.findImage(ctx, s, spec.ID)
	if err != nil {
		return proxies.ImageStatus{}, wrap(op, err)
	}
	if ok && img.Status == images.ImageStatusActive {
		b.cacheImage(spec.ID, img.ID)
		return b.imageStatus(spec.ID, img), nil
	}
	if ok { // a half-made copy from an earlier attempt: start afresh
		if err := images.Delete(ctx, s.image, img.ID).ExtractErr(); err != nil && !isNotFound(err) {
			return proxies.ImageStatus{}, wrap(op, err)
		}
	}
	vis := images.ImageVisibilityPrivate
	if b.cfg.Admin {
		vis = images.ImageVisibilityPublic
	}
	img0, err := images.Create(ctx, s.image, images.CreateOpts{
		Name: bottomImageName(spec.ID), Visibility: &vis, DiskFormat: orDefault(spec.DiskFormat, "raw"),
		ContainerFormat: orDefault(spec.ContainerFormat, "bare"), Properties: map[string]string{metaID: spec.ID},
	}).Extract()
	if err != nil {
		return proxies.ImageStatus{}, wrap(op, err)
	}
	rc, err := data(ctx)
	if err != nil {
		d.discard(ctx, img0.ID)
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrUnavailable, op, "the image bytes could not be read")
	}
	err = imagedata.Upload(ctx, s.image, img0.ID, io.Reader(rc)).ExtractErr()
	rc.Close()
	if err != nil {
		d.discard(ctx, img0.ID)
		return proxies.ImageStatus{}, wrap(op, err)
	}
	got, err := images.Get(ctx, s.image, img0.ID).Extract()
	if err != nil {
		return proxies.ImageStatus{}, wrap(op, err)
	}
	if msg := verify(spec, got); msg != "" {
		d.discard(ctx, got.ID)
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the bottom copy of image %s %s; it was deleted", spec.ID, msg)
	}
	b.cacheImage(spec.ID, got.ID)
	return b.imageStatus(spec.ID, *got), nil
}

// verify compares what the bottom computed with what the spec promises.
func verify(spec proxies.ImageSpec, got *images.Image) string {
	if spec.Size > 0 && got.SizeBytes > 0 && got.SizeBytes != spec.Size {
		return "has the wrong size"
	}
	if spec.Checksum != "" && got.Checksum != "" && !strings.EqualFold(spec.Checksum, got.Checksum) {
		return "has the wrong checksum"
	}
	algo, _ := got.Properties["os_hash_algo"].(string)
	hash, _ := got.Properties["os_hash_value"].(string)
	if spec.SHA512 != "" && algo == "sha512" && hash != "" && !strings.EqualFold(spec.SHA512, hash) {
		return "has the wrong os_hash_value"
	}
	return ""
}

func (d imageDriver) discard(ctx context.Context, bottomID string) {
	if err := images.Delete(context.WithoutCancel(ctx), d.b.def.image, bottomID).ExtractErr(); err != nil && !isNotFound(err) {
		d.b.log.Warn("could not delete a failed bottom image", "bottom_id", bottomID, "err", wrap("ImportImage", err))
	}
}

func (b *Backend) cacheImage(id, bottomID string) {
	b.mu.Lock()
	b.images[id] = bottomID
	b.mu.Unlock()
}

// GetImage reports the bottom copy of top image id.
func (d imageDriver) GetImage(ctx context.Context, id string) (proxies.ImageStatus, error) {
	ctx, cancel := d.b.call(ctx)
	defer cancel()
	img, ok, err := d.b.findImage(ctx, d.b.def, id)
	if err != nil {
		return proxies.ImageStatus{}, wrap("GetImage", err)
	}
	if !ok {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrNotFound, "GetImage", "image %s has no copy in the bottom cloud", id)
	}
	return d.b.imageStatus(id, img), nil
}

// DeleteImage deletes the bottom copy; nil when there is none.
func (d imageDriver) DeleteImage(ctx context.Context, id string) error {
	ctx, cancel := d.b.call(ctx)
	defer cancel()
	img, ok, err := d.b.findImage(ctx, d.b.def, id)
	if err != nil {
		return wrap("DeleteImage", err)
	}
	d.b.mu.Lock()
	delete(d.b.images, id)
	d.b.mu.Unlock()
	if !ok {
		return nil
	}
	if err := images.Delete(ctx, d.b.def.image, img.ID).ExtractErr(); err != nil && !isNotFound(err) {
		return wrap("DeleteImage", err)
	}
	return nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
