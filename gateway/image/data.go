package image

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strconv"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/imagestore"
	"github.com/canopy-cloud/canopy/registry"
)

// storeLocation is the location URL of the gateway's own copy of an image.
func storeLocation(id string) string { return "canopy-store://" + id }

// uploadImage is PUT /v2/images/{id}/file: queued → saving → active, with
// Glance's checksum (md5), os_hash_algo sha512 and os_hash_value.
func (s *Service) uploadImage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/octet-stream" {
		return wire.Errorf(http.StatusUnsupportedMediaType, "Unsupported Content-Type")
	}
	img, project, err := s.image(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !canModify(p, img) {
		return wire.Forbidden("You are not authorized to complete upload_image action.")
	}
	if img.DiskFormat == "" || img.ContainerFormat == "" {
		return wire.BadRequest("Properties disk_format, container_format must be set prior to saving data.")
	}
	if err := s.storeData(ctx, project, img.ID, func(ctx context.Context) (imagestore.Info, error) {
		return s.store.Put(ctx, img.ID, r.Body, s.opts.MaxImageSize)
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// storeData moves image id from queued to saving (a compare-and-set, so two
// uploads cannot both win), runs put, and records the result as active; on
// failure the image goes back to queued, as Glance does.
func (s *Service) storeData(ctx context.Context, project, id string, put func(context.Context) (imagestore.Info, error)) error {
	_, err := s.images.Update(ctx, project, id, func(cur *registry.Image) error {
		if cur.Status != "queued" {
			return wire.Conflict("Image status transition from %s to saving is not allowed", cur.Status)
		}
		cur.Status, cur.Updated = "saving", s.now()
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return imageNotFound(id)
	}
	if err != nil {
		return err
	}
	info, perr := put(ctx)
	_, err = s.images.Update(context.WithoutCancel(ctx), project, id, func(cur *registry.Image) error {
		cur.Updated = s.now()
		if perr != nil {
			cur.Status = "queued"
			return nil
		}
		size := info.Size
		cur.Status, cur.Size, cur.Checksum, cur.HashAlgo, cur.HashValue = "active", &size, info.MD5, "sha512", info.SHA512
		cur.Locations = append(cur.Locations[:0:0], registry.ImageLocation{URL: storeLocation(id)})
		return nil
	})
	switch {
	case perr != nil:
		return uploadFault(perr, s.opts.MaxImageSize)
	case errors.Is(err, registry.ErrNotFound):
		// Deleted while uploading: drop the orphaned bytes.
		_ = s.store.Delete(context.WithoutCancel(ctx), id)
		return imageNotFound(id)
	}
	return err
}

// uploadFault is Glance's answer to a failed store write.
func uploadFault(err error, limit int64) error {
	switch {
	case errors.Is(err, imagestore.ErrTooLarge):
		return wire.Errorf(http.StatusRequestEntityTooLarge, "Image exceeds the storage quota: the upload is larger than %d bytes.", limit)
	case errors.Is(err, imagestore.ErrMismatch):
		return wire.BadRequest("Image data does not match the expected size or checksum.")
	}
	return err
}

// downloadImage is GET /v2/images/{id}/file: 200 with Content-MD5 and the
// bytes (ranges honoured), or 204 when the image has no data yet.
func (s *Service) downloadImage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	img, _, err := s.image(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if img.Status == "deactivated" && !p.IsAdmin() {
		return wire.Forbidden("The requested image has been deactivated. Image data download is forbidden.")
	}
	if img.Status != "active" && img.Status != "deactivated" {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	rc, size, err := s.store.Open(ctx, img.ID)
	if errors.Is(err, imagestore.ErrNotFound) {
		return wire.NotFound("Image %s has no data in this store.", img.ID)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-MD5", img.Checksum)
	if r.Header.Get("Range") == "" {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	http.ServeContent(w, r, "", img.Updated, rc)
	return nil
}
