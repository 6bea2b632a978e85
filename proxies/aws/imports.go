package aws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// s3API is the part of the S3 client image import uses: *s3.Client in
// production.
type s3API interface {
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput, opts ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	CreateBucket(ctx context.Context, in *s3.CreateBucketInput, opts ...func(*s3.Options)) (*s3.CreateBucketOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

var _ s3API = (*s3.Client)(nil)

// tagImage marks an imported EBS snapshot with the top image id it was
// imported for, so that DeleteImage finds it even when no AMI was
// registered from it.
const tagImage = "canopy:image"

// partSize is the part of a multipart upload; images up to one part go in
// one PutObject.
var partSize int64 = 64 << 20

// maxImportTries is how many import tasks one image may use: a task that
// failed (its ClientToken would answer the same failed task forever) is
// followed by one with the next token.
const maxImportTries = 3

// importFormats maps Glance disk formats to VM Import's disk container
// formats (ImportSnapshot takes VHD, VMDK and RAW).
var importFormats = map[string]types.DiskImageFormat{
	"raw": types.DiskImageFormatRaw, "vmdk": types.DiskImageFormatVmdk,
	"vhd": types.DiskImageFormatVhd, "vpc": types.DiskImageFormatVhd,
}

// lockImport serialises the imports of one top image id in this process.
func (b *Backend) lockImport(id string) func() {
	b.importMu.Lock()
	if b.imports == nil {
		b.imports = map[string]*sync.Mutex{}
	}
	mu := b.imports[id]
	if mu == nil {
		mu = &sync.Mutex{}
		b.imports[id] = mu
	}
	b.importMu.Unlock()
	mu.Lock()
	return mu.Unlock
}

// importImage makes an AMI of the image's bytes: upload to image_bucket
// (skipped when the object is already there at the right size),
// ImportSnapshot (ClientToken derived from the top id, so a retry joins the
// running task), a wait on DescribeImportSnapshotTasks that logs progress,
// then RegisterImage of the snapshot, tagged canopy:id. Every step finds
// what an earlier attempt made.
func (b *Backend) importImage(ctx context.Context, spec proxies.ImageSpec, data proxies.ImageReader) (proxies.ImageStatus, error) {
	const op = "ImportImage"
	if b.cfg.ImageBucket == "" || b.s3 == nil {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrNotSupported, op,
			"image %s has no ami_map entry in AWS cloud %s, and the cloud has no aws.image_bucket to import image bytes through; set one or map the image in aws.ami_map", spec.ID, b.name)
	}
	format, ok := importFormats[strings.ToLower(orDefault(spec.DiskFormat, "raw"))]
	if !ok || (spec.ContainerFormat != "" && spec.ContainerFormat != "bare") {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrNotSupported, op,
			"image %s is %s/%s; AWS VM Import takes raw, vmdk or vhd disks in a bare container: convert it first", spec.ID, spec.DiskFormat, spec.ContainerFormat)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.ImportTimeout)
	defer cancel()
	unlock := b.lockImport(spec.ID)
	defer unlock()
	if img, err := b.findImage(ctx, op, spec.ID); err != nil || img != nil { // made while we waited for the lock
		if img == nil {
			return proxies.ImageStatus{}, err
		}
		return b.imageStatus(spec.ID, img), nil
	}
	snap, err := b.importedSnapshot(ctx, op, spec.ID)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	if snap == "" {
		key := "canopy/images/" + spec.ID + "." + strings.ToLower(string(format))
		if err := b.upload(ctx, op, spec, key, data); err != nil {
			return proxies.ImageStatus{}, err
		}
		if snap, err = b.importSnapshot(ctx, op, spec, key, format); err != nil {
			return proxies.ImageStatus{}, err
		}
		if _, err := b.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: awsv2.String(b.cfg.ImageBucket), Key: awsv2.String(key)}); err != nil {
			b.log.Warn("could not delete an imported image's upload", "image", spec.ID, "key", key, "err", err)
		}
	}
	return b.registerImage(ctx, op, spec, snap)
}

// importedSnapshot is the completed snapshot an earlier import of top id
// left (tagged canopy:image), or "".
func (b *Backend) importedSnapshot(ctx context.Context, op, id string) (string, error) {
	out, err := b.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
		Filters: []types.Filter{filter("tag:"+tagImage, id), filter("tag:"+tagCloud, b.name)}})
	if err != nil {
		return "", mapErr(op, err)
	}
	for _, s := range out.Snapshots {
		if s.State == types.SnapshotStateCompleted {
			return awsv2.ToString(s.SnapshotId), nil
		}
	}
	return "", nil
}

