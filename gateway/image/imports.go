package image

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// importMethods are the interoperable import methods Canopy offers.
var importMethods = []string{"glance-direct", "web-download"}

// showImportInfo is GET /v2/info/import, which clients read before they
// choose between upload and import.
func (s *Service) showImportInfo(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, map[string]any{"import-methods": map[string]any{
		"description": "Import methods available.", "type": "array", "value": importMethods}})
	return nil
}

// showStoresInfo is GET /v2/info/stores: the gateway's own store. Cloud
// copies of an image are further locations of the record, not Glance stores.
func (s *Service) showStoresInfo(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, map[string]any{"stores": []any{map[string]any{
		"id": gatewayStoreID, "description": "The Canopy gateway's image store.", "default": true}}})
	return nil
}

// props returns img's property map, creating it when the record had none.
func props(img *registry.Image) map[string]string {
	if img.Properties == nil {
		img.Properties = map[string]string{}
	}
	return img.Properties
}

// stageImage is PUT /v2/images/{id}/stage: queued → uploading, the bytes
// kept aside until an import with glance-direct. A failed stage goes back
// to queued with nothing kept.
func (s *Service) stageImage(w http.ResponseWriter, r *http.Request) error {
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
	_, err = s.images.Update(ctx, project, img.ID, func(cur *registry.Image) error {
		if cur.Status != "queued" {
			return wire.Conflict("Image status transition from %s to uploading is not allowed", cur.Status)
		}
		cur.Status, cur.Updated = "uploading", s.now()
		props(cur)[propStagePending] = "true"
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return imageNotFound(img.ID)
	}
	if err != nil {
		return err
	}
	_, perr := s.store.Put(ctx, stagingKey(img.ID), r.Body, s.opts.MaxImageSize)
	bg := context.WithoutCancel(ctx)
	_, err = s.images.Update(bg, project, img.ID, func(cur *registry.Image) error {
		if cur.Status != "uploading" || cur.Properties[propStagePending] == "" {
			return errNoChange
		}
		delete(cur.Properties, propStagePending)
		cur.Updated = s.now()
		if perr != nil {
			cur.Status = "queued"
		}
		return nil
	})
	if perr != nil || err != nil {
		_ = s.store.Delete(bg, stagingKey(img.ID))
	}
	switch {
	case perr != nil:
		return uploadFault(perr, s.opts.MaxImageSize)
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, errNoChange):
		return imageNotFound(img.ID)
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// importRequest is the decoded body of POST /v2/images/{id}/import.
type importRequest struct {
	method, uri string
}

// decodeImport validates an import body as Glance does, before it looks at
// the image.
func decodeImport(r *http.Request) (importRequest, error) {
	var body map[string]json.RawMessage
	if err := wire.DecodeJSON(r, &body, false); err != nil {
		return importRequest{}, err
	}
	raw, ok := body["method"]
	if !ok {
		return importRequest{}, wire.BadRequest("Import request requires a 'method' field.")
	}
	var method map[string]json.RawMessage
	if json.Unmarshal(raw, &method) != nil || method == nil {
		return importRequest{}, wire.BadRequest("Import request requires a 'method' field.")
	}
	var req importRequest
	if n, ok := method["name"]; !ok || json.Unmarshal(n, &req.method) != nil {
		return importRequest{}, wire.BadRequest("Import request requires a 'name' field.")
	}
	if !slices.Contains(importMethods, req.method) {
		return importRequest{}, wire.BadRequest("Unknown import method name '%s'.", req.method)
	}
	for _, key := range []string{"all_stores_must_succeed", "all_stores"} {
		if v, ok := body[key]; ok {
			var b bool
			if json.Unmarshal(v, &b) != nil {
				return importRequest{}, wire.BadRequest("'%s' must be boolean value only", key)
			}
			if key == "all_stores" && b {
				if _, both := body["stores"]; both {
					return importRequest{}, wire.BadRequest("All_stores parameter can't be used with x-image-meta-store header or stores parameter")
				}
			}
		}
	}
	if v, ok := body["stores"]; ok {
		var stores []string
		if json.Unmarshal(v, &stores) != nil {
			return importRequest{}, wire.BadRequest("'stores' must be a list of store identifiers")
		}
		for _, st := range stores {
			if st != gatewayStoreID {
				return importRequest{}, wire.Conflict("Unknown scheme '%s' found in URI", st)
			}
		}
	}
	if u, ok := method["uri"]; ok {
		_ = json.Unmarshal(u, &req.uri)
	}
	return req, nil
}

// importImage is POST /v2/images/{id}/import: it checks the request, takes
// the image's import lock (os_glance_import_task) with status importing, and
// leaves the copy to the workers Run starts. 202 means accepted, not done.
func (s *Service) importImage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	req, err := decodeImport(r)
	if err != nil {
		return err
	}
	img, project, err := s.image(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := importPrecondition(img, req.method); err != nil {
		return err
	}
	if !canModify(p, img) {
		return wire.Forbidden("You are not authorized to complete modify_image action.")
	}
	if req.method == "web-download" {
		if err := s.fetch.checkURL(req.uri); err != nil {
			return wire.BadRequest("URI for web-download does not pass filtering: %s", req.uri)
		}
	}
	job := importJob{project: project, imageID: img.ID, taskID: newUUID(), method: req.method, uri: req.uri}
	var before string
	_, err = s.images.Update(ctx, project, img.ID, func(cur *registry.Image) error {
		if err := importPrecondition(cur, req.method); err != nil {
			return err
		}
		if cur.Properties[propImportTask] != "" {
			return wire.Conflict("New operation on image '%s' is not permitted as prior operation is still in progress", img.ID)
		}
		before = cur.Status
		pr := props(cur)
		pr[propImportTask], pr[propImportingTo] = job.taskID, gatewayStoreID
		delete(pr, propFailedImport)
		cur.Status, cur.Updated = "importing", s.now()
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return imageNotFound(img.ID)
	}
	if err != nil {
		return err
	}
	unlock := func() {
		_, _ = s.images.Update(context.WithoutCancel(ctx), project, img.ID, func(cur *registry.Image) error {
			if cur.Properties[propImportTask] != job.taskID {
				return errNoChange
			}
			delete(cur.Properties, propImportTask)
			delete(cur.Properties, propImportingTo)
			cur.Status = before
			return nil
		})
	}
	if err := s.recordImportTask(ctx, p, job); err != nil {
		unlock()
		return err
	}
	if !s.imports.submit(job) {
		unlock()
		s.finishTask(context.WithoutCancel(ctx), job, errImportQueueFull)
		return wire.Errorf(http.StatusServiceUnavailable, "Too many image imports are in progress; retry later.")
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// importPrecondition is Glance's check of the image's state for method.
func importPrecondition(img *registry.Image, method string) error {
	switch {
	case img.Status == "active":
		return wire.Conflict("Image with status active cannot be target for import")
	case method == "web-download" && img.Status != "queued":
		return wire.Conflict("Image needs to be in 'queued' state to use '%s' method", method)
	case method == "glance-direct" && (img.Status != "uploading" || img.Properties[propStagePending] != ""):
		return wire.Conflict("Image needs to be staged before 'glance-direct' method can be used")
	case img.ContainerFormat == "":
		return wire.Conflict("'container_format' needs to be set before import")
	case img.DiskFormat == "":
		return wire.Conflict("'disk_format' needs to be set before import")
	}
	return nil
}
