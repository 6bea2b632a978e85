package localcloud

import (
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"io"
	"sync"

	"github.com/canopy-cloud/canopy/proxies"
)

// imageStore records the images the pool holds a copy of. Simulated hosts
// need no bytes, so the store verifies what it reads (size, md5, sha512)
// and keeps only the record.
type imageStore struct {
	mu     sync.Mutex
	images map[string]proxies.ImageStatus
}

var _ proxies.ImageDriver = (*imageStore)(nil)

func newImageStore() *imageStore { return &imageStore{images: make(map[string]proxies.ImageStatus)} }

func (s *imageStore) put(spec proxies.ImageSpec, st proxies.ImageStatus) {
	s.mu.Lock()
	s.images[spec.ID] = st
	s.mu.Unlock()
}

// ImportImage reads the image's bytes, checks them against the spec's size
// and checksums when given, and records the copy. Idempotent by spec.ID: an
// image already held is not read again.
func (s *imageStore) ImportImage(ctx context.Context, spec proxies.ImageSpec, data proxies.ImageReader) (proxies.ImageStatus, error) {
	const op = "ImportImage"
	if spec.ID == "" {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the image needs an id")
	}
	if data == nil {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "image %s has no data to import", spec.ID)
	}
	if st, err := s.GetImage(ctx, spec.ID); err == nil {
		return st, nil
	}
	rc, err := data(ctx)
	if err != nil {
		return proxies.ImageStatus{}, &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not read the data of image " + spec.ID, Cause: err}
	}
	defer rc.Close()
	md, sh := md5.New(), sha512.New()
	n, err := readAll(ctx, io.MultiWriter(md, sh), rc)
	if err != nil {
		return proxies.ImageStatus{}, &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not read the data of image " + spec.ID, Cause: err}
	}
	if spec.Size > 0 && n != spec.Size {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "image %s: size is %d bytes, the spec says %d", spec.ID, n, spec.Size)
	}
	if got := hex.EncodeToString(md.Sum(nil)); spec.Checksum != "" && got != spec.Checksum {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "image %s: checksum (md5) is %s, the spec says %s", spec.ID, got, spec.Checksum)
	}
	if got := hex.EncodeToString(sh.Sum(nil)); spec.SHA512 != "" && got != spec.SHA512 {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "image %s: sha512 is %s, the spec says %s", spec.ID, got, spec.SHA512)
	}
	st := proxies.ImageStatus{ID: spec.ID, BottomID: spec.ID, Location: "local://images/" + spec.ID, Size: n, Ready: true}
	s.put(spec, st)
	return st, nil
}

// GetImage reports the pool's copy of an image.
func (s *imageStore) GetImage(ctx context.Context, id string) (proxies.ImageStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.images[id]
	if !ok {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrNotFound, "GetImage", "Image %s could not be found.", id)
	}
	return st, nil
}

// DeleteImage forgets the pool's copy. Idempotent.
func (s *imageStore) DeleteImage(ctx context.Context, id string) error {
	s.mu.Lock()
	delete(s.images, id)
	s.mu.Unlock()
	return nil
}
