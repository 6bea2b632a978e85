package azure

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/azure/armsim"
)

func readerOf(data []byte) proxies.ImageReader {
	return func(context.Context) (io.ReadSeekCloser, error) { return nopCloser{bytes.NewReader(data)}, nil }
}

func TestVHDFooter(t *testing.T) {
	size := int64(20 * mib)
	f := vhdFooter(size, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if len(f) != 512 || string(f[:8]) != "conectix" {
		t.Fatalf("footer = %q…; want 512 bytes starting with conectix", f[:8])
	}
	if v := binary.BigEndian.Uint32(f[12:]); v != 0x00010000 {
		t.Errorf("version = %#x; want 0x00010000", v)
	}
	if v := binary.BigEndian.Uint64(f[16:]); v != 0xFFFFFFFFFFFFFFFF {
		t.Errorf("data offset = %#x; want all ones (fixed disk)", v)
	}
	if o, c := binary.BigEndian.Uint64(f[40:]), binary.BigEndian.Uint64(f[48:]); o != uint64(size) || c != uint64(size) {
		t.Errorf("sizes = %d, %d; want %d", o, c, size)
	}
	// 40960 sectors: the specification's algorithm gives 602/4/17.
	if c, h, s := binary.BigEndian.Uint16(f[56:]), f[58], f[59]; c != 602 || h != 4 || s != 17 {
		t.Errorf("geometry = %d/%d/%d; want 602/4/17", c, h, s)
	}
	if v := binary.BigEndian.Uint32(f[60:]); v != 2 {
		t.Errorf("disk type = %d; want 2 (fixed)", v)
	}
	var sum uint32
	for i, c := range f {
		if i < 64 || i >= 68 {
			sum += uint32(c)
		}
	}
	if ^sum != binary.BigEndian.Uint32(f[64:]) {
		t.Error("checksum is not the one's complement of the byte sum")
	}
	if got := uploadSize(1); got != 20*mib+512 {
		t.Errorf("uploadSize(1) = %d; want the 20 MiB minimum + 512", got)
	}
	if got := uploadSize(30*mib + 1); got != 31*mib+512 {
		t.Errorf("uploadSize(30 MiB + 1) = %d; want 31 MiB + 512", got)
	}
}

func TestImportImage(t *testing.T) {
	b, sim := newSimBackend(t, armsim.Options{}, nil)
	ctx := t.Context()
	// 1.3 MB of data, a 5 MiB hole (skipped pages), then a tail that is
	// not a whole sector.
	data := append(bytes.Repeat([]byte("canopy-image-"), 100000), make([]byte, 5*mib)...)
	data = append(data, []byte("tail")...)
	const id = "1a6e0c1e-0000-4000-8000-00000000a001"
	spec := proxies.ImageSpec{ID: id, Name: "img", DiskFormat: "raw", ContainerFormat: "bare", Size: int64(len(data))}
	st, err := b.Images().ImportImage(ctx, spec, readerOf(data))
	if err != nil {
		t.Fatalf("ImportImage: %v", err)
	}
	if !st.Ready || st.Location != st.BottomID || !strings.HasSuffix(st.BottomID, "/images/"+imageName(id)) {
		t.Errorf("ImportImage = %+v; want a ready managed image %s as location", st, imageName(id))
	}
	blob, state := sim.UploadedImage(imageDiskName(id))
	if state != string(armcompute.DiskStateUnattached) {
		t.Errorf("upload disk state = %q; want Unattached (uploaded, access revoked)", state)
	}
	if len(blob) != 20*mib+512 {
		t.Fatalf("blob is %d bytes; want 20 MiB + 512", len(blob))
	}
	if !bytes.Equal(blob[:len(data)], data) || !allZero(blob[len(data):len(blob)-512]) {
		t.Error("the blob is not the image followed by zeros")
	}
	if string(blob[len(blob)-512:][:8]) != "conectix" {
		t.Error("the blob does not end with a VHD footer")
	}
	grants := sim.Calls("DisksClient.BeginGrantAccess")
	again, err := b.Images().ImportImage(ctx, spec, readerOf(data))
	if err != nil || again.BottomID != st.BottomID {
		t.Errorf("ImportImage retried = %+v, %v; want %s", again, err, st.BottomID)
	}
	if n := sim.Calls("DisksClient.BeginGrantAccess"); n != grants {
		t.Errorf("a retried import uploaded again (%d grants; want %d)", n, grants)
	}
	if c := sim.Counts(); c["images"] != 1 || c["disks"] != 1 {
		t.Errorf("counts = %v; want one image and one disk", c)
	}
	if got, err := b.Images().GetImage(ctx, id); err != nil || got.BottomID != st.BottomID {
		t.Errorf("GetImage = %+v, %v; want %s", got, err, st.BottomID)
	}
	// A server boots from it (no image_map entry for it).
	srv := serverSpec("5e7a0c1e-0000-4000-8000-00000000a002")
	srv.ImageID = id
	if _, err := b.Servers().CreateServer(ctx, srv); err != nil {
		t.Errorf("CreateServer from the imported image: %v", err)
	}
	for i := range 2 {
		if err := b.Images().DeleteImage(ctx, id); err != nil {
			t.Errorf("DeleteImage #%d = %v; want nil", i+1, err)
		}
	}
	if c := sim.Counts(); c["images"] != 0 {
		t.Errorf("counts after delete = %v; want no image", c)
	}
	if _, err := b.Images().GetImage(ctx, id); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetImage after delete = %v; want ErrNotFound", err)
	}
}

