package aws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// diskBytes is a fake raw disk of n bytes.
func diskBytes(n int) []byte {
	b := bytes.Repeat([]byte("canopy-disk-"), n/12+1)
	return b[:n]
}

// readerOf serves data, counting how often it is opened.
func readerOf(data []byte, opened *atomic.Int32) proxies.ImageReader {
	return func(context.Context) (io.ReadSeekCloser, error) {
		opened.Add(1)
		return nopCloser{bytes.NewReader(data)}, nil
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// refuseRead is an ImageReader a test expects never to be opened.
func refuseRead(t *testing.T) proxies.ImageReader {
	return func(context.Context) (io.ReadSeekCloser, error) {
		t.Error("the image bytes were read again; want the earlier upload or snapshot reused")
		return nil, errors.New("refused")
	}
}

func imagesTagged(t *testing.T, c *ec2.Client, id string) []types.Image {
	t.Helper()
	out, err := c.DescribeImages(t.Context(), &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{filter("tag:"+tagID, id)}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Images
}

func snapshotsTagged(t *testing.T, c *ec2.Client, id string) int {
	t.Helper()
	out, err := c.DescribeSnapshots(t.Context(), &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
		Filters: []types.Filter{filter("tag:"+tagImage, id)}})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Snapshots)
}

// TestImportImage: bytes → S3 → import task → snapshot → AMI tagged
// canopy:id; a retry finds it; a server boots it; delete removes AMI and
// snapshot.
func TestImportImage(t *testing.T) {
	b := newMotoBackend(t, "aws-import", nil)
	raw := rawEC2(t)
	ctx := t.Context()
	spec := proxies.ImageSpec{ID: "1b0c9b8e-0000-4000-8000-0000000000a1", Name: "cirros", DiskFormat: "raw", ContainerFormat: "bare", Size: 3 << 20}
	var opened atomic.Int32
	st, err := b.Images().ImportImage(ctx, spec, readerOf(diskBytes(int(spec.Size)), &opened))
	if err != nil {
		t.Fatalf("ImportImage: %v", err)
	}
	if !st.Ready || !strings.HasPrefix(st.BottomID, "ami-") || st.Location != "ec2://"+SimRegion+"/"+st.BottomID {
		t.Errorf("ImportImage = %+v; want a ready AMI at ec2://%s/ami-…", st, SimRegion)
	}
	if imgs := imagesTagged(t, raw, spec.ID); len(imgs) != 1 || awsv2.ToString(imgs[0].ImageId) != st.BottomID {
		t.Errorf("AMIs tagged %s = %d; want exactly %s", spec.ID, len(imgs), st.BottomID)
	}
	if n := snapshotsTagged(t, raw, spec.ID); n != 1 {
		t.Errorf("snapshots tagged canopy:image=%s: %d; want 1", spec.ID, n)
	}
	again, err := b.Images().ImportImage(ctx, spec, refuseRead(t))
	if err != nil || again.BottomID != st.BottomID {
		t.Errorf("ImportImage retried = %+v, %v; want %s again", again, err, st.BottomID)
	}
	if opened.Load() != 1 {
		t.Errorf("the bytes were opened %d times; want 1", opened.Load())
	}
	srv, err := b.Servers().CreateServer(ctx, proxies.ServerSpec{ID: "1b0c9b8e-0000-4000-8000-0000000000b1", ProjectID: "p", Name: "from-import",
		ImageID: spec.ID, Flavor: proxies.Flavor{ID: "f", VCPUs: 1, RAMMB: 512, DiskGB: 1}})
	if err != nil || srv.BottomID == "" {
		t.Fatalf("CreateServer from the imported image = %+v, %v", srv, err)
	}
	if err := b.Servers().DeleteServer(ctx, srv.ID); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := b.Images().DeleteImage(ctx, spec.ID); err != nil {
			t.Fatalf("DeleteImage #%d: %v", i+1, err)
		}
	}
	if _, err := b.Images().GetImage(ctx, spec.ID); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetImage after delete = %v; want ErrNotFound", err)
	}
	if n := snapshotsTagged(t, raw, spec.ID); n != 0 {
		t.Errorf("%d imported snapshots left after DeleteImage; want 0", n)
	}
}

