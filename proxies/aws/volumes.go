package aws

import (
	"context"
	"fmt"
	"slices"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// volumeDriver keeps Canopy volumes as EBS volumes and snapshots.
type volumeDriver struct{ b *Backend }

// ebsTypes are the Cinder volume type names that are EBS types.
var ebsTypes = []string{"gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"}

// deviceNames are the device names EC2 recommends for EBS data volumes.
var deviceNames = func() []string {
	var out []string
	for c := 'f'; c <= 'p'; c++ {
		out = append(out, fmt.Sprintf("/dev/sd%c", c))
	}
	return out
}()

func (b *Backend) findVolume(ctx context.Context, op, id string) (*types.Volume, error) {
	out, err := b.ec2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{
		filter("tag:"+tagID, id), filter("tag:"+tagCloud, b.name), filter("status", "creating", "available", "in-use", "error")}})
	if err != nil {
		return nil, mapErr(op, err)
	}
	if len(out.Volumes) == 0 {
		return nil, nil
	}
	return &out.Volumes[0], nil
}

func (b *Backend) mustVolume(ctx context.Context, op, id string) (*types.Volume, error) {
	v, err := b.findVolume(ctx, op, id)
	if err == nil && v == nil {
		err = proxies.Errorf(proxies.ErrNotFound, op, "volume %s does not exist in AWS cloud %s", id, b.name)
	}
	return v, err
}

func (b *Backend) findSnapshot(ctx context.Context, op, id string) (*types.Snapshot, error) {
	out, err := b.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: []types.Filter{
		filter("tag:"+tagID, id), filter("tag:"+tagCloud, b.name)}})
	if err != nil {
		return nil, mapErr(op, err)
	}
	if len(out.Snapshots) == 0 {
		return nil, nil
	}
	return &out.Snapshots[0], nil
}

// volumeStatus reports an EBS volume; the attached server's top id comes
// from the instance's tag.
func (b *Backend) volumeStatus(ctx context.Context, v *types.Volume) proxies.VolumeStatus {
	st := proxies.VolumeStatus{ID: tagValue(v.Tags, tagID), BottomID: awsv2.ToString(v.VolumeId),
		SizeGB: int(awsv2.ToInt32(v.Size)), CreatedAt: awsv2.ToTime(v.CreateTime)}
	switch v.State {
	case types.VolumeStateCreating:
		st.State = proxies.VolumeCreating
	case types.VolumeStateAvailable:
		st.State = proxies.VolumeAvailable
	case types.VolumeStateInUse:
		st.State = proxies.VolumeInUse
	case types.VolumeStateDeleting, types.VolumeStateDeleted:
		st.State = proxies.VolumeDeleting
	default:
		st.State, st.Fault = proxies.VolumeError, "EBS reports the volume in state "+string(v.State)
	}
	for _, a := range v.Attachments {
		if a.State == types.VolumeAttachmentStateDetached {
			continue
		}
		st.Device = awsv2.ToString(a.Device)
		st.AttachedTo = awsv2.ToString(a.InstanceId)
		if inst, err := b.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{st.AttachedTo}}); err == nil {
			for _, r := range inst.Reservations {
				for _, i := range r.Instances {
					if id := tagValue(i.Tags, tagID); id != "" {
						st.AttachedTo = id
					}
				}
			}
		}
		if st.State == proxies.VolumeAvailable {
			st.State = proxies.VolumeInUse
		}
	}
	return st
}

