package aws

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// vmImportSim is a simulated EC2 VM Import in front of moto, which has
// none (moto 5.x implements neither ImportImage nor ImportSnapshot). It is
// used only with SimConfig (tests, `canopy dev --sim aws`), never with a
// real endpoint. What it does, following the EC2 API reference:
//
//   - ImportSnapshot checks the disk container, returns the task of an
//     earlier call with the same ClientToken, else a new task
//     (import-snap-…) in status active, message "pending".
//   - DescribeImportSnapshotTasks moves each task one step per call:
//     active/pending (progress 0) → active/converting (30) →
//     active/converting (70) → completed (100) with its SnapshotId. At
//     completion it reads the object from moto's S3 and checks it as VM
//     Import would (not empty; a VMDK starts with "KDMV", a VHD ends with
//     the "conectix" footer): a bad disk ends the task as deleted with a
//     "ClientError: …" message. A good one becomes an EBS snapshot in moto:
//     CreateVolume of the disk's size in GiB (at least 1), CreateSnapshot,
//     DeleteVolume.
//   - RegisterImage goes to moto, and the tag specifications (which moto's
//     RegisterImage ignores) are applied with CreateTags. moto's AMI keeps
//     its own root snapshot, not the imported one.
//
// Everything else goes to moto as is.
type vmImportSim struct {
	ec2API
	s3   s3API
	zone string

	mu     sync.Mutex
	tasks  map[string]*simImportTask
	tokens map[string]string // ClientToken → task id
}

type simImportTask struct {
	id, description string
	bucket, key     string
	format          string
	step            int
	status, message string
	progress        string
	snapshot        string
	tags            []types.Tag
}

// simSteps are the states a task goes through, one per describe.
var simSteps = []struct{ status, message, progress string }{
	{"active", "pending", "0"},
	{"active", "converting", "30"},
	{"active", "converting", "70"},
}

func simError(code, msg string) error {
	return &smithy.GenericAPIError{Code: code, Message: msg, Fault: smithy.FaultClient}
}

// ImportSnapshot starts (or, by ClientToken, finds) a simulated import task.
func (s *vmImportSim) ImportSnapshot(ctx context.Context, in *ec2.ImportSnapshotInput, _ ...func(*ec2.Options)) (*ec2.ImportSnapshotOutput, error) {
	dc := in.DiskContainer
	if dc == nil || dc.UserBucket == nil || awsv2.ToString(dc.UserBucket.S3Bucket) == "" || awsv2.ToString(dc.UserBucket.S3Key) == "" {
		return nil, simError("InvalidParameter", "DiskContainer.UserBucket is required")
	}
	switch awsv2.ToString(dc.Format) {
	case "RAW", "VMDK", "VHD", "raw", "vmdk", "vhd":
	default:
		return nil, simError("InvalidParameter", "unsupported disk format "+awsv2.ToString(dc.Format))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tasks == nil {
		s.tasks, s.tokens = map[string]*simImportTask{}, map[string]string{}
	}
	token := awsv2.ToString(in.ClientToken)
	if id, ok := s.tokens[token]; ok && token != "" {
		return s.tasks[id].output(), nil
	}
	t := &simImportTask{id: fmt.Sprintf("import-snap-%017x", len(s.tasks)+1), description: awsv2.ToString(in.Description),
		bucket: awsv2.ToString(dc.UserBucket.S3Bucket), key: awsv2.ToString(dc.UserBucket.S3Key), format: awsv2.ToString(dc.Format)}
	t.status, t.message, t.progress = simSteps[0].status, simSteps[0].message, simSteps[0].progress
	for _, ts := range in.TagSpecifications {
		t.tags = append(t.tags, ts.Tags...)
	}
	s.tasks[t.id] = t
	if token != "" {
		s.tokens[token] = t.id
	}
	return t.output(), nil
}

func (t *simImportTask) detail() *types.SnapshotTaskDetail {
	d := &types.SnapshotTaskDetail{Status: awsv2.String(t.status), StatusMessage: awsv2.String(t.message),
		Description: awsv2.String(t.description), Format: awsv2.String(t.format),
		UserBucket: &types.UserBucketDetails{S3Bucket: awsv2.String(t.bucket), S3Key: awsv2.String(t.key)}}
	if t.progress != "" {
		d.Progress = awsv2.String(t.progress)
	}
	if t.snapshot != "" {
		d.SnapshotId = awsv2.String(t.snapshot)
	}
	return d
}

func (t *simImportTask) output() *ec2.ImportSnapshotOutput {
	return &ec2.ImportSnapshotOutput{ImportTaskId: awsv2.String(t.id), Description: awsv2.String(t.description),
		SnapshotTaskDetail: t.detail(), Tags: t.tags}
}

// DescribeImportSnapshotTasks reports tasks (those named, else all), moving
// each one step.
func (s *vmImportSim) DescribeImportSnapshotTasks(ctx context.Context, in *ec2.DescribeImportSnapshotTasksInput, _ ...func(*ec2.Options)) (*ec2.DescribeImportSnapshotTasksOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := in.ImportTaskIds
	if len(ids) == 0 {
		for id := range s.tasks {
			ids = append(ids, id)
		}
	}
	out := &ec2.DescribeImportSnapshotTasksOutput{}
	for _, id := range ids {
		t, ok := s.tasks[id]
		if !ok {
			return nil, simError("InvalidConversionTaskId.Malformed", "the import task "+id+" does not exist")
		}
		if err := s.advance(ctx, t); err != nil {
			return nil, err
		}
		out.ImportSnapshotTasks = append(out.ImportSnapshotTasks, types.ImportSnapshotTask{ImportTaskId: awsv2.String(t.id),
			Description: awsv2.String(t.description), SnapshotTaskDetail: t.detail(), Tags: t.tags})
	}
	return out, nil
}

// advance moves t one step; the last step converts the disk.
func (s *vmImportSim) advance(ctx context.Context, t *simImportTask) error {
	if t.status != "active" {
		return nil
	}
	t.step++
	if t.step < len(simSteps) {
		t.status, t.message, t.progress = simSteps[t.step].status, simSteps[t.step].message, simSteps[t.step].progress
		return nil
	}
	size, bad, err := s.readDisk(ctx, t)
	if err != nil {
		return err
	}
	if bad != "" {
		t.status, t.message, t.progress = "deleted", "ClientError: "+bad, ""
		return nil
	}
	gib := int32(max(1, (size+(1<<30)-1)>>30))
	vol, err := s.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: awsv2.String(s.zone), Size: awsv2.Int32(gib)})
	if err != nil {
		return err
	}
	snap, err := s.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId, Description: awsv2.String("Created by AWS-VMImport service for " + t.id)})
	if err != nil {
		return err
	}
	if _, err := s.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: vol.VolumeId}); err != nil {
		return err
	}
	t.status, t.message, t.progress, t.snapshot = "completed", "", "", awsv2.ToString(snap.SnapshotId)
	return nil
}