// TestImportResumesFromSnapshot: an import whose AMI is gone but whose
// snapshot exists (a crash between the task and RegisterImage) registers
// the snapshot without reading the bytes again.
func TestImportResumesFromSnapshot(t *testing.T) {
	b := newMotoBackend(t, "aws-import-resume", nil)
	raw := rawEC2(t)
	ctx := t.Context()
	spec := proxies.ImageSpec{ID: "1b0c9b8e-0000-4000-8000-0000000000a2", Name: "resume", DiskFormat: "raw", ContainerFormat: "bare", Size: 1 << 20}
	var opened atomic.Int32
	first, err := b.Images().ImportImage(ctx, spec, readerOf(diskBytes(int(spec.Size)), &opened))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: awsv2.String(first.BottomID)}); err != nil {
		t.Fatal(err)
	}
	second, err := b.Images().ImportImage(ctx, spec, refuseRead(t))
	if err != nil || !second.Ready || second.BottomID == first.BottomID {
		t.Errorf("ImportImage after the AMI was lost = %+v, %v; want a new AMI from the existing snapshot", second, err)
	}
	if n := snapshotsTagged(t, raw, spec.ID); n != 1 {
		t.Errorf("snapshots of the image: %d; want 1 (reused)", n)
	}
}

func TestImportMultipart(t *testing.T) {
	b := newMotoBackend(t, "aws-import-parts", nil)
	old := partSize
	partSize = 5 << 20 // S3's smallest part
	t.Cleanup(func() { partSize = old })
	spec := proxies.ImageSpec{ID: "1b0c9b8e-0000-4000-8000-0000000000a3", Name: "big", DiskFormat: "raw", Size: 12 << 20}
	var opened atomic.Int32
	st, err := b.Images().ImportImage(t.Context(), spec, readerOf(diskBytes(int(spec.Size)), &opened))
	if err != nil || !st.Ready {
		t.Fatalf("ImportImage of a 3-part image = %+v, %v", st, err)
	}
}

func TestImportRefusals(t *testing.T) {
	b := newMotoBackend(t, "aws-import-bad", nil)
	ctx := t.Context()
	var opened atomic.Int32
	for _, tc := range []struct {
		name string
		spec proxies.ImageSpec
		data []byte
		want error
	}{
		{"qcow2", proxies.ImageSpec{ID: "1b0c9b8e-0000-4000-8000-0000000000c1", DiskFormat: "qcow2", Size: 4}, []byte("QFI\xfb"), proxies.ErrNotSupported},
		{"ova", proxies.ImageSpec{ID: "1b0c9b8e-0000-4000-8000-0000000000c2", DiskFormat: "vmdk", ContainerFormat: "ova", Size: 4}, []byte("KDMV"), proxies.ErrNotSupported},
		{"not a vmdk", proxies.ImageSpec{ID: "1b0c9b8e-0000-4000-8000-0000000000c3", DiskFormat: "vmdk", Size: 1024}, diskBytes(1024), proxies.ErrInvalid},
		{"size mismatch", proxies.ImageSpec{ID: "1b0c9b8e-0000-4000-8000-0000000000c4", DiskFormat: "raw", Size: 99}, diskBytes(10), proxies.ErrInvalid},
		{"no id", proxies.ImageSpec{DiskFormat: "raw"}, diskBytes(10), proxies.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Images().ImportImage(ctx, tc.spec, readerOf(tc.data, &opened))
			if !errors.Is(err, tc.want) {
				t.Errorf("ImportImage = %v; want %v", err, tc.want)
			}
		})
	}
	nobucket := newMotoBackend(t, "aws-import-nobucket", func(c *Config) { c.ImageBucket = "" })
	_, err := nobucket.Images().ImportImage(ctx, proxies.ImageSpec{ID: "1b0c9b8e-0000-4000-8000-0000000000c5", DiskFormat: "raw"}, readerOf(diskBytes(10), &opened))
	if !errors.Is(err, proxies.ErrNotSupported) || !strings.Contains(proxies.SafeMessage(err), "image_bucket") {
		t.Errorf("ImportImage without image_bucket = %v; want ErrNotSupported naming aws.image_bucket", err)
	}
}

