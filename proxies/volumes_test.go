package proxies_test

import (
	"context"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
)

// stubBackend declares volumes (or not) and may hold a driver.
type stubBackend struct {
	proxies.Backend
	declared bool
	driver   proxies.VolumeDriver
}

func (s stubBackend) Capabilities() proxies.Capabilities {
	return proxies.Capabilities{Volumes: s.declared}
}

type withVolumes struct{ stubBackend }

func (w withVolumes) Volumes() proxies.VolumeDriver { return w.driver }

// wrapper exposes what it wraps, as the metered backend does.
type wrapper struct{ stubBackend }

func (w wrapper) Unwrap() proxies.Backend { return w.stubBackend.Backend }

type nopDriver struct{ proxies.VolumeDriver }

func (nopDriver) GetVolume(context.Context, string) (proxies.VolumeStatus, error) {
	return proxies.VolumeStatus{}, nil
}

func TestVolumesOf(t *testing.T) {
	d := nopDriver{}
	cases := []struct {
		name string
		b    proxies.Backend
		want bool
	}{
		{"nil backend", nil, false},
		{"declared with a driver", withVolumes{stubBackend{declared: true, driver: d}}, true},
		{"driver but not declared", withVolumes{stubBackend{declared: false, driver: d}}, false},
		{"declared without the interface", stubBackend{declared: true}, false},
		{"declared but nil driver", withVolumes{stubBackend{declared: true}}, false},
		{"wrapper of a volume backend", wrapper{stubBackend{declared: true, Backend: withVolumes{stubBackend{declared: true, driver: d}}}}, true},
		{"wrapper of a plain backend", wrapper{stubBackend{declared: true, Backend: stubBackend{declared: true}}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := proxies.VolumesOf(c.b)
			if ok != c.want || (ok && got == nil) {
				t.Errorf("VolumesOf = %v, %v; want ok=%v", got, ok, c.want)
			}
		})
	}
}
