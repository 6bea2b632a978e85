package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// stateEC2 is an in-memory EC2 whose instances pass through EC2's
// transitional states (pending, stopping, shutting-down) for a few
// DescribeInstances calls, as real EC2 does and moto does not: moto changes
// states at once. It implements the calls the server driver makes; any
// other call panics on the nil embedded interface, so a test notices.
type stateEC2 struct {
	ec2API

	mu    sync.Mutex
	steps int // describes an instance stays in a transitional state
	insts []*fakeInstance
	calls []string // the call log, in order
	runs  []ec2.RunInstancesInput
	// failTags, when set, is the error every CreateTags returns.
	failTags error
}

type fakeInstance struct {
	inst   types.Instance
	left   int                     // describes left in the transitional state
	settle types.InstanceStateName // the state it then reaches
}

func newStateEC2(steps int) *stateEC2 { return &stateEC2{steps: steps} }

func (f *stateEC2) log(op string) {
	f.calls = append(f.calls, op)
}

// count is how many times op was called.
func (f *stateEC2) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == op {
			n++
		}
	}
	return n
}

func (f *stateEC2) find(id string) *fakeInstance {
	for _, fi := range f.insts {
		if awsv2.ToString(fi.inst.InstanceId) == id {
			return fi
		}
	}
	return nil
}

// move puts an instance in a transitional state that settles after steps
// describes.
func (f *stateEC2) move(fi *fakeInstance, now, then types.InstanceStateName) {
	fi.inst.State = &types.InstanceState{Name: now}
	fi.left, fi.settle = f.steps, then
}

func (f *stateEC2) DescribeAvailabilityZones(context.Context, *ec2.DescribeAvailabilityZonesInput, ...func(*ec2.Options)) (*ec2.DescribeAvailabilityZonesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("DescribeAvailabilityZones")
	return &ec2.DescribeAvailabilityZonesOutput{AvailabilityZones: []types.AvailabilityZone{
		{ZoneName: awsv2.String("fake-1a"), State: types.AvailabilityZoneStateAvailable},
		{ZoneName: awsv2.String("fake-1b"), State: types.AvailabilityZoneStateAvailable},
	}}, nil
}

func (f *stateEC2) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("DescribeImages")
	var out []types.Image
	for _, id := range in.ImageIds {
		out = append(out, types.Image{ImageId: awsv2.String(id), State: types.ImageStateAvailable})
	}
	return &ec2.DescribeImagesOutput{Images: out}, nil
}

func (f *stateEC2) RunInstances(_ context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("RunInstances")
	f.runs = append(f.runs, *in)
	var tags []types.Tag
	for _, ts := range in.TagSpecifications {
		if ts.ResourceType == types.ResourceTypeInstance {
			tags = append(tags, ts.Tags...)
		}
	}
	zone := "fake-1a"
	if in.Placement != nil {
		zone = awsv2.ToString(in.Placement.AvailabilityZone)
	}
	out := &ec2.RunInstancesOutput{}
	for i := range awsv2.ToInt32(in.MaxCount) {
		fi := &fakeInstance{inst: types.Instance{
			InstanceId: awsv2.String(fmt.Sprintf("i-fake%04d", len(f.insts))), AmiLaunchIndex: awsv2.Int32(i),
			ImageId: in.ImageId, InstanceType: in.InstanceType, LaunchTime: awsv2.Time(time.Now()),
			Placement: &types.Placement{AvailabilityZone: awsv2.String(zone)}, Tags: slices.Clone(tags),
		}}
		f.move(fi, types.InstanceStateNamePending, types.InstanceStateNameRunning)
		f.insts = append(f.insts, fi)
		out.Instances = append(out.Instances, fi.inst)
	}
	return out, nil
}

// DescribeInstances is where time passes: every call first moves each
// instance one describe closer to the end of its transition.
func (f *stateEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("DescribeInstances")
	for _, fi := range f.insts {
		if fi.left > 0 {
			if fi.left--; fi.left == 0 {
				fi.inst.State = &types.InstanceState{Name: fi.settle}
			}
		}
	}
	var list []types.Instance
	for _, fi := range f.insts {
		if (len(in.InstanceIds) == 0 || slices.Contains(in.InstanceIds, awsv2.ToString(fi.inst.InstanceId))) && matches(fi.inst, in.Filters) {
			list = append(list, fi.inst)
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: list}}}, nil
}