// CreateVolume creates an EBS volume (blank, from a snapshot, or from an
// image's root snapshot), idempotently by spec.ID.
func (d volumeDriver) CreateVolume(ctx context.Context, spec proxies.VolumeSpec) (proxies.VolumeStatus, error) {
	const op = "CreateVolume"
	b := d.b
	if spec.SizeGB <= 0 {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "volume size %d GB is not positive", spec.SizeGB)
	}
	if spec.SourceVolumeID != "" {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrNotSupported, op, "EBS cannot clone a volume directly; snapshot it and create from the snapshot")
	}
	if v, err := b.findVolume(ctx, op, spec.ID); err != nil || v != nil {
		if v == nil {
			return proxies.VolumeStatus{}, err
		}
		return b.volumeStatus(ctx, v), nil
	}
	vtype := types.VolumeTypeGp3
	if slices.Contains(ebsTypes, spec.VolumeType) {
		vtype = types.VolumeType(spec.VolumeType)
	}
	zone := b.zoneOf(ctx, spec.AvailabilityZone, "")
	if zone == "" {
		zones, err := b.zoneNames(ctx)
		if err != nil {
			return proxies.VolumeStatus{}, err
		}
		zone = zones[0]
	}
	in := &ec2.CreateVolumeInput{AvailabilityZone: awsv2.String(zone), Size: awsv2.Int32(int32(spec.SizeGB)), VolumeType: vtype,
		ClientToken: awsv2.String(spec.ID),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume,
			Tags: tagList(tagID, spec.ID, tagProject, spec.ProjectID, tagCloud, b.name, "Name", spec.Name)}}}
	switch {
	case spec.SnapshotID != "":
		snap, err := b.findSnapshot(ctx, op, spec.SnapshotID)
		if err != nil {
			return proxies.VolumeStatus{}, err
		}
		if snap == nil {
			return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "snapshot %s does not exist in AWS cloud %s", spec.SnapshotID, b.name)
		}
		if int(awsv2.ToInt32(snap.VolumeSize)) > spec.SizeGB {
			return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "volume size %d GB is smaller than snapshot %s (%d GB)", spec.SizeGB, spec.SnapshotID, awsv2.ToInt32(snap.VolumeSize))
		}
		in.SnapshotId = snap.SnapshotId
	case spec.ImageID != "":
		img, err := b.lookupImage(ctx, op, spec.ImageID)
		if err != nil {
			return proxies.VolumeStatus{}, err
		}
		if img == nil {
			return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "image %s has no AMI in AWS cloud %s", spec.ImageID, b.name)
		}
		for _, m := range img.BlockDeviceMappings {
			if m.Ebs != nil && m.Ebs.SnapshotId != nil {
				in.SnapshotId = m.Ebs.SnapshotId
				break
			}
		}
		if in.SnapshotId == nil {
			return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrNotSupported, op, "AMI of image %s has no EBS snapshot to make a volume from", spec.ImageID)
		}
	}
	if vtype == types.VolumeTypeIo1 || vtype == types.VolumeTypeIo2 {
		in.Iops = awsv2.Int32(100) // the provisioned-IOPS types' minimum; raise it with ModifyVolume
	}
	out, err := b.ec2.CreateVolume(ctx, in)
	if err != nil {
		return proxies.VolumeStatus{}, mapErr(op, err)
	}
	return b.volumeStatus(ctx, &types.Volume{VolumeId: out.VolumeId, Size: out.Size, State: out.State, CreateTime: out.CreateTime,
		Tags: tagList(tagID, spec.ID)}), nil
}

// GetVolume reports one volume.
func (d volumeDriver) GetVolume(ctx context.Context, id string) (proxies.VolumeStatus, error) {
	v, err := d.b.mustVolume(ctx, "GetVolume", id)
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	return d.b.volumeStatus(ctx, v), nil
}

// DeleteVolume deletes the volume; nil when gone, ErrConflict while it is
// attached or has snapshots.
func (d volumeDriver) DeleteVolume(ctx context.Context, id string) error {
	const op = "DeleteVolume"
	b := d.b
	v, err := b.findVolume(ctx, op, id)
	if err != nil || v == nil {
		return err
	}
	if v.State == types.VolumeStateInUse {
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached", id)
	}
	snaps, err := b.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: []types.Filter{
		filter("volume-id", awsv2.ToString(v.VolumeId)), filter("tag:"+tagCloud, b.name)}})
	if err != nil {
		return mapErr(op, err)
	}
	if len(snaps.Snapshots) > 0 {
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s has %d snapshots", id, len(snaps.Snapshots))
	}
	if _, err := b.ec2.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: v.VolumeId}); err != nil && !isNotFound(err) {
		return mapErr(op, err)
	}
	return nil
}