// readDisk reads the task's object from S3 and checks it as VM Import
// would: its size, or why it is not a disk of its format.
func (s *vmImportSim) readDisk(ctx context.Context, t *simImportTask) (int64, string, error) {
	obj, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: awsv2.String(t.bucket), Key: awsv2.String(t.key)})
	if err != nil {
		return 0, "Unable to access the S3 object s3://" + t.bucket + "/" + t.key, nil
	}
	defer obj.Body.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(obj.Body, head)
	size := int64(n)
	window := bytes.NewBuffer(head[:n:n])
	buf := make([]byte, 1<<20)
	for {
		m, err := obj.Body.Read(buf)
		size += int64(m)
		window.Write(buf[:m])
		if window.Len() > 1024 {
			window = bytes.NewBuffer(window.Bytes()[window.Len()-512:])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, "", err
		}
	}
	last := window.Bytes()
	switch {
	case size == 0:
		return 0, "Disk validation failed [The disk is empty]", nil
	case (t.format == "VMDK" || t.format == "vmdk") && string(head[:n]) != "KDMV":
		return 0, "Disk validation failed [Unsupported VMDK File Format]", nil
	case (t.format == "VHD" || t.format == "vhd") && (len(last) < 512 || !bytes.HasPrefix(last[len(last)-512:], []byte("conectix"))):
		return 0, "Disk validation failed [Invalid VHD footer]", nil
	}
	return size, "", nil
}

// RegisterImage registers with moto, then applies the tag specifications
// moto ignores.
func (s *vmImportSim) RegisterImage(ctx context.Context, in *ec2.RegisterImageInput, opts ...func(*ec2.Options)) (*ec2.RegisterImageOutput, error) {
	if in.Name != nil {
		found, err := s.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{filter("name", *in.Name)}})
		if err == nil && len(found.Images) > 0 {
			return nil, simError("InvalidAMIName.Duplicate", "AMI name "+*in.Name+" is already in use by AMI "+awsv2.ToString(found.Images[0].ImageId))
		}
	}
	out, err := s.ec2API.RegisterImage(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	var tags []types.Tag
	for _, ts := range in.TagSpecifications {
		tags = append(tags, ts.Tags...)
	}
	if len(tags) > 0 {
		if _, err := s.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{awsv2.ToString(out.ImageId)}, Tags: tags}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