// TestSimImportTaskStates: the simulated VM Import moves a task through
// pending → converting → completed, and answers a repeated ClientToken with
// the same task.
func TestSimImportTaskStates(t *testing.T) {
	needMoto(t)
	b := newMotoBackend(t, "aws-import-sim", nil)
	sim := b.ec2.(*vmImportSim)
	ctx := t.Context()
	if err := b.ensureBucket(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	var opened atomic.Int32
	spec := proxies.ImageSpec{ID: "1b0c9b8e-0000-4000-8000-0000000000d1", DiskFormat: "raw", Size: 2048}
	if err := b.upload(ctx, "test", spec, "sim/disk.raw", readerOf(diskBytes(2048), &opened)); err != nil {
		t.Fatal(err)
	}
	in := &ec2.ImportSnapshotInput{ClientToken: awsv2.String("tok-1"), DiskContainer: &types.SnapshotDiskContainer{Format: awsv2.String("RAW"),
		UserBucket: &types.UserBucket{S3Bucket: awsv2.String(SimImageBucket), S3Key: awsv2.String("sim/disk.raw")}}}
	a, err := sim.ImportSnapshot(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := sim.ImportSnapshot(ctx, in)
	if err != nil || awsv2.ToString(again.ImportTaskId) != awsv2.ToString(a.ImportTaskId) {
		t.Errorf("ImportSnapshot with the same ClientToken = %v, %v; want task %s", again, err, awsv2.ToString(a.ImportTaskId))
	}
	var seen []string
	for range 5 {
		out, err := sim.DescribeImportSnapshotTasks(ctx, &ec2.DescribeImportSnapshotTasksInput{ImportTaskIds: []string{awsv2.ToString(a.ImportTaskId)}})
		if err != nil {
			t.Fatal(err)
		}
		d := out.ImportSnapshotTasks[0].SnapshotTaskDetail
		seen = append(seen, fmt.Sprintf("%s/%s/%s", awsv2.ToString(d.Status), awsv2.ToString(d.StatusMessage), awsv2.ToString(d.Progress)))
		if awsv2.ToString(d.Status) == "completed" && awsv2.ToString(d.SnapshotId) == "" {
			t.Error("a completed task names no snapshot")
		}
	}
	want := "active/converting/30 active/converting/70 completed// completed// completed//"
	if got := strings.Join(seen, " "); got != want {
		t.Errorf("task states = %s; want %s", got, want)
	}
	if _, err := sim.DescribeImportSnapshotTasks(ctx, &ec2.DescribeImportSnapshotTasksInput{ImportTaskIds: []string{"import-snap-nope"}}); err == nil {
		t.Error("describing an unknown task = nil; want an error")
	}
}

// TestAMICache: the image is resolved once for many creates; a NotFound
// from RunInstances drops the cached AMI, so the next create resolves it
// again (and finds it gone).
func TestAMICache(t *testing.T) {
	needMoto(t)
	var counter callCounter
	cfg := motoConfig(t)
	b, err := newBackend(t.Context(), "aws-ami-cache", cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)), counter.middleware)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// moto runs instances of unknown AMIs (it validates none by default):
	// the knob answers the next RunInstances as EC2 does for a gone AMI.
	gone := &amiGoneOnce{ec2API: b.ec2}
	b.ec2 = gone
	raw := rawEC2(t)
	ctx := t.Context()
	img := proxies.ImageSpec{ID: "1b0c9b8e-0000-4000-8000-0000000000e1", Name: "cache", DiskFormat: "raw", Size: 4096}
	var opened atomic.Int32
	st, err := b.Images().ImportImage(ctx, img, readerOf(diskBytes(4096), &opened))
	if err != nil {
		t.Fatal(err)
	}
	create := func(n int) error {
		_, err := b.Servers().CreateServer(ctx, proxies.ServerSpec{ID: fmt.Sprintf("1b0c9b8e-0000-4000-8000-0000000001%02d", n), ProjectID: "p",
			Name: "c", ImageID: img.ID, Flavor: proxies.Flavor{ID: "f", VCPUs: 1, RAMMB: 512, DiskGB: 1}})
		return err
	}
	if err := create(1); err != nil {
		t.Fatal(err)
	}
	before := counter.count("DescribeImages")
	for n := 2; n <= 4; n++ {
		if err := create(n); err != nil {
			t.Fatal(err)
		}
	}
	if got := counter.count("DescribeImages") - before; got != 0 {
		t.Errorf("3 more creates of one image made %d DescribeImages; want 0 (cached)", got)
	}
	if _, err := raw.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: awsv2.String(st.BottomID)}); err != nil {
		t.Fatal(err)
	}
	gone.fail.Store(true)
	if err := create(5); !errors.Is(err, proxies.ErrNotFound) {
		t.Fatalf("CreateServer of a deregistered AMI = %v; want ErrNotFound (InvalidAMIID.NotFound)", err)
	}
	before = counter.count("DescribeImages")
	if err := create(6); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("CreateServer after the AMI was dropped = %v; want ErrNotFound", err)
	}
	if counter.count("DescribeImages") == before {
		t.Error("the create after a NotFound did not look the image up again; want the cache entry dropped")
	}
}

