package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/gateway/blockstorage"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// twoCloudVolumes gives the realise env's broker the real block-storage
// service over two clouds: zone "nova" is the env's pool "local" (where its
// servers go), zone "far" is a second pool "other".
func twoCloudVolumes(t *testing.T, e *realEnv) (*blockstorage.Service, *localcloud.Pool) {
	t.Helper()
	cfg := localcloud.DefaultConfig()
	cfg.ApplyBuildDelay(0)
	cfg.AvailabilityZone = "far"
	other, err := localcloud.New("other", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	cinder := blockstorage.New(e.reg, brokertest.NewImages(), map[string]proxies.Backend{"local": e.be, "other": other},
		blockstorage.Options{Zones: map[string]string{"nova": "local", "far": "other"}})
	e.b.SetVolumes(cinder)
	return cinder, other
}

// attachOnly hides every method of the volume service but the three of
// broker.Volumes.
type attachOnly struct{ broker.Volumes }

func makeVolume(t *testing.T, cinder *blockstorage.Service, id, zone string) {
	t.Helper()
	if _, err := cinder.CreateServerVolume(context.Background(), blockstorage.ServerVolumeSpec{ID: id, ProjectID: realProject,
		UserID: "u", SizeGB: 1, AvailabilityZone: zone}); err != nil {
		t.Fatalf("create volume in zone %s: %v", zone, err)
	}
}

// wantUntouched checks that a refused volume is still available, with no
// reservation or attachment, in the registry and in its cloud.
func wantUntouched(t *testing.T, cinder *blockstorage.Service, pool *localcloud.Pool, id string) {
	t.Helper()
	v, err := cinder.Volume(context.Background(), realProject, id)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != blockstorage.StatusAvailable || v.ReservedFor != "" || len(v.Attachments) != 0 {
		t.Errorf("refused volume record = status %s, reserved for %q, attachments %+v; want untouched", v.Status, v.ReservedFor, v.Attachments)
	}
	d, _ := proxies.VolumesOf(pool)
	if st, err := d.GetVolume(context.Background(), id); err != nil || st.AttachedTo != "" {
		t.Errorf("refused volume in its cloud = %+v, %v; want not attached", st, err)
	}
}

// TestAttachVolumeOfAnotherCloud: a volume of another cloud than the
// server's is Nova's 400 InvalidVolume (cross_az_attach = False) and
// nothing changes; a volume of the server's own cloud attaches there.
func TestAttachVolumeOfAnotherCloud(t *testing.T) {
	e := newRealEnv(t, false)
	cinder, other := twoCloudVolumes(t, e)
	const near, far = "7c0f0000-0000-4000-8000-0000000000a1", "7c0f0000-0000-4000-8000-0000000000a2"
	makeVolume(t, cinder, near, "nova")
	makeVolume(t, cinder, far, "far")
	s := e.boot([]broker.NetworkRequest{{NetworkID: e.netID}}, "ACTIVE")
	ctx := context.Background()

	_, err := e.b.AttachVolume(ctx, e.caller, s.ID, broker.AttachVolumeRequest{VolumeID: far})
	msg := proxies.SafeMessage(err)
	if !errors.Is(err, proxies.ErrInvalid) || !strings.HasPrefix(msg, "Invalid volume: Instance "+s.ID+" and volume "+far+" are not in the same availability_zone.") ||
		!strings.Contains(msg, "Instance is in nova. Volume is in far") {
		t.Errorf("attach of a volume of another cloud = %v (%q); want Nova's InvalidVolume", err, msg)
	}
	wantUntouched(t, cinder, other, far)
	if list, _ := e.b.ListVolumeAttachments(ctx, e.caller, s.ID); len(list) != 0 {
		t.Errorf("server attachments after the refusal = %+v; want none", list)
	}

	// A volume service that cannot read volumes ahead: the reserved
	// volume is checked and given back.
	e.b.SetVolumes(attachOnly{cinder})
	if _, err := e.b.AttachVolume(ctx, e.caller, s.ID, broker.AttachVolumeRequest{VolumeID: far}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("attach of a volume of another cloud, checked after the reserve = %v; want ErrInvalid", err)
	}
	wantUntouched(t, cinder, other, far)
	e.b.SetVolumes(cinder)

	att, err := e.b.AttachVolume(ctx, e.caller, s.ID, broker.AttachVolumeRequest{VolumeID: near})
	if err != nil {
		t.Fatalf("attach of a volume of the server's cloud: %v", err)
	}
	d, _ := proxies.VolumesOf(e.pool)
	if st, err := d.GetVolume(ctx, near); err != nil || st.AttachedTo != s.ID || st.Device != att.Device {
		t.Errorf("the pool's volume = %+v, %v; want attached to %s at %s", st, err, s.ID, att.Device)
	}
}

// TestBootWithVolumeOfAnotherCloud: a server created with an existing
// volume of another cloud is refused (Nova's 400 for volumes of another
// zone) before any volume is made or reserved, and leaves no server.
func TestBootWithVolumeOfAnotherCloud(t *testing.T) {
	e := newRealEnv(t, false)
	cinder, other := twoCloudVolumes(t, e)
	const far = "7c0f0000-0000-4000-8000-0000000000b2"
	makeVolume(t, cinder, far, "far")
	ctx := context.Background()
	_, err := e.b.CreateServers(ctx, broker.CreateRequest{Caller: e.caller, Name: "vm", ImageID: imageID, FlavorID: "1",
		Networks: []broker.NetworkRequest{{NetworkID: e.netID}}, MinCount: 1, MaxCount: 1,
		BootVolume: &broker.BootVolume{Devices: []broker.BlockDevice{
			// A blank volume first in the mapping: it must not be made.
			{Source: broker.SourceBlank, Destination: broker.DestinationVolume, BootIndex: -1, SizeGB: 1},
			{Source: broker.SourceVolume, Destination: broker.DestinationVolume, UUID: far, BootIndex: 1},
		}}})
	msg := proxies.SafeMessage(err)
	if !errors.Is(err, proxies.ErrInvalid) || !strings.Contains(msg, "Server and volumes are not in the same availability zone. Server is in: nova. Volumes are in: far.") {
		t.Errorf("create with a volume of another cloud = %v (%q); want Nova's 400", err, msg)
	}
	wantUntouched(t, cinder, other, far)
	if list, _ := e.b.Servers().List(ctx, realProject, registry.Page{}); len(list) != 0 {
		t.Errorf("the refused create left %d server records", len(list))
	}
	if n, err := e.reg.ListIDs(ctx, blockstorage.KindVolume, realProject, registry.Page{}); err != nil || len(n) != 1 {
		t.Errorf("volumes after the refused create = %v, %v; want only the existing one", n, err)
	}
}
