// Package imagestore keeps the bytes of images. The image service records
// what an image is in the registry; this package holds what it contains.
//
// Store is deliberately small (put, open, delete) so that each cloud can
// later keep its own copy behind the same interface; an image record then
// lists every copy in registry.Image.Locations.
package imagestore

import (
	"context"
	"errors"
	"io"
)

// Info describes stored bytes: their size and the checksums Glance reports
// (checksum = MD5, os_hash_value = SHA-512 with os_hash_algo "sha512").
type Info struct {
	Size   int64
	MD5    string // hex
	SHA512 string // hex
}

// Expect, when non-zero, is what a Put must match; a mismatch discards the
// bytes and returns ErrMismatch.
type Expect struct {
	Size   int64  // 0: any size
	MD5    string // "": not checked
	SHA512 string // "": not checked
}

// Typed errors of stores.
var (
	ErrNotFound = errors.New("imagestore: no data for image")
	// ErrTooLarge means the data exceeded the limit given to Put.
	ErrTooLarge = errors.New("imagestore: image data exceeds the size limit")
	// ErrMismatch means the data did not match the expected size or checksum.
	ErrMismatch = errors.New("imagestore: image data does not match the expected size or checksum")
	// ErrInvalidID means the id cannot name stored data (empty, path-like).
	ErrInvalidID = errors.New("imagestore: invalid image id")
)

// Store holds image bytes by image id.
type Store interface {
	// Put stores the bytes read from r as image id, replacing nothing: the
	// data becomes visible only once completely written and verified, so a
	// failed or cut upload leaves no partial file. limit > 0 caps the size.
	Put(ctx context.Context, id string, r io.Reader, limit int64) (Info, error)
	// Open returns the image's bytes and their size.
	Open(ctx context.Context, id string) (io.ReadSeekCloser, int64, error)
	// Delete removes the image's bytes; deleting absent data is not an error.
	Delete(ctx context.Context, id string) error
}

// Verifier is implemented by stores that can check a Put against expected
// values before making the data visible.
type Verifier interface {
	PutVerified(ctx context.Context, id string, r io.Reader, limit int64, want Expect) (Info, error)
}