// ExtendVolume grows an available volume with ModifyVolume.
func (d volumeDriver) ExtendVolume(ctx context.Context, id string, newSizeGB int) (proxies.VolumeStatus, error) {
	const op = "ExtendVolume"
	b := d.b
	v, err := b.mustVolume(ctx, op, id)
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	if newSizeGB <= int(awsv2.ToInt32(v.Size)) {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "new size %d GB is not larger than %d GB", newSizeGB, awsv2.ToInt32(v.Size))
	}
	if v.State != types.VolumeStateAvailable {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrConflict, op, "volume %s is %s, not available", id, v.State)
	}
	if _, err := b.ec2.ModifyVolume(ctx, &ec2.ModifyVolumeInput{VolumeId: v.VolumeId, Size: awsv2.Int32(int32(newSizeGB))}); err != nil {
		return proxies.VolumeStatus{}, mapErr(op, err)
	}
	return d.GetVolume(ctx, id)
}

func (b *Backend) snapshotStatus(s *types.Snapshot) proxies.SnapshotStatus {
	st := proxies.SnapshotStatus{ID: tagValue(s.Tags, tagID), BottomID: awsv2.ToString(s.SnapshotId),
		VolumeID: tagValue(s.Tags, tagVolume), SizeGB: int(awsv2.ToInt32(s.VolumeSize))}
	switch s.State {
	case types.SnapshotStatePending:
		st.State = proxies.VolumeCreating
	case types.SnapshotStateCompleted:
		st.State = proxies.VolumeAvailable
	default:
		st.State = proxies.VolumeError
	}
	return st
}

// CreateSnapshot snapshots the volume, idempotently by spec.ID. EBS
// snapshots attached volumes too; without Force an attached volume is
// refused as Cinder does.
func (d volumeDriver) CreateSnapshot(ctx context.Context, spec proxies.SnapshotSpec) (proxies.SnapshotStatus, error) {
	const op = "CreateSnapshot"
	b := d.b
	if s, err := b.findSnapshot(ctx, op, spec.ID); err != nil || s != nil {
		if s == nil {
			return proxies.SnapshotStatus{}, err
		}
		return b.snapshotStatus(s), nil
	}
	v, err := b.mustVolume(ctx, op, spec.VolumeID)
	if err != nil {
		return proxies.SnapshotStatus{}, err
	}
	if v.State == types.VolumeStateInUse && !spec.Force {
		return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached; snapshot it with force", spec.VolumeID)
	}
	out, err := b.ec2.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: v.VolumeId, Description: awsv2.String("canopy snapshot " + spec.ID),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSnapshot,
			Tags: tagList(tagID, spec.ID, tagVolume, spec.VolumeID, tagProject, spec.ProjectID, tagCloud, b.name, "Name", spec.Name)}}})
	if err != nil {
		return proxies.SnapshotStatus{}, mapErr(op, err)
	}
	return b.snapshotStatus(&types.Snapshot{SnapshotId: out.SnapshotId, State: out.State, VolumeSize: out.VolumeSize,
		Tags: tagList(tagID, spec.ID, tagVolume, spec.VolumeID)}), nil
}

// GetSnapshot reports one snapshot.
func (d volumeDriver) GetSnapshot(ctx context.Context, id string) (proxies.SnapshotStatus, error) {
	const op = "GetSnapshot"
	s, err := d.b.findSnapshot(ctx, op, id)
	if err != nil {
		return proxies.SnapshotStatus{}, err
	}
	if s == nil {
		return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "snapshot %s does not exist in AWS cloud %s", id, d.b.name)
	}
	return d.b.snapshotStatus(s), nil
}

