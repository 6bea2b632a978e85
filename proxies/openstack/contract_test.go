package openstack_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/contracttest"
)

// TestContract runs the backend contract suite, and its volume groups,
// against a bottom Canopy reached over HTTP with real Keystone tokens.
func TestContract(t *testing.T) {
	h := contracttest.Harness{
		New:       func(t *testing.T) proxies.Backend { return newBackend(t, "demo", nil) },
		Image:     imageSpec("7c1e5d3a-0000-4000-8000-0000000c0de1", testImage),
		ImageData: func() io.ReadSeekCloser { return readSeekNopCloser{bytes.NewReader(testImage)} },
	}
	contracttest.Run(t, h)
	contracttest.RunVolumes(t, h)
}
