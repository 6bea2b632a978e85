package azure

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/azure/armsim"
	"github.com/canopy-cloud/canopy/proxies/contracttest"
)

// contractImage is the top image the suite boots; image_map maps it.
const contractImage = "9d3f1c2e-0000-4000-8000-00000000c0de"

// newSimBackend starts a simulator and a Backend over it.
func newSimBackend(t testing.TB, opts armsim.Options, edit func(*Config), bopts ...Option) (*Backend, *armsim.Sim) {
	t.Helper()
	cfg, sim, stop, err := DevSim(t.Context(), opts)
	if err != nil {
		t.Fatalf("DevSim: %v", err)
	}
	t.Cleanup(stop)
	cfg.ImageMap = map[string]string{contractImage: "Canonical:ubuntu-24_04-lts:server:latest"}
	if edit != nil {
		edit(&cfg)
	}
	b, err := New(t.Context(), "azure-test", cfg, nil, bopts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b, sim
}

func TestContract(t *testing.T) {
	h := contracttest.Harness{
		New: func(t *testing.T) proxies.Backend {
			b, _ := newSimBackend(t, armsim.Options{}, nil)
			return b
		},
		ImageID:   contractImage,
		Image:     proxies.ImageSpec{ID: contractImage, Name: "contract", DiskFormat: "raw", ContainerFormat: "bare", Size: 4},
		ImageData: func() io.ReadSeekCloser { return nopCloser{bytes.NewReader([]byte("boot"))} },
		Timeout:   30 * time.Second,
	}
	contracttest.Run(t, h)
	// contracttest.RunVolumes is run by TestVolumesContract (see there).
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