func TestImportImageRefuses(t *testing.T) {
	b, _ := newSimBackend(t, armsim.Options{}, nil)
	ctx := t.Context()
	cases := []struct {
		name string
		spec proxies.ImageSpec
		data []byte
		kind error
	}{
		{"no id", proxies.ImageSpec{DiskFormat: "raw"}, []byte("x"), proxies.ErrInvalid},
		{"iso", proxies.ImageSpec{ID: "i-iso", DiskFormat: "iso"}, []byte("x"), proxies.ErrNotSupported},
		{"ova", proxies.ImageSpec{ID: "i-ova", DiskFormat: "vmdk", ContainerFormat: "ova"}, []byte("x"), proxies.ErrNotSupported},
		{"empty", proxies.ImageSpec{ID: "i-empty", DiskFormat: "raw"}, nil, proxies.ErrInvalid},
	}
	for _, c := range cases {
		if _, err := b.Images().ImportImage(ctx, c.spec, readerOf(c.data)); !errors.Is(err, c.kind) {
			t.Errorf("%s: ImportImage = %v; want %v", c.name, err, c.kind)
		}
	}
}

// TestImportQcow2 converts with qemu-img, which CI installs (qemu-utils).
func TestImportQcow2(t *testing.T) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("qemu-img is missing: CI must install qemu-utils")
		}
		t.Skip("qemu-img is not installed (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	raw := append(bytes.Repeat([]byte{0xEB, 0xFE}, 256), make([]byte, 3*mib)...)
	raw = append(raw, []byte("GW-BOOT-OK")...)
	if err := os.WriteFile(filepath.Join(dir, "in.raw"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(qemuImg, "convert", "-f", "raw", "-O", "qcow2", filepath.Join(dir, "in.raw"), filepath.Join(dir, "out.qcow2")).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	q, err := os.ReadFile(filepath.Join(dir, "out.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	b, sim := newSimBackend(t, armsim.Options{}, nil)
	const id = "9c0f2c1e-0000-4000-8000-00000000a003"
	if _, err := b.Images().ImportImage(t.Context(), proxies.ImageSpec{ID: id, DiskFormat: "qcow2", ContainerFormat: "bare", Size: int64(len(q))}, readerOf(q)); err != nil {
		t.Fatalf("ImportImage(qcow2): %v", err)
	}
	blob, _ := sim.UploadedImage(imageDiskName(id))
	if len(blob) < len(raw) || !bytes.Equal(blob[:len(raw)], raw) {
		t.Error("the uploaded blob is not the qcow2 image's raw content")
	}
}

// TestUploadDiskIsHonest drives armsim's upload path directly: ranges
// that Azure storage refuses are refused, and a disk whose upload has no
// valid footer is not a disk an image can be made from.
func TestUploadDiskIsHonest(t *testing.T) {
	b, _ := newSimBackend(t, armsim.Options{}, nil)
	ctx := t.Context()
	rg, err := b.ensureRG(ctx, "t", imagesProject)
	if err != nil {
		t.Fatal(err)
	}
	total := uploadSize(1)
	disk := armcompute.Disk{Location: to.Ptr("westeurope"), Properties: &armcompute.DiskProperties{CreationData: &armcompute.CreationData{
		CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr(total)}}}
	bad := disk
	bad.Properties = &armcompute.DiskProperties{CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr(int64(mib))}}
	if p, err := b.disks.BeginCreateOrUpdate(ctx, rg, "bad", bad, nil); err == nil {
		if _, err = p.PollUntilDone(ctx, testPoll); err == nil {
			t.Error("an upload disk of 1 MiB (no footer, under 20 MiB) was accepted")
		}
	}
	p, err := b.disks.BeginCreateOrUpdate(ctx, rg, "up", disk, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, testPoll)
	}
	if err != nil {
		t.Fatalf("create upload disk: %v", err)
	}
	gp, err := b.disks.BeginGrantAccess(ctx, rg, "up", armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelWrite), DurationInSeconds: to.Ptr(int32(60))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	grant, err := gp.PollUntilDone(ctx, testPoll)
	if err != nil || grant.AccessSAS == nil {
		t.Fatalf("grant = %+v, %v", grant, err)
	}
	put := func(rng string, body []byte) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, *grant.AccessSAS+"&comp=page", bytes.NewReader(body))
		req.Header.Set("x-ms-page-write", "update")
		req.Header.Set("x-ms-range", rng)
		resp, err := b.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put("bytes=0-511", make([]byte, 512)); code != http.StatusCreated {
		t.Errorf("an aligned page = %d; want 201", code)
	}
	if code := put("bytes=1-512", make([]byte, 512)); code != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("a misaligned page = %d; want 416", code)
	}
	if code := put("bytes=0-4194815", make([]byte, 4*mib+512)); code != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("a range over 4 MiB = %d; want 416", code)
	}
	last := "bytes=" + strconv.FormatInt(total-512, 10) + "-" + strconv.FormatInt(total-1, 10)
	if code := put(last, make([]byte, 512)); code != http.StatusBadRequest {
		t.Errorf("a footer without the conectix cookie = %d; want 400", code)
	}
	if code := put(last, vhdFooter(total-1024, time.Now())); code != http.StatusBadRequest {
		t.Errorf("a footer with the wrong size = %d; want 400", code)
	}
	rp, err := b.disks.BeginRevokeAccess(ctx, rg, "up", nil)
	if err == nil {
		_, err = rp.PollUntilDone(ctx, testPoll)
	}
	if err != nil {
		t.Fatal(err)
	}
	if code := put("bytes=0-511", make([]byte, 512)); code != http.StatusForbidden {
		t.Errorf("a page after revoke = %d; want 403", code)
	}
	d, err := b.disks.Get(ctx, rg, "up", nil)
	if err != nil || *d.Properties.DiskState != armcompute.DiskStateReadyToUpload {
		t.Errorf("disk without a footer after revoke: %v, %v; want ReadyToUpload", d.Properties.DiskState, err)
	}
	ip, err := b.images.BeginCreateOrUpdate(ctx, rg, "img", armcompute.Image{Location: to.Ptr("westeurope"), Properties: &armcompute.ImageProperties{
		StorageProfile: &armcompute.ImageStorageProfile{OSDisk: &armcompute.ImageOSDisk{OSType: to.Ptr(armcompute.OperatingSystemTypesLinux),
			OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized), ManagedDisk: &armcompute.SubResource{ID: d.ID}}}}}, nil)
	if err == nil {
		_, err = ip.PollUntilDone(ctx, testPoll)
	}
	if err == nil {
		t.Error("an image was made from a disk whose upload never completed")
	}
}

// testPoll polls the simulator's operations at once: without Retry-After
// the SDK waits 30 s between polls.
var testPoll = &runtime.PollUntilDoneOptions{Frequency: 10 * time.Millisecond}
