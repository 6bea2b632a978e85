package azure

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/canopy-cloud/canopy/proxies"
)

// Image import, the way Azure users do it without a storage account: a
// managed disk created for upload (createOption Upload, uploadSizeBytes =
// the raw image rounded up to a MiB, at least 20 MiB, plus the 512-byte
// VHD footer), a write SAS from grantAccess, the bytes written to that SAS
// as a fixed VHD page blob (Put Page, 4 MiB ranges, all-zero ranges
// skipped as a page blob reads zeros), revokeAccess, and a managed image
// whose OS disk is that disk. Everything is named from the top id
// (canopy-img-<id>, its disk canopy-img-<id>-disk) in the images resource
// group (<prefix>images), so a retry finds what the first try made: an
// image that exists is returned as is, a disk already uploaded (state
// Unattached) is not uploaded again.

const (
	mib            = 1 << 20
	pageRange      = 4 * mib        // the largest Put Page range
	minUploadBytes = 20 * mib       // Azure's smallest upload disk (before the footer)
	vhdFooterSize  = 512            // the fixed-VHD footer
	imagesProject  = "images"       // the resource group suffix imported images live in
	uploadSASTime  = int32(60 * 60) // seconds a write SAS stays valid
	blobAPIVersion = "2021-08-06"
)

func imageDiskName(id string) string { return imageName(id) + "-disk" }

type images Backend

// uploadSize is the disk's uploadSizeBytes for a raw image of size bytes.
func uploadSize(size int64) int64 {
	padded := (size + mib - 1) / mib * mib
	return max(padded, minUploadBytes) + vhdFooterSize
}

// vhdFooter is the 512-byte footer of a fixed VHD of size bytes (Microsoft's
// "Virtual Hard Disk Image Format Specification", hard disk footer format).
func vhdFooter(size int64, now time.Time) []byte {
	f := make([]byte, vhdFooterSize)
	copy(f[0:8], "conectix")
	binary.BigEndian.PutUint32(f[8:], 2)                    // features: reserved bit set
	binary.BigEndian.PutUint32(f[12:], 0x00010000)          // file format version
	binary.BigEndian.PutUint64(f[16:], 0xFFFFFFFFFFFFFFFF)  // data offset: none (fixed disk)
	vhdEpoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // timestamps count seconds from here
	binary.BigEndian.PutUint32(f[24:], uint32(max(now.Sub(vhdEpoch)/time.Second, 0)))
	copy(f[28:32], "cnpy")                         // creator application
	binary.BigEndian.PutUint32(f[32:], 0x00010000) // creator version
	copy(f[36:40], "Wi2k")                         // creator host OS (what Azure's tools write)
	binary.BigEndian.PutUint64(f[40:], uint64(size))
	binary.BigEndian.PutUint64(f[48:], uint64(size))
	c, h, s := vhdGeometry(size)
	binary.BigEndian.PutUint16(f[56:], c)
	f[58], f[59] = h, s
	binary.BigEndian.PutUint32(f[60:], 2) // disk type: fixed
	_, _ = rand.Read(f[68:84])            // unique id
	f[84] = 0                             // saved state
	var sum uint32
	for _, b := range f {
		sum += uint32(b)
	}
	binary.BigEndian.PutUint32(f[64:], ^sum)
	return f
}

// vhdGeometry is the CHS geometry the VHD specification derives from a
// size (its appendix "CHS Calculation").
func vhdGeometry(size int64) (cyl uint16, heads, spt uint8) {
	total := size / 512
	if total > 65535*16*255 {
		total = 65535 * 16 * 255
	}
	var sectors, hds, cth int64
	if total >= 65535*16*63 {
		sectors, hds = 255, 16
		cth = total / sectors
	} else {
		sectors = 17
		cth = total / sectors
		hds = (cth + 1023) / 1024
		if hds < 4 {
			hds = 4
		}
		if cth >= hds*1024 || hds > 16 {
			sectors, hds = 31, 16
			cth = total / sectors
		}
		if cth >= hds*1024 {
			sectors, hds = 63, 16
			cth = total / sectors
		}
	}
	return uint16(cth / hds), uint8(hds), uint8(sectors)
}