// matches applies the filters the backend uses: tag:K, tag-key and
// instance-state-name.
func matches(inst types.Instance, filters []types.Filter) bool {
	for _, fl := range filters {
		name := awsv2.ToString(fl.Name)
		var got string
		switch {
		case name == "instance-state-name":
			got = string(inst.State.Name)
		case name == "tag-key":
			if !slices.ContainsFunc(inst.Tags, func(t types.Tag) bool { return slices.Contains(fl.Values, awsv2.ToString(t.Key)) }) {
				return false
			}
			continue
		case strings.HasPrefix(name, "tag:"):
			got = tagValue(inst.Tags, strings.TrimPrefix(name, "tag:"))
		default:
			panic("stateEC2: filter " + name + " is not implemented")
		}
		if !slices.Contains(fl.Values, got) {
			return false
		}
	}
	return true
}

// transition moves the named instances from one of from to now, settling
// at then; an instance in another state makes the whole call fail, as
// EC2's IncorrectInstanceState does.
func (f *stateEC2) transition(op string, ids []string, from []types.InstanceStateName, now, then types.InstanceStateName) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log(op)
	for _, id := range ids {
		fi := f.find(id)
		if fi == nil {
			return &smithy.GenericAPIError{Code: "InvalidInstanceID.NotFound", Message: "no such instance"}
		}
		if !slices.Contains(from, fi.inst.State.Name) {
			return &smithy.GenericAPIError{Code: "IncorrectInstanceState", Message: "the instance is in the wrong state"}
		}
	}
	for _, id := range ids {
		f.move(f.find(id), now, then)
	}
	return nil
}

func (f *stateEC2) StopInstances(_ context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	return &ec2.StopInstancesOutput{}, f.transition("StopInstances", in.InstanceIds,
		[]types.InstanceStateName{types.InstanceStateNameRunning, types.InstanceStateNamePending}, types.InstanceStateNameStopping, types.InstanceStateNameStopped)
}

func (f *stateEC2) StartInstances(_ context.Context, in *ec2.StartInstancesInput, _ ...func(*ec2.Options)) (*ec2.StartInstancesOutput, error) {
	return &ec2.StartInstancesOutput{}, f.transition("StartInstances", in.InstanceIds,
		[]types.InstanceStateName{types.InstanceStateNameStopped}, types.InstanceStateNamePending, types.InstanceStateNameRunning)
}

func (f *stateEC2) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	return &ec2.TerminateInstancesOutput{}, f.transition("TerminateInstances", in.InstanceIds,
		[]types.InstanceStateName{types.InstanceStateNamePending, types.InstanceStateNameRunning, types.InstanceStateNameStopping,
			types.InstanceStateNameStopped, types.InstanceStateNameShuttingDown, types.InstanceStateNameTerminated},
		types.InstanceStateNameShuttingDown, types.InstanceStateNameTerminated)
}

func (f *stateEC2) CreateTags(_ context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("CreateTags")
	if f.failTags != nil {
		return nil, f.failTags
	}
	for _, id := range in.Resources {
		fi := f.find(id)
		if fi == nil {
			continue // a volume or an interface: the fake keeps no such things
		}
		for _, t := range in.Tags {
			fi.inst.Tags = slices.DeleteFunc(fi.inst.Tags, func(o types.Tag) bool { return awsv2.ToString(o.Key) == awsv2.ToString(t.Key) })
			fi.inst.Tags = append(fi.inst.Tags, t)
		}
	}
	return &ec2.CreateTagsOutput{}, nil
}

// newStateBackend is a backend named name over a stateEC2 whose
// transitions last steps describes. Flavor "1" and image "img-1" are
// mapped, so the backend needs no catalogue.
func newStateBackend(t *testing.T, name string, steps int) (*Backend, *stateEC2) {
	t.Helper()
	cfg := Config{Region: "us-east-1", Endpoint: "http://127.0.0.1:1", AccessKeyID: "AKIAFAKE", SecretAccessKeyFrom: "env:CANOPY_TEST_AWS_SECRET",
		InstanceTypeMap: map[string]string{"1": "t3a.nano"}, AMIMap: map[string]string{"img-1": "ami-fake"}}
	t.Setenv("CANOPY_TEST_AWS_SECRET", "fake-secret-value")
	b, err := New(t.Context(), name, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	f := newStateEC2(steps)
	b.ec2 = f
	return b, f
}
