package localcloud_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/contracttest"
	"github.com/canopy-cloud/canopy/proxies/metered"
)

// TestPoolVolumesContract runs the volume contract against the pool, bare
// and through the metered wrapper the gateway uses, instant and with delays.
func TestPoolVolumesContract(t *testing.T) {
	cases := []struct {
		name    string
		delay   time.Duration
		metered bool
	}{
		{name: "instant", delay: 0},
		{name: "with_delays", delay: 10 * time.Millisecond},
		{name: "metered", delay: 4 * time.Millisecond, metered: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			contracttest.RunVolumes(t, contracttest.Harness{
				New: func(t *testing.T) proxies.Backend {
					p := newPool(t, func(cfg *localcloud.Config) { cfg.ApplyBuildDelay(c.delay) })
					if c.metered {
						return metered.Wrap(p)
					}
					return p
				},
				// The attach group boots a server to attach to.
				Image:     imageSpec("9d3f1c2e-0000-4000-8000-00000000c0de", testImage),
				ImageData: func() io.ReadSeekCloser { return readSeekNopCloser{bytes.NewReader(testImage)} },
			})
		})
	}
}

func TestPoolVolumeCapacity(t *testing.T) {
	p := newPool(t, func(cfg *localcloud.Config) { cfg.ApplyBuildDelay(0) })
	d, ok := proxies.VolumesOf(p)
	if !ok {
		t.Fatal("VolumesOf(pool) = false; the pool declares volumes")
	}
	ctx := t.Context()
	cases := []struct {
		name   string
		spec   proxies.VolumeSpec
		wantOK bool
	}{
		{"fills the pool", proxies.VolumeSpec{ID: "a", SizeGB: localcloud.VolumeCapacityGB}, true},
		{"one more GB does not fit", proxies.VolumeSpec{ID: "b", SizeGB: 1}, false},
		{"unknown zone", proxies.VolumeSpec{ID: "c", SizeGB: 1, AvailabilityZone: "mars"}, false},
	}
	for _, c := range cases {
		_, err := d.CreateVolume(ctx, c.spec)
		if (err == nil) != c.wantOK {
			t.Errorf("%s: CreateVolume = %v; want ok=%v", c.name, err, c.wantOK)
		}
	}
}