// importable checks the formats the proxy can turn into a fixed VHD.
func importable(op string, spec proxies.ImageSpec) error {
	if c := spec.ContainerFormat; c != "" && c != "bare" {
		return proxies.Errorf(proxies.ErrNotSupported, op, "the Azure cloud imports bare disk images only, not container_format %s", c)
	}
	if f := spec.DiskFormat; f != "" && f != "raw" {
		if !proxies.CanConvertToRaw(f) {
			return proxies.Errorf(proxies.ErrNotSupported, op, "the Azure cloud cannot import disk_format %s; use raw, qcow2, vmdk, vhd, vhdx or vdi", f)
		}
	}
	return nil
}

func (d *images) ImportImage(ctx context.Context, spec proxies.ImageSpec, data proxies.ImageReader) (proxies.ImageStatus, error) {
	const op = "ImportImage"
	b := (*Backend)(d)
	if spec.ID == "" {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "an image needs its top id")
	}
	if err := importable(op, spec); err != nil {
		return proxies.ImageStatus{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*b.cfg.OperationTimeout)
	defer cancel()
	rg, err := b.ensureRG(ctx, op, imagesProject)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	if im, err := b.images.Get(ctx, rg, imageName(spec.ID), nil); err == nil {
		b.remember(ctx, "image", spec.ID, rg)
		return imageStatus(spec.ID, &im.Image, spec.Size), nil
	} else if !isNotFound(err) {
		return proxies.ImageStatus{}, mapErr(op, "could not read the image", err)
	}
	b.remember(ctx, "image", spec.ID, rg)
	loc := to.Ptr(b.cfg.Locations[0].Name)
	tags := b.tags(spec.ID, "")
	delete(tags, tagProject)
	diskName := imageDiskName(spec.ID)
	disk, err := b.disks.Get(ctx, rg, diskName, nil)
	if err != nil && !isNotFound(err) {
		return proxies.ImageStatus{}, mapErr(op, "could not read the upload disk", err)
	}
	uploaded := err == nil && disk.Properties != nil && disk.Properties.DiskState != nil && *disk.Properties.DiskState == armcompute.DiskStateUnattached
	if !uploaded {
		if err := b.uploadImage(ctx, op, rg, diskName, loc, tags, spec, data, err == nil); err != nil {
			return proxies.ImageStatus{}, err
		}
	}
	diskID := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/disks/%s", b.cfg.SubscriptionID, rg, diskName)
	im, err := run(ctx, b, spec.ID+"/import-image", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.ImagesClientCreateOrUpdateResponse], error) {
		return b.images.BeginCreateOrUpdate(ctx, rg, imageName(spec.ID), armcompute.Image{Location: loc, Tags: tags,
			Properties: &armcompute.ImageProperties{HyperVGeneration: to.Ptr(armcompute.HyperVGenerationTypesV1),
				StorageProfile: &armcompute.ImageStorageProfile{OSDisk: &armcompute.ImageOSDisk{
					// ImageSpec carries no os_type: Linux, as Canopy's images are.
					OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
					ManagedDisk: &armcompute.SubResource{ID: &diskID}}}}},
			&armcompute.ImagesClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return proxies.ImageStatus{}, mapErr(op, "the managed image could not be made", err)
	}
	return imageStatus(spec.ID, &im.Image, spec.Size), nil
}

func imageStatus(id string, im *armcompute.Image, size int64) proxies.ImageStatus {
	ready := im.Properties == nil || im.Properties.ProvisioningState == nil || *im.Properties.ProvisioningState == "Succeeded"
	return proxies.ImageStatus{ID: id, BottomID: *im.ID, Location: *im.ID, Size: size, Ready: ready}
}

