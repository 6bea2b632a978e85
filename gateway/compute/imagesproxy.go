package compute

import (
	"context"
	"net/http"
	"strconv"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// ImageProxy is what Nova's deprecated image API needs of the image service
// (gateway/image implements it).
type ImageProxy interface {
	VisibleImage(ctx context.Context, projectID string, isAdmin bool, id string) (*registry.Image, error)
	VisibleImages(ctx context.Context, p *wire.Principal) ([]*registry.Image, error)
	DeleteImageAs(ctx context.Context, p *wire.Principal, id string) error
}

// imageProxyMax is the last microversion of Nova's image proxy: from 2.36 on
// these routes answer 404, as in Nova.
var imageProxyMax = wire.Version{Major: 2, Minor: 35}

// RegisterImageProxy mounts /compute/v2.1/images (list, detail, show,
// delete, metadata): Nova's image proxy, which tempest's compute image tests
// use at microversions up to 2.35. It answers from the image service, so a
// snapshot made with createImage is visible here and in Glance alike.
func (s *Service) RegisterImageProxy(rt *gateway.Router, images ImageProxy) {
	r := rt.For("compute", wire.Nova)
	const p = "/compute/v2.1/images"
	r.Handle("GET "+p, mv(s.imageProxy(images, listImages(false))))
	r.Handle("GET "+p+"/detail", mv(s.imageProxy(images, listImages(true))))
	r.Handle("GET "+p+"/{id}", mv(s.imageProxy(images, showImage)))
	r.Handle("GET "+p+"/{id}/metadata", mv(s.imageProxy(images, showImageMetadata)))
	r.Handle("DELETE "+p+"/{id}", mv(s.imageProxy(images, deleteImage)))
}

type imageHandler func(w http.ResponseWriter, r *http.Request, images ImageProxy) error

func (s *Service) imageProxy(images ImageProxy, h imageHandler) handler {
	return func(w http.ResponseWriter, r *http.Request, v wire.Version) error {
		if imageProxyMax.Less(v) {
			return wire.NotFound("The resource could not be found.")
		}
		return h(w, r, images)
	}
}

// novaImageStatus maps a Glance status to the proxy's.
func novaImageStatus(glance string) string {
	switch glance {
	case "active":
		return "ACTIVE"
	case "queued", "saving", "uploading", "importing":
		return "SAVING"
	case "deleted", "pending_delete":
		return "DELETED"
	case "killed":
		return "ERROR"
	}
	return "UNKNOWN"
}

func imageView(base string, img *registry.Image, detail bool) map[string]any {
	l := []map[string]string{
		{"rel": "self", "href": base + "/compute/v2.1/images/" + img.ID},
		{"rel": "bookmark", "href": base + "/compute/images/" + img.ID},
		{"rel": "alternate", "type": "application/vnd.openstack.image", "href": base + "/image/v2/images/" + img.ID},
	}
	out := map[string]any{"id": img.ID, "name": img.Name, "links": l}
	if !detail {
		return out
	}
	meta := map[string]string{}
	for k, v := range img.Properties {
		meta[k] = v
	}
	progress := 0
	switch img.Status {
	case "active":
		progress = 100
	case "saving":
		progress = 50
	case "queued":
		progress = 25
	}
	out["status"] = novaImageStatus(img.Status)
	out["created"] = img.Created.UTC().Format(novaTime)
	out["updated"] = img.Updated.UTC().Format(novaTime)
	out["minDisk"] = img.MinDisk
	out["minRam"] = img.MinRAM
	out["progress"] = progress
	out["metadata"] = meta
	if img.Size != nil {
		out["OS-EXT-IMG-SIZE:size"] = *img.Size
	} else {
		out["OS-EXT-IMG-SIZE:size"] = nil
	}
	if sid := img.Properties["instance_uuid"]; sid != "" {
		out["server"] = map[string]any{"id": sid, "links": selfLinks(base, "servers", sid)}
	}
	return out
}

func listImages(detail bool) imageHandler {
	return func(w http.ResponseWriter, r *http.Request, images ImageProxy) error {
		p := wire.PrincipalFrom(r.Context())
		all, err := images.VisibleImages(r.Context(), p)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		if m := q.Get("marker"); m != "" {
			i := -1
			for j, img := range all {
				if img.ID == m {
					i = j
				}
			}
			if i < 0 {
				return wire.BadRequest("marker [%s] not found", m)
			}
			all = all[i+1:]
		}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 0 {
				return wire.BadRequest("Invalid input for query parameters limit. Value: %s.", l)
			}
			if n < len(all) {
				all = all[:n]
			}
		}
		base := wire.BaseURL(r)
		out := make([]map[string]any, 0, len(all))
		for _, img := range all {
			if name := q.Get("name"); name != "" && img.Name != name {
				continue
			}
			if st := q.Get("status"); st != "" && novaImageStatus(img.Status) != st {
				continue
			}
			out = append(out, imageView(base, img, detail))
		}
		wire.WriteJSON(w, http.StatusOK, map[string]any{"images": out})
		return nil
	}
}

func visibleImage(r *http.Request, images ImageProxy) (*registry.Image, error) {
	p := wire.PrincipalFrom(r.Context())
	id := r.PathValue("id")
	img, err := images.VisibleImage(r.Context(), p.ProjectID, p.IsAdmin(), id)
	if err != nil {
		return nil, wire.NotFound("Image not found.")
	}
	return img, nil
}

func showImage(w http.ResponseWriter, r *http.Request, images ImageProxy) error {
	img, err := visibleImage(r, images)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"image": imageView(wire.BaseURL(r), img, true)})
	return nil
}

func showImageMetadata(w http.ResponseWriter, r *http.Request, images ImageProxy) error {
	img, err := visibleImage(r, images)
	if err != nil {
		return err
	}
	meta := map[string]string{}
	for k, v := range img.Properties {
		meta[k] = v
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"metadata": meta})
	return nil
}

func deleteImage(w http.ResponseWriter, r *http.Request, images ImageProxy) error {
	if _, err := visibleImage(r, images); err != nil {
		return err
	}
	if err := images.DeleteImageAs(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id")); err != nil {
		if we := wire.FromError(err); we.Status == http.StatusForbidden {
			return wire.Forbidden("%s", we.Message)
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