// ensureBucket creates image_bucket when it does not exist.
func (b *Backend) ensureBucket(ctx context.Context, op string) error {
	bucket := awsv2.String(b.cfg.ImageBucket)
	_, err := b.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket})
	if err == nil {
		return nil
	}
	var nf *s3types.NotFound
	var nb *s3types.NoSuchBucket
	if !errors.As(err, &nf) && !errors.As(err, &nb) && !isCode(err, "NotFound", "NoSuchBucket") {
		return mapErr(op, err)
	}
	in := &s3.CreateBucketInput{Bucket: bucket}
	if b.cfg.Region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(b.cfg.Region)}
	}
	if _, err := b.s3.CreateBucket(ctx, in); err != nil && !isCode(err, "BucketAlreadyOwnedByYou") {
		return mapErr(op, err)
	}
	b.log.Info("created the image bucket", "bucket", b.cfg.ImageBucket)
	return nil
}

// upload puts the image's bytes at key, unless an object of the image's
// size is there already (a retried import). Images over partSize go up in
// parts.
func (b *Backend) upload(ctx context.Context, op string, spec proxies.ImageSpec, key string, data proxies.ImageReader) error {
	if err := b.ensureBucket(ctx, op); err != nil {
		return err
	}
	bucket := awsv2.String(b.cfg.ImageBucket)
	if h, err := b.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: awsv2.String(key)}); err == nil &&
		awsv2.ToInt64(h.ContentLength) > 0 && (spec.Size <= 0 || awsv2.ToInt64(h.ContentLength) == spec.Size) {
		return nil
	}
	if data == nil {
		return proxies.Errorf(proxies.ErrInvalid, op, "image %s: no bytes to import", spec.ID)
	}
	rc, err := data(ctx)
	if err != nil {
		e := proxies.Errorf(proxies.ErrUnavailable, op, "the bytes of image %s could not be read", spec.ID)
		e.Cause = err
		return e
	}
	defer rc.Close()
	size, err := rc.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = rc.Seek(0, io.SeekStart)
	}
	if err != nil {
		e := proxies.Errorf(proxies.ErrUnavailable, op, "the bytes of image %s could not be read", spec.ID)
		e.Cause = err
		return e
	}
	if size == 0 || (spec.Size > 0 && size != spec.Size) {
		return proxies.Errorf(proxies.ErrInvalid, op, "image %s holds %d bytes; its record says %d", spec.ID, size, spec.Size)
	}
	if size <= partSize {
		_, err := b.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: awsv2.String(key), Body: rc, ContentLength: awsv2.Int64(size)})
		return mapErr(op, err)
	}
	return b.uploadParts(ctx, op, key, rc, size)
}

// uploadParts is a multipart upload of size bytes read from r, one part in
// memory at a time; a failed upload is aborted.
func (b *Backend) uploadParts(ctx context.Context, op, key string, r io.Reader, size int64) error {
	bucket, k := awsv2.String(b.cfg.ImageBucket), awsv2.String(key)
	mp, err := b.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: k})
	if err != nil {
		return mapErr(op, err)
	}
	abort := func(err error) error {
		if _, aerr := b.s3.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: bucket, Key: k, UploadId: mp.UploadId}); aerr != nil {
			b.log.Warn("could not abort a multipart upload", "key", key, "err", aerr)
		}
		return mapErr(op, err)
	}
	buf := make([]byte, partSize)
	var parts []s3types.CompletedPart
	for n := int32(1); size > 0; n++ {
		got, err := io.ReadFull(r, buf[:min(partSize, size)])
		if err != nil {
			return abort(err)
		}
		size -= int64(got)
		out, err := b.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: k, UploadId: mp.UploadId, PartNumber: awsv2.Int32(n),
			Body: bytes.NewReader(buf[:got]), ContentLength: awsv2.Int64(int64(got))})
		if err != nil {
			return abort(err)
		}
		parts = append(parts, s3types.CompletedPart{ETag: out.ETag, PartNumber: awsv2.Int32(n)})
	}
	_, err = b.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: k, UploadId: mp.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		return abort(err)
	}
	return nil
}

// importToken is the ClientToken of an image's try-th import task.
func importToken(id string, try int) string {
	if try == 0 {
		return "canopy-image-" + id
	}
	return fmt.Sprintf("canopy-image-%s-r%d", id, try)
}

// importSnapshot runs (or joins) the image's import task and waits for its
// snapshot, which it tags canopy:image. A task that fails is followed by one
// with the next token, up to maxImportTries.
func (b *Backend) importSnapshot(ctx context.Context, op string, spec proxies.ImageSpec, key string, format types.DiskImageFormat) (string, error) {
	var last string
	for try := range maxImportTries {
		in := &ec2.ImportSnapshotInput{
			ClientToken: awsv2.String(importToken(spec.ID, try)),
			Description: awsv2.String("canopy image " + spec.ID),
			DiskContainer: &types.SnapshotDiskContainer{Format: awsv2.String(string(format)),
				UserBucket: &types.UserBucket{S3Bucket: awsv2.String(b.cfg.ImageBucket), S3Key: awsv2.String(key)}},
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeImportSnapshotTask,
				Tags: tagList(tagID, spec.ID, tagCloud, b.name)}},
		}
		if b.cfg.ImportRole != "" {
			in.RoleName = awsv2.String(b.cfg.ImportRole)
		}
		out, err := b.ec2.ImportSnapshot(ctx, in)
		if err != nil {
			return "", mapErr(op, err)
		}
		snap, msg, err := b.waitImport(ctx, op, spec.ID, awsv2.ToString(out.ImportTaskId))
		if err != nil {
			return "", err
		}
		if snap != "" {
			if _, err := b.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{snap},
				Tags: tagList(tagImage, spec.ID, tagCloud, b.name, "Name", "canopy image "+spec.Name)}); err != nil {
				return "", mapErr(op, err)
			}
			return snap, nil
		}
		last = msg
		b.log.Warn("an image import task failed", "image", spec.ID, "task", awsv2.ToString(out.ImportTaskId), "status", msg)
	}
	return "", proxies.Errorf(proxies.ErrInvalid, op, "AWS VM Import could not convert image %s (%s)", spec.ID, last)
}

