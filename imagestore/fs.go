package imagestore

import (
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FS stores each image as one file in a directory. Writes go to a temporary
// file in the same directory, are fsynced, verified and then renamed into
// place, so readers never see partial data.
type FS struct {
	dir string
}

var (
	_ Store    = (*FS)(nil)
	_ Verifier = (*FS)(nil)
)

// NewFS returns a store in dir, creating the directory if needed.
func NewFS(dir string) (*FS, error) {
	if dir == "" {
		return nil, errors.New("imagestore: no directory given")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("imagestore: create %s: %w", dir, err)
	}
	return &FS{dir: dir}, nil
}

// Dir is the directory the store writes to.
func (s *FS) Dir() string { return s.dir }

func (s *FS) path(id string) (string, error) {
	if id == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." || strings.HasPrefix(id, ".") {
		return "", ErrInvalidID
	}
	return filepath.Join(s.dir, id), nil
}

// Put stores r as image id without expectations.
func (s *FS) Put(ctx context.Context, id string, r io.Reader, limit int64) (Info, error) {
	return s.PutVerified(ctx, id, r, limit, Expect{})
}

// PutVerified stores r as image id if it matches want.
func (s *FS) PutVerified(ctx context.Context, id string, r io.Reader, limit int64, want Expect) (Info, error) {
	dst, err := s.path(id)
	if err != nil {
		return Info{}, err
	}
	tmp, err := os.CreateTemp(s.dir, ".upload-"+id+"-*")
	if err != nil {
		return Info{}, fmt.Errorf("imagestore: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	hm, hs := md5.New(), sha512.New()
	src := r
	if limit > 0 {
		src = io.LimitReader(r, limit+1)
	}
	n, err := io.Copy(io.MultiWriter(tmp, hm, hs), ctxReader{ctx, src})
	if err != nil {
		return Info{}, fmt.Errorf("imagestore: write %s: %w", id, err)
	}
	if limit > 0 && n > limit {
		return Info{}, ErrTooLarge
	}
	info := Info{Size: n, MD5: hex.EncodeToString(hm.Sum(nil)), SHA512: hex.EncodeToString(hs.Sum(nil))}
	if (want.Size > 0 && want.Size != n) ||
		(want.MD5 != "" && !strings.EqualFold(want.MD5, info.MD5)) ||
		(want.SHA512 != "" && !strings.EqualFold(want.SHA512, info.SHA512)) {
		return Info{}, ErrMismatch
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, fmt.Errorf("imagestore: sync %s: %w", id, err)
	}
	if err := tmp.Close(); err != nil {
		return Info{}, fmt.Errorf("imagestore: close %s: %w", id, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return Info{}, fmt.Errorf("imagestore: commit %s: %w", id, err)
	}
	committed = true
	return info, nil
}

// Open returns image id's bytes.
func (s *FS) Open(ctx context.Context, id string) (io.ReadSeekCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	p, err := s.path(id)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("imagestore: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("imagestore: %w", err)
	}
	return f, st.Size(), nil
}

// Delete removes image id's bytes.
func (s *FS) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("imagestore: %w", err)
	}
	return nil
}

// ctxReader stops a long copy when the request is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
