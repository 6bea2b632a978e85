package compute

import (
	"maps"
	"net/http"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// writable loads a server for a change of its metadata or tags: locked
// servers refuse non-admins, as Nova's check_instance_lock does.
func (s *Service) checkLock(r *http.Request, srv *registry.Server) error {
	if srv.Locked && !isAdmin(r) {
		return wire.Conflict("Instance %s is locked", srv.ID)
	}
	return nil
}

func (s *Service) listMetadata(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	srv, err := s.b.GetServer(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	md := srv.Metadata
	if md == nil {
		md = map[string]string{}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"metadata": md})
	return nil
}

// changeMetadata applies fn to the server's metadata under the lock and
// quota rules, and returns the result.
func (s *Service) changeMetadata(r *http.Request, fn func(map[string]string) error) (map[string]string, error) {
	if err := requireWriter(r); err != nil {
		return nil, err
	}
	c := caller(r)
	srv, err := s.b.GetServer(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := s.checkLock(r, srv); err != nil {
		return nil, err
	}
	limit := s.b.Quota().MetadataItems
	out, err := s.b.UpdateServer(r.Context(), c, srv.ID, func(cur *registry.Server) error {
		md := maps.Clone(cur.Metadata)
		if md == nil {
			md = map[string]string{}
		}
		if err := fn(md); err != nil {
			return err
		}
		if limit >= 0 && len(md) > limit {
			return wire.Forbidden("Quota exceeded for metadata_items: Requested %d, but already used 0 of %d metadata_items", len(md), limit)
		}
		cur.Metadata = md
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out.Metadata, nil
}

// setMetadata answers POST (merge) and PUT (replace) /servers/{id}/metadata.
func (s *Service) setMetadata(replace bool) handler {
	return func(w http.ResponseWriter, r *http.Request, v wire.Version) error {
		var body struct {
			Metadata *map[string]string `json:"metadata"`
		}
		if err := wire.DecodeJSON(r, &body, true); err != nil {
			return err
		}
		if body.Metadata == nil {
			return wire.BadRequest("Invalid input for field/attribute metadata. 'metadata' is a required property")
		}
		if err := checkMetadata("metadata", *body.Metadata); err != nil {
			return err
		}
		md, err := s.changeMetadata(r, func(cur map[string]string) error {
			if replace {
				clear(cur)
			}
			maps.Copy(cur, *body.Metadata)
			return nil
		})
		if err != nil {
			return err
		}
		wire.WriteJSON(w, http.StatusOK, map[string]any{"metadata": md})
		return nil
	}
}

func (s *Service) showMetadataItem(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	srv, err := s.b.GetServer(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	val, ok := srv.Metadata[key]
	if !ok {
		return wire.NotFound("Metadata item was not found")
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: val}})
	return nil
}

func (s *Service) putMetadataItem(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	var body struct {
		Meta *map[string]string `json:"meta"`
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	if body.Meta == nil {
		return wire.BadRequest("Invalid input for field/attribute meta. 'meta' is a required property")
	}
	key := r.PathValue("key")
	if len(*body.Meta) != 1 {
		return wire.BadRequest("Request body contains too many items")
	}
	if _, ok := (*body.Meta)[key]; !ok {
		return wire.BadRequest("Request body and URI mismatch")
	}
	if err := checkMetadata("meta", *body.Meta); err != nil {
		return err
	}
	if _, err := s.changeMetadata(r, func(cur map[string]string) error {
		cur[key] = (*body.Meta)[key]
		return nil
	}); err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"meta": *body.Meta})
	return nil
}

func (s *Service) deleteMetadataItem(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	key := r.PathValue("key")
	if _, err := s.changeMetadata(r, func(cur map[string]string) error {
		if _, ok := cur[key]; !ok {
			return wire.NotFound("Metadata item was not found")
		}
		delete(cur, key)
		return nil
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Server tags (2.26).

func needTags(v wire.Version) error {
	if !v.AtLeast(2, 26) {
		return wire.NotFound("The resource could not be found.")
	}
	return nil
}

func tagsOf(srv *registry.Server) []string {
	if srv.Tags == nil {
		return []string{}
	}
	return srv.Tags
}

func (s *Service) listTags(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := needTags(v); err != nil {
		return err
	}
	srv, err := s.b.GetServer(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"tags": tagsOf(srv)})
	return nil
}

// changeTags applies fn to the server's tags (at most 50).
func (s *Service) changeTags(r *http.Request, v wire.Version, fn func([]string) ([]string, error)) (*registry.Server, error) {
	if err := needTags(v); err != nil {
		return nil, err
	}
	if err := requireWriter(r); err != nil {
		return nil, err
	}
	return s.b.UpdateServer(r.Context(), caller(r), r.PathValue("id"), func(cur *registry.Server) error {
		if cur.VMState == "building" {
			return wire.Conflict("Cannot 'update tags' instance %s while it is in vm_state building", cur.ID)
		}
		tags, err := fn(slices.Clone(cur.Tags))
		if err != nil {
			return err
		}
		if len(tags) > 50 {
			return wire.BadRequest("The number of tags exceeded the per-server limit 50")
		}
		cur.Tags = tags
		return nil
	})
}

func (s *Service) replaceTags(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	var body struct {
		Tags *[]string `json:"tags"`
	}
	if err := needTags(v); err != nil {
		return err
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	if body.Tags == nil {
		return wire.BadRequest("Invalid input for field/attribute tags. 'tags' is a required property")
	}
	for _, t := range *body.Tags {
		if err := checkTag(t); err != nil {
			return err
		}
	}
	srv, err := s.changeTags(r, v, func([]string) ([]string, error) {
		out := []string{}
		for _, t := range *body.Tags {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"tags": tagsOf(srv)})
	return nil
}

func (s *Service) deleteTags(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if _, err := s.changeTags(r, v, func([]string) ([]string, error) { return nil, nil }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) checkTag(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := needTags(v); err != nil {
		return err
	}
	srv, err := s.b.GetServer(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !slices.Contains(srv.Tags, r.PathValue("tag")) {
		return wire.NotFound("Tag %s could not be found.", r.PathValue("tag"))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) addTag(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	tag := r.PathValue("tag")
	if err := needTags(v); err != nil {
		return err
	}
	if err := checkTag(tag); err != nil {
		return err
	}
	existed := false
	srv, err := s.changeTags(r, v, func(tags []string) ([]string, error) {
		existed = slices.Contains(tags, tag)
		if existed {
			return tags, nil
		}
		return append(tags, tag), nil
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", wire.BaseURL(r)+"/compute/v2.1/servers/"+srv.ID+"/tags/"+tag)
	if existed {
		w.WriteHeader(http.StatusNoContent)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
	return nil
}

func (s *Service) deleteTag(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	tag := r.PathValue("tag")
	if _, err := s.changeTags(r, v, func(tags []string) ([]string, error) {
		i := slices.Index(tags, tag)
		if i < 0 {
			return nil, wire.NotFound("Tag %s could not be found.", tag)
		}
		return slices.Delete(tags, i, i+1), nil
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
