package aws

import (
	"context"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// imageDriver keeps Canopy images as AMIs: ami_map entries (reused, never
// deregistered), the AMIs of server snapshots and of imported images (both
// tagged canopy:id).
type imageDriver struct{ b *Backend }

// findImage returns this cloud's AMI tagged with top id, or nil.
func (b *Backend) findImage(ctx context.Context, op, id string) (*types.Image, error) {
	out, err := b.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{
		{Name: awsv2.String("tag:" + tagID), Values: []string{id}},
		{Name: awsv2.String("tag:" + tagCloud), Values: []string{b.name}},
	}})
	if err != nil {
		return nil, mapErr(op, err)
	}
	for i := range out.Images {
		if out.Images[i].State != types.ImageStateDeregistered {
			return &out.Images[i], nil
		}
	}
	return nil, nil
}

// mappedImage returns the ami_map AMI of top id, or nil when it has none.
func (b *Backend) mappedImage(ctx context.Context, op, id string) (*types.Image, error) {
	ami, ok := b.cfg.AMIMap[id]
	if !ok {
		return nil, nil
	}
	out, err := b.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil {
		if isNotFound(err) {
			return nil, proxies.Errorf(proxies.ErrNotFound, op, "aws.ami_map maps image %s to %s, which does not exist in %s", id, ami, b.cfg.Region)
		}
		return nil, mapErr(op, err)
	}
	if len(out.Images) == 0 {
		return nil, proxies.Errorf(proxies.ErrNotFound, op, "aws.ami_map maps image %s to %s, which does not exist in %s", id, ami, b.cfg.Region)
	}
	return &out.Images[0], nil
}

// lookupImage finds top image id: ami_map first, then snapshot AMIs.
func (b *Backend) lookupImage(ctx context.Context, op, id string) (*types.Image, error) {
	if img, err := b.mappedImage(ctx, op, id); err != nil || img != nil {
		return img, err
	}
	return b.findImage(ctx, op, id)
}

// amiFor is the AMI a server of top image id boots. The answer is cached
// (a create resolves the image once per image, not twice per server);
// forgetAMI drops it when EC2 answers that the AMI is gone.
func (b *Backend) amiFor(ctx context.Context, op, id string) (string, error) {
	b.amiMu.Lock()
	ami, ok := b.amis[id]
	b.amiMu.Unlock()
	if ok {
		return ami, nil
	}
	img, err := b.lookupImage(ctx, op, id)
	if err != nil {
		return "", err
	}
	if img == nil {
		return "", proxies.Errorf(proxies.ErrNotFound, op, "image %s has no AMI in AWS cloud %s; import it (aws.image_bucket) or map it in aws.ami_map", id, b.name)
	}
	ami = awsv2.ToString(img.ImageId)
	if img.State == types.ImageStateAvailable {
		b.amiMu.Lock()
		if b.amis == nil {
			b.amis = map[string]string{}
		}
		b.amis[id] = ami
		b.amiMu.Unlock()
	}
	return ami, nil
}

// forgetAMI drops the cached AMI of top image id.
func (b *Backend) forgetAMI(id string) {
	b.amiMu.Lock()
	delete(b.amis, id)
	b.amiMu.Unlock()
}

// amiGone reports whether err says the AMI a call named does not exist or
// cannot be used any more (deregistered, not yet available).
func amiGone(err error) bool {
	return isCode(err, "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidAMIID.Malformed")
}

func (b *Backend) imageLocation(ami string) string { return "ec2://" + b.cfg.Region + "/" + ami }

func (b *Backend) imageStatus(id string, img *types.Image) proxies.ImageStatus {
	ami := awsv2.ToString(img.ImageId)
	st := proxies.ImageStatus{ID: id, BottomID: ami, Location: b.imageLocation(ami), Ready: img.State == types.ImageStateAvailable}
	for _, m := range img.BlockDeviceMappings {
		if m.Ebs != nil && m.Ebs.VolumeSize != nil {
			st.Size += int64(*m.Ebs.VolumeSize) << 30
		}
	}
	return st
}

// ImportImage reuses the ami_map AMI or an AMI this cloud already made for
// spec.ID; else it imports the bytes (imports.go: S3 upload, ImportSnapshot,
// RegisterImage).
func (d imageDriver) ImportImage(ctx context.Context, spec proxies.ImageSpec, data proxies.ImageReader) (proxies.ImageStatus, error) {
	const op = "ImportImage"
	if spec.ID == "" {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the image has no id")
	}
	img, err := d.b.lookupImage(ctx, op, spec.ID)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	if img == nil {
		return d.b.importImage(ctx, spec, data)
	}
	return d.b.imageStatus(spec.ID, img), nil
}

// GetImage reports the AMI of top image id.
func (d imageDriver) GetImage(ctx context.Context, id string) (proxies.ImageStatus, error) {
	const op = "GetImage"
	img, err := d.b.lookupImage(ctx, op, id)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	if img == nil {
		return proxies.ImageStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "image %s has no AMI in AWS cloud %s", id, d.b.name)
	}
	return d.b.imageStatus(id, img), nil
}

// DeleteImage deregisters an AMI this cloud made (and deletes its EBS
// snapshots). An ami_map AMI is configuration, not Canopy's: it is left
// alone. Nil when there is nothing.
func (d imageDriver) DeleteImage(ctx context.Context, id string) error {
	const op = "DeleteImage"
	b := d.b
	b.forgetAMI(id)
	img, err := b.findImage(ctx, op, id)
	if err != nil {
		return err
	}
	if img == nil {
		return b.deleteImportedSnapshots(ctx, op, id)
	}
	if _, err := b.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: img.ImageId}); err != nil && !isNotFound(err) {
		return mapErr(op, err)
	}
	for _, m := range img.BlockDeviceMappings {
		if m.Ebs == nil || m.Ebs.SnapshotId == nil {
			continue
		}
		if _, err := b.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: m.Ebs.SnapshotId}); err != nil && !isNotFound(err) {
			return mapErr(op, err)
		}
	}
	return b.deleteImportedSnapshots(ctx, op, id)
}
