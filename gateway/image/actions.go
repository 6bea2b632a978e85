package image

import (
	"errors"
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// deactivateImage is POST /v2/images/{id}/actions/deactivate: an active
// image stops serving its data to non-admins (Glance's deactivate policy is
// admin or the owning project's member). Deactivating a deactivated image is
// a no-op, so a retry succeeds.
func (s *Service) deactivateImage(w http.ResponseWriter, r *http.Request) error {
	return s.changeActivation(w, r, "deactivate", "active", "deactivated")
}

// reactivateImage is POST /v2/images/{id}/actions/reactivate, the inverse.
func (s *Service) reactivateImage(w http.ResponseWriter, r *http.Request) error {
	return s.changeActivation(w, r, "reactivate", "deactivated", "active")
}

func (s *Service) changeActivation(w http.ResponseWriter, r *http.Request, action, from, to string) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	img, project, err := s.image(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !canModify(p, img) {
		return wire.Forbidden("You are not authorized to complete %s action.", action)
	}
	_, err = s.images.Update(ctx, project, img.ID, func(cur *registry.Image) error {
		switch cur.Status {
		case to:
			return errNoChange
		case from:
			cur.Status, cur.Updated = to, s.now()
			return nil
		}
		return wire.Forbidden("Not allowed to %s image in status '%s'", action, cur.Status)
	})
	if errors.Is(err, registry.ErrNotFound) {
		return imageNotFound(img.ID)
	}
	if err != nil && !errors.Is(err, errNoChange) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// errNoChange aborts an update that has nothing to write.
var errNoChange = errors.New("image: nothing to change")
