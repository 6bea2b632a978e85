package blockstorage

import (
	"context"
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// metaStore reads and changes the metadata of one resource kind, so that
// volumes and snapshots share Cinder's six metadata routes.
type metaStore struct {
	read  func(ctx context.Context, p *wire.Principal, id string) (map[string]string, error)
	write func(ctx context.Context, p *wire.Principal, id string, fn func(map[string]string) (map[string]string, error)) (map[string]string, error)
}

func (s *Service) volumeMeta() metaStore {
	return metaStore{
		read: func(ctx context.Context, p *wire.Principal, id string) (map[string]string, error) {
			v, err := s.getVolume(ctx, p, id)
			if err != nil {
				return nil, err
			}
			return v.Metadata, nil
		},
		write: func(ctx context.Context, p *wire.Principal, id string, fn func(map[string]string) (map[string]string, error)) (map[string]string, error) {
			cur, err := s.getVolume(ctx, p, id)
			if err != nil {
				return nil, err
			}
			v, err := s.volumes.Update(ctx, cur.ProjectID, cur.ID, func(v *Volume) error {
				md, err := fn(clone(v.Metadata))
				v.Metadata, v.Updated = md, s.opts.Now().UTC()
				return err
			})
			if err != nil {
				return nil, err
			}
			return v.Metadata, nil
		},
	}
}

func (s *Service) snapshotMeta() metaStore {
	return metaStore{
		read: func(ctx context.Context, p *wire.Principal, id string) (map[string]string, error) {
			sn, err := s.getSnapshot(ctx, p, id)
			if err != nil {
				return nil, err
			}
			return sn.Metadata, nil
		},
		write: func(ctx context.Context, p *wire.Principal, id string, fn func(map[string]string) (map[string]string, error)) (map[string]string, error) {
			cur, err := s.getSnapshot(ctx, p, id)
			if err != nil {
				return nil, err
			}
			sn, err := s.snapshots.Update(ctx, cur.ProjectID, cur.ID, func(sn *Snapshot) error {
				md, err := fn(clone(sn.Metadata))
				sn.Metadata, sn.Updated = md, s.opts.Now().UTC()
				return err
			})
			if err != nil {
				return nil, err
			}
			return sn.Metadata, nil
		},
	}
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (m metaStore) show(w http.ResponseWriter, r *http.Request) error {
	md, err := m.read(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	if md == nil {
		md = map[string]string{}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"metadata": md})
	return nil
}

// set merges (POST) or replaces (PUT) the metadata.
func (m metaStore) set(w http.ResponseWriter, r *http.Request, replace bool) error {
	p, err := writer(r)
	if err != nil {
		return err
	}
	var req struct {
		Metadata map[string]string `json:"metadata"`
	}
	if err := wire.DecodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Metadata == nil {
		return wire.BadRequest("Malformed request body: 'metadata' is required.")
	}
	if err := checkMetadata(req.Metadata); err != nil {
		return err
	}
	md, err := m.write(r.Context(), p, r.PathValue("id"), func(cur map[string]string) (map[string]string, error) {
		if replace {
			cur = map[string]string{}
		}
		for k, v := range req.Metadata {
			cur[k] = v
		}
		return cur, nil
	})
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"metadata": md})
	return nil
}

func (m metaStore) showItem(w http.ResponseWriter, r *http.Request) error {
	md, err := m.read(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	v, ok := md[key]
	if !ok {
		return wire.NotFound("Metadata item was not found")
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: v}})
	return nil
}

func (m metaStore) putItem(w http.ResponseWriter, r *http.Request) error {
	p, err := writer(r)
	if err != nil {
		return err
	}
	var req struct {
		Meta map[string]string `json:"meta"`
	}
	if err := wire.DecodeJSON(r, &req, false); err != nil {
		return err
	}
	key := r.PathValue("key")
	if len(req.Meta) > 1 {
		return wire.BadRequest("Request body contains too many items")
	}
	val, ok := req.Meta[key]
	if !ok {
		return wire.BadRequest("Request body and URI mismatch")
	}
	if err := checkMetadata(req.Meta); err != nil {
		return err
	}
	if _, err := m.write(r.Context(), p, r.PathValue("id"), func(cur map[string]string) (map[string]string, error) {
		cur[key] = val
		return cur, nil
	}); err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: val}})
	return nil
}

func (m metaStore) deleteItem(w http.ResponseWriter, r *http.Request) error {
	p, err := writer(r)
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	if _, err := m.write(r.Context(), p, r.PathValue("id"), func(cur map[string]string) (map[string]string, error) {
		if _, ok := cur[key]; !ok {
			return cur, wire.NotFound("Metadata item was not found")
		}
		delete(cur, key)
		return cur, nil
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) showVolumeMetadata(w http.ResponseWriter, r *http.Request) error {
	return s.volumeMeta().show(w, r)
}
func (s *Service) mergeVolumeMetadata(w http.ResponseWriter, r *http.Request) error {
	return s.volumeMeta().set(w, r, false)
}
func (s *Service) replaceVolumeMetadata(w http.ResponseWriter, r *http.Request) error {
	return s.volumeMeta().set(w, r, true)
}
func (s *Service) showVolumeMetaItem(w http.ResponseWriter, r *http.Request) error {
	return s.volumeMeta().showItem(w, r)
}
func (s *Service) putVolumeMetaItem(w http.ResponseWriter, r *http.Request) error {
	return s.volumeMeta().putItem(w, r)
}
func (s *Service) deleteVolumeMetaItem(w http.ResponseWriter, r *http.Request) error {
	return s.volumeMeta().deleteItem(w, r)
}
func (s *Service) showSnapshotMetadata(w http.ResponseWriter, r *http.Request) error {
	return s.snapshotMeta().show(w, r)
}
func (s *Service) mergeSnapshotMetadata(w http.ResponseWriter, r *http.Request) error {
	return s.snapshotMeta().set(w, r, false)
}
func (s *Service) replaceSnapshotMetadata(w http.ResponseWriter, r *http.Request) error {
	return s.snapshotMeta().set(w, r, true)
}
func (s *Service) showSnapshotMetaItem(w http.ResponseWriter, r *http.Request) error {
	return s.snapshotMeta().showItem(w, r)
}
func (s *Service) putSnapshotMetaItem(w http.ResponseWriter, r *http.Request) error {
	return s.snapshotMeta().putItem(w, r)
}
func (s *Service) deleteSnapshotMetaItem(w http.ResponseWriter, r *http.Request) error {
	return s.snapshotMeta().deleteItem(w, r)
}
