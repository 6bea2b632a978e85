package imagestore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/imagestore"
)

const (
	helloMD5    = "5d41402abc4b2a76b9719d911017c592"
	helloSHA512 = "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043"
)

func newFS(t *testing.T) *imagestore.FS {
	t.Helper()
	s, err := imagestore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFSPutOpenDelete(t *testing.T) {
	ctx := context.Background()
	s := newFS(t)
	info, err := s.Put(ctx, "img1", strings.NewReader("hello"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := imagestore.Info{Size: 5, MD5: helloMD5, SHA512: helloSHA512}
	if info != want {
		t.Fatalf("info = %+v, want %+v", info, want)
	}
	rc, n, err := s.Open(ctx, "img1")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if n != 5 || string(data) != "hello" {
		t.Fatalf("open: n=%d data=%q", n, data)
	}
	if err := s.Delete(ctx, "img1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "img1"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, _, err := s.Open(ctx, "img1"); !errors.Is(err, imagestore.ErrNotFound) {
		t.Fatalf("open after delete: %v", err)
	}
}

func TestFSPutRejects(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		id    string
		data  string
		limit int64
		want  imagestore.Expect
		err   error
	}{
		{"over the limit", "a", "hello world", 5, imagestore.Expect{}, imagestore.ErrTooLarge},
		{"wrong size", "b", "hello", 0, imagestore.Expect{Size: 4}, imagestore.ErrMismatch},
		{"wrong md5", "c", "hello", 0, imagestore.Expect{MD5: strings.Repeat("0", 32)}, imagestore.ErrMismatch},
		{"wrong sha512", "d", "hello", 0, imagestore.Expect{SHA512: "00"}, imagestore.ErrMismatch},
		{"path traversal", "../x", "hello", 0, imagestore.Expect{}, imagestore.ErrInvalidID},
		{"empty id", "", "hello", 0, imagestore.Expect{}, imagestore.ErrInvalidID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newFS(t)
			_, err := s.PutVerified(ctx, tc.id, strings.NewReader(tc.data), tc.limit, tc.want)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			ents, _ := os.ReadDir(s.Dir())
			if len(ents) != 0 {
				t.Fatalf("rejected put left %d files behind", len(ents))
			}
		})
	}
}

func TestFSPutMatchingExpectation(t *testing.T) {
	s := newFS(t)
	_, err := s.PutVerified(context.Background(), "ok", bytes.NewReader([]byte("hello")), 5,
		imagestore.Expect{Size: 5, MD5: strings.ToUpper(helloMD5), SHA512: helloSHA512})
	if err != nil {
		t.Fatalf("matching expectation rejected: %v", err)
	}
}

func TestFSCancelledPut(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := newFS(t)
	if _, err := s.Put(ctx, "x", strings.NewReader("hello"), 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled put: %v", err)
	}
	if _, _, err := s.Open(context.Background(), "x"); !errors.Is(err, imagestore.ErrNotFound) {
		t.Fatalf("cancelled put left data: %v", err)
	}
}