// uploadImage makes (or reuses) the upload disk and writes the image to it.
func (b *Backend) uploadImage(ctx context.Context, op, rg, diskName string, loc *string, tags map[string]*string,
	spec proxies.ImageSpec, data proxies.ImageReader, exists bool) error {
	r, err := data(ctx)
	if err != nil {
		return &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "the image's bytes cannot be read", Cause: err}
	}
	defer r.Close()
	var src io.ReadSeeker = r
	if f := spec.DiskFormat; f != "" && f != "raw" {
		raw, done, err := proxies.ToRaw(ctx, op, "Azure", f, r)
		if err != nil {
			return err
		}
		defer done()
		src = raw
	}
	size, err := src.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = src.Seek(0, io.SeekStart)
	}
	if err != nil || size <= 0 {
		return &proxies.Error{Kind: proxies.ErrInvalid, Op: op, Message: "the image is empty or cannot be sized", Cause: err}
	}
	total := uploadSize(size)
	if !exists {
		_, err = run(ctx, b, spec.ID+"/import-disk", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.DisksClientCreateOrUpdateResponse], error) {
			return b.disks.BeginCreateOrUpdate(ctx, rg, diskName, armcompute.Disk{Location: loc, Tags: tags,
				SKU: &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypesStandardLRS)},
				Properties: &armcompute.DiskProperties{OSType: to.Ptr(armcompute.OperatingSystemTypesLinux),
					HyperVGeneration: to.Ptr(armcompute.HyperVGenerationV1),
					CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload),
						UploadSizeBytes: to.Ptr(total)}}},
				&armcompute.DisksClientBeginCreateOrUpdateOptions{ResumeToken: tok})
		})
		if err != nil {
			return mapErr(op, "the upload disk could not be made", err)
		}
	}
	grant, err := run(ctx, b, spec.ID+"/import-grant", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.DisksClientGrantAccessResponse], error) {
		return b.disks.BeginGrantAccess(ctx, rg, diskName, armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelWrite),
			DurationInSeconds: to.Ptr(uploadSASTime)}, &armcompute.DisksClientBeginGrantAccessOptions{ResumeToken: tok})
	})
	if err != nil {
		return mapErr(op, "write access to the upload disk was refused", err)
	}
	if grant.AccessSAS == nil {
		return proxies.Errorf(proxies.ErrUnavailable, op, "Azure granted no upload URL")
	}
	upErr := b.putPages(ctx, op, *grant.AccessSAS, src, size, total)
	_, err = run(ctx, b, spec.ID+"/import-revoke", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.DisksClientRevokeAccessResponse], error) {
		return b.disks.BeginRevokeAccess(ctx, rg, diskName, &armcompute.DisksClientBeginRevokeAccessOptions{ResumeToken: tok})
	})
	if upErr != nil {
		return upErr
	}
	return mapErr(op, "the upload disk could not be closed", err)
}

// putPages writes the raw image, its zero padding and the VHD footer to
// the page blob at sas, in ranges of at most 4 MiB; ranges that are all
// zeros are skipped (a new page blob reads zeros).
func (b *Backend) putPages(ctx context.Context, op, sas string, src io.Reader, size, total int64) error {
	u, err := url.Parse(sas)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return proxies.Errorf(proxies.ErrUnavailable, op, "Azure granted an upload URL that is not valid")
	}
	q := u.Query()
	q.Set("comp", "page")
	u.RawQuery = q.Encode()
	target := u.String()
	buf := make([]byte, pageRange)
	var off int64
	for off < size {
		n, err := io.ReadFull(src, buf[:min(pageRange, size-off)])
		if err != nil {
			return &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "the image's bytes cannot be read", Cause: err}
		}
		chunk := buf[:(n+511)/512*512]
		clear(chunk[n:])
		if !allZero(chunk) {
			if err := b.putPage(ctx, op, target, off, chunk); err != nil {
				return err
			}
		}
		off += int64(n)
	}
	return b.putPage(ctx, op, target, total-vhdFooterSize, vhdFooter(total-vhdFooterSize, time.Now()))
}

