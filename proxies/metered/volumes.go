package metered

import (
	"context"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

// Volumes exposes the wrapped backend's volume driver, metered, so that a
// wrapped pool still answers proxies.VolumesOf. It is nil when the wrapped
// backend has no volumes.
func (m *backend) Volumes() proxies.VolumeDriver {
	d, ok := proxies.VolumesOf(m.b)
	if !ok {
		return nil
	}
	return volumes{m.b.Name(), d}
}

var _ proxies.VolumeBackend = (*backend)(nil)

type volumes struct {
	cloud string
	d     proxies.VolumeDriver
}

func (v volumes) CreateVolume(ctx context.Context, spec proxies.VolumeSpec) (st proxies.VolumeStatus, err error) {
	defer func(t time.Time) { observe(v.cloud, "CreateVolume", t, err) }(time.Now())
	return v.d.CreateVolume(ctx, spec)
}
func (v volumes) GetVolume(ctx context.Context, id string) (st proxies.VolumeStatus, err error) {
	defer func(t time.Time) { observe(v.cloud, "GetVolume", t, err) }(time.Now())
	return v.d.GetVolume(ctx, id)
}
func (v volumes) DeleteVolume(ctx context.Context, id string) (err error) {
	defer func(t time.Time) { observe(v.cloud, "DeleteVolume", t, err) }(time.Now())
	return v.d.DeleteVolume(ctx, id)
}
func (v volumes) ExtendVolume(ctx context.Context, id string, newSizeGB int) (st proxies.VolumeStatus, err error) {
	defer func(t time.Time) { observe(v.cloud, "ExtendVolume", t, err) }(time.Now())
	return v.d.ExtendVolume(ctx, id, newSizeGB)
}
func (v volumes) CreateSnapshot(ctx context.Context, spec proxies.SnapshotSpec) (st proxies.SnapshotStatus, err error) {
	defer func(t time.Time) { observe(v.cloud, "CreateSnapshot", t, err) }(time.Now())
	return v.d.CreateSnapshot(ctx, spec)
}
func (v volumes) GetSnapshot(ctx context.Context, id string) (st proxies.SnapshotStatus, err error) {
	defer func(t time.Time) { observe(v.cloud, "GetSnapshot", t, err) }(time.Now())
	return v.d.GetSnapshot(ctx, id)
}
func (v volumes) DeleteSnapshot(ctx context.Context, id string) (err error) {
	defer func(t time.Time) { observe(v.cloud, "DeleteSnapshot", t, err) }(time.Now())
	return v.d.DeleteSnapshot(ctx, id)
}
func (v volumes) AttachVolume(ctx context.Context, volumeID, serverID string) (dev string, err error) {
	defer func(t time.Time) { observe(v.cloud, "AttachVolume", t, err) }(time.Now())
	return v.d.AttachVolume(ctx, volumeID, serverID)
}
func (v volumes) DetachVolume(ctx context.Context, volumeID string) (err error) {
	defer func(t time.Time) { observe(v.cloud, "DetachVolume", t, err) }(time.Now())
	return v.d.DetachVolume(ctx, volumeID)
}