// TestCallTimeoutExcludesBucketWait: a call that waits for a request token
// longer than call_timeout still gets call_timeout for itself; a wait over
// rate_wait_timeout answers unavailable without calling EC2.
func TestCallTimeoutExcludesBucketWait(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuseQuota(w, r) {
			return
		}
		calls.Add(1)
		fmt.Fprint(w, zonesOK)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("CANOPY_TEST_AWS_SECRET", "x")
	newB := func(key string, scale float64, wait time.Duration) *Backend {
		b, err := New(t.Context(), "wait", Config{Region: "us-east-1", Endpoint: srv.URL, AccessKeyID: key,
			SecretAccessKeyFrom: "env:CANOPY_TEST_AWS_SECRET", RateScale: scale, CallTimeout: 100 * time.Millisecond, RateWaitTimeout: wait}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// rate_scale 0.05: five describe tokens, one more a second.
	b := newB("AKIAWAITLONG", 0.05, time.Minute)
	for i := range 6 {
		b.zones = nil
		if _, err := b.Inventory().Hosts(t.Context()); err != nil {
			t.Fatalf("Hosts #%d (the sixth waits for a token longer than call_timeout): %v", i+1, err)
		}
	}
	// rate_scale 0.005: one describe token, the next in 10s.
	short := newB("AKIAWAITSHORT", 0.005, 10*time.Millisecond)
	if _, err := short.Inventory().Hosts(t.Context()); err != nil {
		t.Fatal(err)
	}
	n := calls.Load()
	short.zones = nil
	_, err := short.Inventory().Hosts(t.Context())
	if !errors.Is(err, proxies.ErrUnavailable) || !strings.Contains(proxies.SafeMessage(err), "throttled") {
		t.Errorf("Hosts past rate_wait_timeout = %v; want ErrUnavailable (throttled)", err)
	}
	if calls.Load() != n {
		t.Error("a call that found no token reached EC2")
	}
}

// amiGoneOnce answers RunInstances with InvalidAMIID.NotFound once fail is set.
type amiGoneOnce struct {
	ec2API
	fail atomic.Bool
}

func (c *amiGoneOnce) RunInstances(ctx context.Context, in *ec2.RunInstancesInput, opts ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	if c.fail.Swap(false) {
		return nil, simError("InvalidAMIID.NotFound", "The image id '["+awsv2.ToString(in.ImageId)+"]' does not exist")
	}
	return c.ec2API.RunInstances(ctx, in, opts...)
}