// waitImport polls one import task until it completes (its snapshot) or
// fails (its status message), logging its progress.
func (b *Backend) waitImport(ctx context.Context, op, id, task string) (snap, failed string, err error) {
	progress := ""
	for {
		out, err := b.ec2.DescribeImportSnapshotTasks(ctx, &ec2.DescribeImportSnapshotTasksInput{ImportTaskIds: []string{task}})
		if err != nil {
			return "", "", mapErr(op, err)
		}
		if len(out.ImportSnapshotTasks) == 0 || out.ImportSnapshotTasks[0].SnapshotTaskDetail == nil {
			return "", "", proxies.Errorf(proxies.ErrUnavailable, op, "the import task of image %s vanished", id)
		}
		d := out.ImportSnapshotTasks[0].SnapshotTaskDetail
		status, msg := awsv2.ToString(d.Status), awsv2.ToString(d.StatusMessage)
		switch status {
		case "completed":
			b.log.Info("image import completed", "image", id, "task", task, "snapshot", awsv2.ToString(d.SnapshotId))
			return awsv2.ToString(d.SnapshotId), "", nil
		case "deleting", "deleted":
			return "", orDefault(msg, status), nil
		}
		if p := status + "/" + msg + "/" + awsv2.ToString(d.Progress); p != progress {
			progress = p
			b.log.Info("importing an image", "image", id, "task", task, "status", status, "message", msg, "progress", awsv2.ToString(d.Progress))
		}
		t := time.NewTimer(b.cfg.importPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", "", mapErr(op, ctx.Err())
		case <-t.C:
		}
	}
}

// registerImage registers the imported snapshot as the image's AMI (name
// canopy-<id>, unique in the account, so a concurrent or retried register
// finds the first), tagged canopy:id.
func (b *Backend) registerImage(ctx context.Context, op string, spec proxies.ImageSpec, snap string) (proxies.ImageStatus, error) {
	name := "canopy-" + spec.ID
	tags := tagList(tagID, spec.ID, tagCloud, b.name, "Name", spec.Name)
	out, err := b.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{
		Name: awsv2.String(name), Description: awsv2.String("Canopy image " + spec.ID + " " + spec.Name),
		Architecture: types.ArchitectureValuesX8664, VirtualizationType: awsv2.String("hvm"), EnaSupport: awsv2.Bool(true),
		RootDeviceName: awsv2.String("/dev/xvda"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: awsv2.String("/dev/xvda"),
			Ebs: &types.EbsBlockDevice{SnapshotId: awsv2.String(snap), DeleteOnTermination: awsv2.Bool(true), VolumeType: types.VolumeTypeGp3}}},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeImage, Tags: tags}},
	})
	var ami string
	switch {
	case err == nil:
		ami = awsv2.ToString(out.ImageId)
	case isCode(err, "InvalidAMIName.Duplicate"):
		found, ferr := b.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{filter("name", name)}})
		if ferr != nil || len(found.Images) == 0 {
			return proxies.ImageStatus{}, mapErr(op, err)
		}
		ami = awsv2.ToString(found.Images[0].ImageId)
	default:
		return proxies.ImageStatus{}, mapErr(op, err)
	}
	// Tag again: some EC2 look-alikes drop RegisterImage's tag
	// specifications, and a duplicate name may be an untagged first try.
	if _, err := b.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{ami}, Tags: tags}); err != nil {
		return proxies.ImageStatus{}, mapErr(op, err)
	}
	img, err := b.findImage(ctx, op, spec.ID)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	if img == nil {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrUnavailable, op, "AMI %s of image %s is not listed yet", ami, spec.ID)
	}
	return b.imageStatus(spec.ID, img), nil
}

// deleteImportedSnapshots deletes the snapshots imported for top image id
// (tagged canopy:image): those of a registered AMI and those an import left
// before its RegisterImage.
func (b *Backend) deleteImportedSnapshots(ctx context.Context, op, id string) error {
	out, err := b.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
		Filters: []types.Filter{filter("tag:"+tagImage, id), filter("tag:"+tagCloud, b.name)}})
	if err != nil {
		return mapErr(op, err)
	}
	for _, s := range out.Snapshots {
		if _, err := b.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: s.SnapshotId}); err != nil && !isNotFound(err) {
			return mapErr(op, err)
		}
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
