package openstack_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/openstack"
	"github.com/canopy-cloud/canopy/proxies/openstack/bottomsim"
)

// shared is one bottom Canopy for the whole package (booting one costs the
// identity bootstrap and two boot disks); each test builds its own backend.
var shared struct {
	once sync.Once
	sim  *bottomsim.Sim
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.sim != nil {
		shared.sim.Close()
	}
	os.Exit(code)
}

func testLog() *slog.Logger {
	if os.Getenv("CANOPY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// bottom returns the shared bottom Canopy.
func bottom(t testing.TB) *bottomsim.Sim {
	t.Helper()
	shared.once.Do(func() {
		shared.sim, shared.err = bottomsim.Start(context.Background(), testLog(), bottomsim.Options{})
	})
	if shared.err != nil {
		t.Fatalf("start the bottom Canopy: %v", shared.err)
	}
	return shared.sim
}

// newBackend builds a proxy to the shared bottom as user (demo by default).
func newBackend(t testing.TB, user string, edit func(*openstack.Config)) *openstack.Backend {
	t.Helper()
	sim := bottom(t)
	cfg, err := sim.ConfigFor(user)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&cfg)
	}
	b, err := openstack.New(t.Context(), "bottom-"+user, cfg, testLog())
	if err != nil {
		t.Fatalf("openstack.New: %v", err)
	}
	return b
}

// testImage is the image the suites import.
var testImage = bytes.Repeat([]byte("canopy-openstack-contract\n"), 2000)

type readSeekNopCloser struct{ *bytes.Reader }

func (readSeekNopCloser) Close() error { return nil }

func imageSpec(id string, data []byte) proxies.ImageSpec {
	md, sh := md5.Sum(data), sha512.Sum512(data)
	return proxies.ImageSpec{ID: id, Name: "contract", DiskFormat: "raw", ContainerFormat: "bare",
		Size: int64(len(data)), Checksum: hex.EncodeToString(md[:]), SHA512: hex.EncodeToString(sh[:])}
}

func newID(t testing.TB) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
