package aws

import (
	"context"
	"errors"
	"testing"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// TestVolumes: EBS type mapping, idempotent create, attach at /dev/sdf and
// /dev/sdg of a real instance, extend and snapshots.
func TestVolumes(t *testing.T) {
	b := newMotoBackend(t, "aws-vols", nil)
	raw := rawEC2(t)
	ctx := t.Context()
	d, ok := proxies.VolumesOf(b)
	if !ok {
		t.Fatal("VolumesOf finds no driver")
	}
	srv := proxies.ServerSpec{ID: "vol-server", ProjectID: "p", Name: "v", ImageID: contractImage, Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512}}
	st, err := b.Servers().CreateServer(ctx, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Servers().DeleteServer(ctx, srv.ID) })
	zone := st.Host[len(b.name)+1:]
	specA := proxies.VolumeSpec{ID: "vol-a", ProjectID: "p", SizeGB: 1, VolumeType: "io2", AvailabilityZone: zone}
	specB := proxies.VolumeSpec{ID: "vol-b", ProjectID: "p", SizeGB: 2, VolumeType: "lvmdriver-1", AvailabilityZone: zone}
	a, err := d.CreateVolume(ctx, specA)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := d.CreateVolume(ctx, specA); err != nil || again.BottomID != a.BottomID {
		t.Fatalf("CreateVolume retried = %+v, %v; want %s", again, err, a.BottomID)
	}
	if _, err := d.CreateVolume(ctx, specB); err != nil {
		t.Fatal(err)
	}
	vols, err := raw.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{filter("tag:"+tagCloud, "aws-vols"), filter("tag-key", tagID)}})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, v := range vols.Volumes {
		if id := tagValue(v.Tags, tagID); id == "vol-a" || id == "vol-b" {
			types[id] += string(v.VolumeType)
		}
	}
	if types["vol-a"] != "io2" || types["vol-b"] != "gp3" {
		t.Errorf("volume types %v; want vol-a io2 (an EBS type) and vol-b gp3 (the default), one each", types)
	}
	devA, err := d.AttachVolume(ctx, "vol-a", srv.ID)
	if err != nil {
		t.Fatalf("AttachVolume: %v", err)
	}
	devB, err := d.AttachVolume(ctx, "vol-b", srv.ID)
	if err != nil {
		t.Fatalf("AttachVolume: %v", err)
	}
	if devA != "/dev/sdf" || devB != "/dev/sdg" {
		t.Errorf("devices %s, %s; want /dev/sdf and /dev/sdg", devA, devB)
	}
	if again, err := d.AttachVolume(ctx, "vol-a", srv.ID); err != nil || again != devA {
		t.Errorf("AttachVolume again = %q, %v; want %q", again, err, devA)
	}
	if got, err := d.GetVolume(ctx, "vol-a"); err != nil || got.State != proxies.VolumeInUse || got.AttachedTo != srv.ID || got.Device != devA {
		t.Errorf("GetVolume(attached) = %+v, %v; want in-use on %s at %s", got, err, srv.ID, devA)
	}
	if err := d.DeleteVolume(ctx, "vol-a"); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("DeleteVolume(attached) = %v; want ErrConflict", err)
	}
	if _, err := d.ExtendVolume(ctx, "vol-a", 5); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("ExtendVolume(attached) = %v; want ErrConflict", err)
	}
	if _, err := d.AttachVolume(ctx, "vol-a", "no-such-server"); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("AttachVolume to an unknown server = %v; want ErrNotFound", err)
	}
	for _, id := range []string{"vol-a", "vol-a", "vol-b"} {
		if err := d.DetachVolume(ctx, id); err != nil {
			t.Fatalf("DetachVolume(%s): %v", id, err)
		}
	}
	eventually(t, "vol-a to be available", func() bool {
		got, err := d.GetVolume(ctx, "vol-a")
		return err == nil && got.State == proxies.VolumeAvailable && got.AttachedTo == ""
	})
	if got, err := d.ExtendVolume(ctx, "vol-a", 5); err != nil || got.SizeGB != 5 {
		t.Errorf("ExtendVolume = %+v, %v; want 5 GB", got, err)
	}
	snap, err := d.CreateSnapshot(ctx, proxies.SnapshotSpec{ID: "snap-a", ProjectID: "p", VolumeID: "vol-a"})
	if err != nil || snap.VolumeID != "vol-a" || snap.SizeGB != 5 {
		t.Fatalf("CreateSnapshot = %+v, %v", snap, err)
	}
	if again, err := d.CreateSnapshot(ctx, proxies.SnapshotSpec{ID: "snap-a", ProjectID: "p", VolumeID: "vol-a"}); err != nil || again.BottomID != snap.BottomID {
		t.Errorf("CreateSnapshot retried = %+v, %v; want %s", again, err, snap.BottomID)
	}
	from, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "vol-from", ProjectID: "p", SizeGB: 5, SnapshotID: "snap-a"})
	if err != nil {
		t.Fatalf("CreateVolume from snapshot: %v", err)
	}
	fromVol, _ := b.findVolume(ctx, "test", "vol-from")
	if fromVol == nil || awsv2.ToString(fromVol.SnapshotId) != snap.BottomID {
		t.Errorf("volume from snapshot %+v; want made from %s", from, snap.BottomID)
	}
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "vol-clone", SizeGB: 5, SourceVolumeID: "vol-a"}); !errors.Is(err, proxies.ErrNotSupported) {
		t.Errorf("CreateVolume as a clone = %v; want ErrNotSupported (declared)", err)
	}
	for _, id := range []string{"snap-a", "snap-a"} {
		if err := d.DeleteSnapshot(ctx, id); err != nil {
			t.Errorf("DeleteSnapshot: %v", err)
		}
	}
	for _, id := range []string{"vol-a", "vol-b", "vol-from", "vol-a"} {
		if err := d.DeleteVolume(ctx, id); err != nil {
			t.Errorf("DeleteVolume(%s): %v", id, err)
		}
	}
}

// TestUnplacedServerMeetsUnplacedVolume: a server and a volume asked for no
// zone both land in the backend's first zone, so the volume attaches (EBS
// attaches within one zone only). The zones are limited to b and c so that
// EC2's own default (moto's is the region's "a" zone) would miss.
func TestUnplacedServerMeetsUnplacedVolume(t *testing.T) {
	b := newMotoBackend(t, "aws-unplaced", func(c *Config) { c.AvailabilityZones = []string{"us-east-1c", "us-east-1b"} })
	ctx := t.Context()
	d, _ := proxies.VolumesOf(b)
	srv := proxies.ServerSpec{ID: "unplaced-server", ProjectID: "p", Name: "u", ImageID: contractImage, Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512}}
	st, err := b.Servers().CreateServer(ctx, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Servers().DeleteServer(context.WithoutCancel(ctx), srv.ID) })
	if want := b.hostName("us-east-1b"); st.Host != want {
		t.Errorf("server with no zone is on %s; want %s (the first configured zone)", st.Host, want)
	}
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "unplaced-vol", ProjectID: "p", SizeGB: 1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.DetachVolume(context.WithoutCancel(ctx), "unplaced-vol")
		_ = d.DeleteVolume(context.WithoutCancel(ctx), "unplaced-vol")
	})
	if _, err := d.AttachVolume(ctx, "unplaced-vol", srv.ID); err != nil {
		t.Errorf("AttachVolume of a volume and a server both made with no zone = %v; want them in one zone", err)
	}
}