// DeleteSnapshot deletes the snapshot; nil when gone.
func (d volumeDriver) DeleteSnapshot(ctx context.Context, id string) error {
	const op = "DeleteSnapshot"
	s, err := d.b.findSnapshot(ctx, op, id)
	if err != nil || s == nil {
		return err
	}
	if _, err := d.b.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: s.SnapshotId}); err != nil && !isNotFound(err) {
		return mapErr(op, err)
	}
	return nil
}

// AttachVolume attaches the volume to server serverID at the first free
// device of /dev/sdf…/dev/sdp; attaching it again to the same server
// returns its device.
func (d volumeDriver) AttachVolume(ctx context.Context, volumeID, serverID string) (string, error) {
	const op = "AttachVolume"
	b := d.b
	v, err := b.mustVolume(ctx, op, volumeID)
	if err != nil {
		return "", err
	}
	inst, err := b.mustInstance(ctx, op, serverID)
	if err != nil {
		return "", err
	}
	for _, a := range v.Attachments {
		if a.State == types.VolumeAttachmentStateDetached {
			continue
		}
		if awsv2.ToString(a.InstanceId) == awsv2.ToString(inst.InstanceId) {
			return awsv2.ToString(a.Device), nil
		}
		return "", proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached to another server", volumeID)
	}
	if v.State != types.VolumeStateAvailable {
		return "", proxies.Errorf(proxies.ErrConflict, op, "volume %s is %s, not available", volumeID, v.State)
	}
	if v.AvailabilityZone != nil && inst.Placement != nil && awsv2.ToString(v.AvailabilityZone) != awsv2.ToString(inst.Placement.AvailabilityZone) {
		return "", proxies.Errorf(proxies.ErrInvalid, op, "volume %s is in zone %s and server %s in %s; EBS attaches within one zone",
			volumeID, awsv2.ToString(v.AvailabilityZone), serverID, awsv2.ToString(inst.Placement.AvailabilityZone))
	}
	used := map[string]bool{awsv2.ToString(inst.RootDeviceName): true}
	for _, m := range inst.BlockDeviceMappings {
		used[awsv2.ToString(m.DeviceName)] = true
	}
	// Instances' mappings lag behind attachments in flight: count those too.
	att, err := b.ec2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{filter("attachment.instance-id", awsv2.ToString(inst.InstanceId))}})
	if err != nil {
		return "", mapErr(op, err)
	}
	for _, ov := range att.Volumes {
		for _, a := range ov.Attachments {
			used[awsv2.ToString(a.Device)] = true
		}
	}
	dev := ""
	for _, name := range deviceNames {
		if !used[name] {
			dev = name
			break
		}
	}
	if dev == "" {
		return "", proxies.Errorf(proxies.ErrCapacity, op, "server %s has no free device name in /dev/sdf…/dev/sdp", serverID)
	}
	if _, err := b.ec2.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: v.VolumeId, InstanceId: inst.InstanceId, Device: awsv2.String(dev)}); err != nil {
		return "", mapErr(op, err)
	}
	return dev, nil
}

// DetachVolume detaches the volume; nil when it is not attached.
func (d volumeDriver) DetachVolume(ctx context.Context, volumeID string) error {
	const op = "DetachVolume"
	v, err := d.b.mustVolume(ctx, op, volumeID)
	if err != nil {
		return err
	}
	for _, a := range v.Attachments {
		if a.State == types.VolumeAttachmentStateDetached || a.State == types.VolumeAttachmentStateDetaching {
			continue
		}
		if _, err := d.b.ec2.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: v.VolumeId, InstanceId: a.InstanceId}); err != nil &&
			!isNotFound(err) && !isCode(err, "IncorrectState") {
			return mapErr(op, err)
		}
	}
	return nil
}
