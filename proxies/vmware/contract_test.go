package vmware

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"io"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/contracttest"
	"github.com/canopy-cloud/canopy/proxies/metered"
)

// testImage is the raw disk the contract suite imports (not a sector
// multiple on purpose: ImportImage pads it).
var testImage = bytes.Repeat([]byte("canopy-vsphere-image\n"), 1000)

type readSeekNopCloser struct{ *bytes.Reader }

func (readSeekNopCloser) Close() error { return nil }

func imageSpec(id string, data []byte) proxies.ImageSpec {
	md, sh := md5.Sum(data), sha512.Sum512(data)
	return proxies.ImageSpec{ID: id, Name: "contract", DiskFormat: "raw", ContainerFormat: "bare",
		Size: int64(len(data)), Checksum: hex.EncodeToString(md[:]), SHA512: hex.EncodeToString(sh[:])}
}

func imageReader(data []byte) proxies.ImageReader {
	return func(context.Context) (io.ReadSeekCloser, error) { return readSeekNopCloser{bytes.NewReader(data)}, nil }
}

// TestContract runs the proxies contract suite against the vCenter
// simulator, bare and through the metered wrapper the gateway uses.
func TestContract(t *testing.T) {
	for _, wrap := range []bool{false, true} {
		name := "bare"
		if wrap {
			name = "metered"
		}
		t.Run(name, func(t *testing.T) {
			s := newSim(t)
			unwrap := func(be proxies.Backend) *Backend {
				for {
					if b, ok := be.(*Backend); ok {
						return b
					}
					be = be.(interface{ Unwrap() proxies.Backend }).Unwrap()
				}
			}
			h := contracttest.Harness{
				New: func(t *testing.T) proxies.Backend {
					b := s.backend(t, nil)
					if wrap {
						return metered.Wrap(b)
					}
					return b
				},
				Image:     imageSpec("5f1a2b3c-0000-4000-8000-00000000c0de", testImage),
				ImageData: func() io.ReadSeekCloser { return readSeekNopCloser{bytes.NewReader(testImage)} },
				// A booted guest runs VMware Tools (open-vm-tools in a real
				// template); the simulator's VMs report them once marked.
				Settle:  func(ctx context.Context, be proxies.Backend, id string) { s.bootGuest(ctx, unwrap(be), id) },
				Timeout: 30 * time.Second,
			}
			contracttest.Run(t, h)
		})
	}
}

// TestContractVolumes runs the contract suite's volume groups against the
// simulator in both volume modes: first-class disks (vcsim, like a vCenter
// 6.5, has no CreateDiskFromSnapshot, so snapshots are copies and a volume
// from one another copy, registered as a disk) and plain VMDK files.
func TestContractVolumes(t *testing.T) {
	for _, mode := range []string{VolumesFCD, VolumesVMDK} {
		t.Run(mode, func(t *testing.T) {
			s := newSim(t)
			h := contracttest.Harness{
				New: func(t *testing.T) proxies.Backend {
					b := s.backend(t, func(c *Config) { c.Volumes = mode })
					if b.VolumeMode() != mode {
						t.Fatalf("VolumeMode = %q; want %q", b.VolumeMode(), mode)
					}
					return metered.Wrap(b)
				},
				Image:     imageSpec("5f1a2b3c-0000-4000-8000-00000000c0de", testImage),
				ImageData: func() io.ReadSeekCloser { return readSeekNopCloser{bytes.NewReader(testImage)} },
				Settle: func(ctx context.Context, be proxies.Backend, id string) {
					s.bootGuest(ctx, be.(interface{ Unwrap() proxies.Backend }).Unwrap().(*Backend), id)
				},
				Timeout: 30 * time.Second,
			}
			contracttest.RunVolumes(t, h)
		})
	}
}
