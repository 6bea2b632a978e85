package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/imagestore"
	"github.com/canopy-cloud/canopy/registry"
)

// VisibleImage implements broker.Images.
func (s *Service) VisibleImage(ctx context.Context, projectID string, isAdmin bool, id string) (*registry.Image, error) {
	p := &wire.Principal{ProjectID: projectID, Roles: []string{"member"}}
	if isAdmin {
		p.Roles = append(p.Roles, "admin")
	}
	img, _, err := s.image(ctx, p, id)
	var we *wire.Error
	if errors.As(err, &we) && we.Status == 404 {
		return nil, fmt.Errorf("image %s: %w", id, registry.ErrNotFound)
	}
	return img, err
}

// CreateSnapshotImage implements broker.Images: a queued, private image of
// projectID that CompleteSnapshotImage later fills.
func (s *Service) CreateSnapshotImage(ctx context.Context, projectID, name string, properties map[string]string) (*registry.Image, error) {
	now := s.now()
	props := make(map[string]string, len(properties))
	for k, v := range properties {
		props[k] = v
	}
	img := &registry.Image{ID: s.opts.NewID(), Name: name, Owner: projectID, Status: "queued", Visibility: "private",
		Tags: []string{}, Properties: props, Created: now, Updated: now}
	if err := s.images.Create(ctx, projectID, img.ID, now, img); err != nil {
		return nil, err
	}
	return img, nil
}

// CompleteSnapshotImage implements broker.Images: the snapshot takes the
// bytes and formats of sourceImageID and becomes active, or killed when the
// snapshot failed.
func (s *Service) CompleteSnapshotImage(ctx context.Context, imageID, sourceImageID string, failed bool) error {
	v, err := s.images.Lookup(ctx, imageID)
	if err != nil {
		return err
	}
	kill := func() error {
		_, err := s.images.Update(ctx, v.Project, imageID, func(cur *registry.Image) error {
			cur.Status, cur.Updated = "killed", s.now()
			return nil
		})
		return err
	}
	if failed {
		return kill()
	}
	src, err := s.images.Lookup(ctx, sourceImageID)
	if err != nil {
		_ = kill()
		return fmt.Errorf("snapshot source %s: %w", sourceImageID, err)
	}
	if _, err := s.images.Update(ctx, v.Project, imageID, func(cur *registry.Image) error {
		cur.DiskFormat, cur.ContainerFormat = src.Value.DiskFormat, src.Value.ContainerFormat
		cur.MinDisk, cur.MinRAM = max(cur.MinDisk, src.Value.MinDisk), max(cur.MinRAM, src.Value.MinRAM)
		return nil
	}); err != nil {
		return err
	}
	err = s.storeData(ctx, v.Project, imageID, func(ctx context.Context) (imagestore.Info, error) {
		rc, _, err := s.store.Open(ctx, sourceImageID)
		if err != nil {
			return imagestore.Info{}, err
		}
		defer rc.Close()
		return s.store.Put(ctx, imageID, rc, s.opts.MaxImageSize)
	})
	if err != nil {
		_ = kill()
	}
	return err
}

// ImageSeed is an image bootstrap makes (`canopy dev`'s cirros, tempest's
// image_ref and image_ref_alt).
type ImageSeed struct {
	ID              string // fixed, so EnsureImage is idempotent
	Name            string
	Owner           string // project id; "" for none
	Visibility      string // default public
	DiskFormat      string // default qcow2
	ContainerFormat string // default bare
	MinDisk, MinRAM int
	Properties      map[string]string
	Data            []byte
}

// EnsureImage makes seed's image active with seed's bytes, or returns it as
// it is when it already is. A half-made image (queued, or killed by a
// crash) is completed.
func (s *Service) EnsureImage(ctx context.Context, seed ImageSeed) (*registry.Image, error) {
	if !uuidRE.MatchString(seed.ID) {
		return nil, fmt.Errorf("image: EnsureImage: id %q is not a UUID", seed.ID)
	}
	if seed.Visibility == "" {
		seed.Visibility = "public"
	}
	if seed.DiskFormat == "" {
		seed.DiskFormat = "qcow2"
	}
	if seed.ContainerFormat == "" {
		seed.ContainerFormat = "bare"
	}
	project := seed.Owner
	now := s.now()
	props := map[string]string{}
	for k, v := range seed.Properties {
		props[k] = v
	}
	img := &registry.Image{ID: seed.ID, Name: seed.Name, Owner: seed.Owner, Status: "queued", Visibility: seed.Visibility,
		DiskFormat: seed.DiskFormat, ContainerFormat: seed.ContainerFormat, MinDisk: seed.MinDisk, MinRAM: seed.MinRAM,
		Tags: []string{}, Properties: props, Created: now, Updated: now}
	if err := s.images.Create(ctx, project, img.ID, now, img); err != nil && !errors.Is(err, registry.ErrExists) {
		return nil, err
	}
	v, err := s.images.Lookup(ctx, seed.ID)
	if err != nil {
		return nil, err
	}
	if v.Value.Status == "active" {
		return v.Value, nil
	}
	if v.Value.Status != "queued" {
		if _, err := s.images.Update(ctx, v.Project, seed.ID, func(cur *registry.Image) error {
			cur.Status = "queued"
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if err := s.storeData(ctx, v.Project, seed.ID, func(ctx context.Context) (imagestore.Info, error) {
		return s.store.Put(ctx, seed.ID, bytes.NewReader(seed.Data), s.opts.MaxImageSize)
	}); err != nil {
		return nil, err
	}
	return s.images.Get(ctx, v.Project, seed.ID)
}
