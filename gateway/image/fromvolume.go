package image

import (
	"context"
	"fmt"
	"io"

	"github.com/canopy-cloud/canopy/imagestore"
	"github.com/canopy-cloud/canopy/registry"
)

// CreateImageFromVolume makes a private image of projectID from a volume's
// contents (Cinder's os-volume_upload_image). The simulated pool keeps no
// volume bytes, so the contents are those the volume was created from: the
// bytes of sourceImageID when the volume came from an image, else size
// zero bytes (a blank volume), streamed and hashed, never held in memory.
func (s *Service) CreateImageFromVolume(ctx context.Context, projectID, name, diskFormat, containerFormat, sourceImageID string, size int64) (*registry.Image, error) {
	if diskFormat == "" {
		diskFormat = "raw"
	}
	if containerFormat == "" {
		containerFormat = "bare"
	}
	now := s.now()
	img := &registry.Image{ID: s.opts.NewID(), Name: name, Owner: projectID, Status: "queued", Visibility: "private",
		DiskFormat: diskFormat, ContainerFormat: containerFormat, Tags: []string{}, Properties: map[string]string{},
		Created: now, Updated: now}
	if err := s.images.Create(ctx, projectID, img.ID, now, img); err != nil {
		return nil, err
	}
	err := s.storeData(ctx, projectID, img.ID, func(ctx context.Context) (imagestore.Info, error) {
		if sourceImageID != "" {
			rc, _, err := s.store.Open(ctx, sourceImageID)
			if err == nil {
				defer rc.Close()
				return s.store.Put(ctx, img.ID, rc, s.opts.MaxImageSize)
			}
		}
		return s.store.Put(ctx, img.ID, io.LimitReader(zeros{}, size), s.opts.MaxImageSize)
	})
	if err != nil {
		_, _ = s.images.Update(ctx, projectID, img.ID, func(cur *registry.Image) error {
			cur.Status, cur.Updated = "killed", s.now()
			return nil
		})
		return nil, fmt.Errorf("upload volume to image %s: %w", img.ID, err)
	}
	return s.images.Get(ctx, projectID, img.ID)
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
