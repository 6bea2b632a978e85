package localcloud_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"io"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/contracttest"
	"github.com/canopy-cloud/canopy/proxies/metered"
)

// testImage is the bytes of the image the contract suite imports.
var testImage = bytes.Repeat([]byte("canopy-contract-image\n"), 1000)

type readSeekNopCloser struct{ *bytes.Reader }

func (readSeekNopCloser) Close() error { return nil }

func imageSpec(id string, data []byte) proxies.ImageSpec {
	md, sh := md5.Sum(data), sha512.Sum512(data)
	return proxies.ImageSpec{ID: id, Name: "contract", DiskFormat: "raw", ContainerFormat: "bare",
		Size: int64(len(data)), Checksum: hex.EncodeToString(md[:]), SHA512: hex.EncodeToString(sh[:])}
}

func newPool(t testing.TB, mutate func(*localcloud.Config)) *localcloud.Pool {
	t.Helper()
	cfg := localcloud.DefaultConfig()
	cfg.ApplyBuildDelay(0)
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := localcloud.New("local", cfg, nil)
	if err != nil {
		t.Fatalf("localcloud.New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestContract(t *testing.T) {
	cases := []struct {
		name    string
		delay   time.Duration
		metered bool // through the metered wrapper the app puts around every backend
	}{
		{name: "instant", delay: 0},
		{name: "with_delays", delay: 4 * time.Millisecond},
		{name: "metered", delay: 0, metered: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			contracttest.Run(t, contracttest.Harness{
				New: func(t *testing.T) proxies.Backend {
					p := newPool(t, func(cfg *localcloud.Config) { cfg.ApplyBuildDelay(c.delay) })
					if c.metered {
						return metered.Wrap(p)
					}
					return p
				},
				Image:     imageSpec("9d3f1c2e-0000-4000-8000-00000000c0de", testImage),
				ImageData: func() io.ReadSeekCloser { return readSeekNopCloser{bytes.NewReader(testImage)} },
			})
		})
	}
}
