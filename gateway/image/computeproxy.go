package image

import (
	"context"
	"errors"
	"net/url"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// VisibleImages lists the images p sees in Glance's default list (its own,
// public, and shares it accepted), newest first. Nova's deprecated image
// proxy (/compute/v2.1/images, microversions up to 2.35) is served from it.
func (s *Service) VisibleImages(ctx context.Context, p *wire.Principal) ([]*registry.Image, error) {
	all, err := s.images.List(ctx, "*", registry.Page{Desc: true})
	if err != nil {
		return nil, err
	}
	var shared []string
	for _, img := range all {
		if img.Visibility == "shared" && !p.IsAdmin() && !isOwner(p, img) {
			shared = append(shared, img.ID)
		}
	}
	statuses, err := s.memberStatusesOf(ctx, shared, p.ProjectID)
	if err != nil {
		return nil, err
	}
	out := make([]*registry.Image, 0, len(all))
	for _, img := range all {
		if matches(p, img, statuses[img.ID], url.Values{}, "", "accepted") {
			out = append(out, img)
		}
	}
	return out, nil
}

// DeleteImageAs deletes image id on behalf of p with Glance's rules (owner or
// admin; protected images refused). Glance's DELETE and Nova's image proxy
// both use it.
func (s *Service) DeleteImageAs(ctx context.Context, p *wire.Principal, id string) error {
	img, project, err := s.image(ctx, p, id)
	if err != nil {
		return err
	}
	if !canModify(p, img) {
		return wire.Forbidden("You are not authorized to complete delete_image action.")
	}
	if img.Protected {
		return wire.Forbidden("Image %s is protected and cannot be deleted.", img.ID)
	}
	// Members go first: an image id can be chosen at create, so a member
	// list outliving its image would share a new image of the same id.
	if err := s.members.Delete(ctx, project, img.ID); err != nil && !isNotFound(err) {
		return err
	}
	if err := s.images.Delete(ctx, project, img.ID); isNotFound(err) {
		return imageNotFound(img.ID)
	} else if err != nil {
		return err
	}
	for _, key := range []string{img.ID, stagingKey(img.ID)} {
		if err := s.store.Delete(ctx, key); err != nil {
			wire.Logger(ctx).Warn("image data left behind after delete", "image", img.ID, "error", err)
		}
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, registry.ErrNotFound) }