func allZero(p []byte) bool {
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}

// putPage is one Put Page call. Its errors never carry the SAS URL.
func (b *Backend) putPage(ctx context.Context, op, target string, off int64, page []byte) error {
	var last error
	delay := b.cfg.retryDelay
	if delay <= 0 {
		delay = 800 * time.Millisecond // the SDK's default base delay
	}
	for attempt := range b.cfg.MaxRetries + 1 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return proxies.Errorf(proxies.ErrUnavailable, op, "the image upload did not finish in time")
			case <-time.After(delay << (attempt - 1)):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, bytes.NewReader(page))
		if err != nil {
			return proxies.Errorf(proxies.ErrUnavailable, op, "Azure granted an upload URL that is not valid")
		}
		req.ContentLength = int64(len(page))
		req.Header.Set("x-ms-version", blobAPIVersion)
		req.Header.Set("x-ms-page-write", "update")
		req.Header.Set("x-ms-range", fmt.Sprintf("bytes=%d-%d", off, off+int64(len(page))-1))
		resp, err := b.http.Do(req)
		if err != nil {
			last = proxies.Errorf(proxies.ErrUnavailable, op, "the image upload could not reach Azure storage")
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			last = proxies.Errorf(proxies.ErrUnavailable, op, "Azure storage answered %d to an image page", resp.StatusCode)
			continue
		}
		return proxies.Errorf(proxies.ErrUnavailable, op, "Azure storage refused an image page (%d %s)", resp.StatusCode, resp.Header.Get("x-ms-error-code"))
	}
	return last
}

func (d *images) GetImage(ctx context.Context, id string) (proxies.ImageStatus, error) {
	const op = "GetImage"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg := b.lookupRG(ctx, "image", id)
	if rg == "" {
		rg = b.resourceGroup(imagesProject)
	}
	im, err := b.images.Get(ctx, rg, imageName(id), nil)
	if isNotFound(err) {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "image %s has no copy in this Azure cloud", id)
	}
	if err != nil {
		return proxies.ImageStatus{}, mapErr(op, "could not read the image", err)
	}
	return imageStatus(id, &im.Image, 0), nil
}

func (d *images) DeleteImage(ctx context.Context, id string) error {
	const op = "DeleteImage"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	rg := b.lookupRG(ctx, "image", id)
	if rg == "" {
		rg = b.resourceGroup(imagesProject)
	}
	_, err := run(ctx, b, id+"/image-delete", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.ImagesClientDeleteResponse], error) {
		return b.images.BeginDelete(ctx, rg, imageName(id), &armcompute.ImagesClientBeginDeleteOptions{ResumeToken: tok})
	})
	if err != nil && !isNotFound(err) {
		return mapErr(op, "the image could not be deleted", err)
	}
	// The source of an imported image (its upload disk) or of a captured
	// one (its OS-disk snapshot).
	_, err = run(ctx, b, id+"/image-disk-delete", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.DisksClientDeleteResponse], error) {
		return b.disks.BeginDelete(ctx, rg, imageDiskName(id), &armcompute.DisksClientBeginDeleteOptions{ResumeToken: tok})
	})
	if err != nil && !isNotFound(err) {
		return mapErr(op, "the image's disk could not be deleted", err)
	}
	_, err = run(ctx, b, id+"/image-snapshot-delete", func(ctx context.Context, tok string) (*runtime.Poller[armcompute.SnapshotsClientDeleteResponse], error) {
		return b.snaps.BeginDelete(ctx, rg, imageName(id)+"-os", &armcompute.SnapshotsClientBeginDeleteOptions{ResumeToken: tok})
	})
	if err != nil && !isNotFound(err) && !errors.Is(err, context.Canceled) {
		return mapErr(op, "the image's snapshot could not be deleted", err)
	}
	b.forget(ctx, "image", id)
	return nil
}
