package aws

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// serverDriver is the backend's proxies.ServerDriver.
type serverDriver struct{ b *Backend }

// liveStates are the instance states of a server that exists; shutting-down
// and terminated instances are gone for Canopy.
var liveStates = []string{"pending", "running", "stopping", "stopped"}

// instanceFilters selects this cloud's live instances, with extra filters.
func (b *Backend) instanceFilters(extra ...types.Filter) []types.Filter {
	return append([]types.Filter{
		{Name: awsv2.String("tag:" + tagCloud), Values: []string{b.name}},
		{Name: awsv2.String("instance-state-name"), Values: liveStates},
	}, extra...)
}

// describeInstances runs one filtered, paginated DescribeInstances.
func (b *Backend) describeInstances(ctx context.Context, op string, filters []types.Filter) ([]types.Instance, error) {
	var out []types.Instance
	p := ec2.NewDescribeInstancesPaginator(b.ec2, &ec2.DescribeInstancesInput{Filters: filters, MaxResults: awsv2.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapErr(op, err)
		}
		for _, r := range page.Reservations {
			out = append(out, r.Instances...)
		}
	}
	return out, nil
}

// findInstance returns the live instance tagged with top id, or nil.
func (b *Backend) findInstance(ctx context.Context, op, id string) (*types.Instance, error) {
	list, err := b.describeInstances(ctx, op, b.instanceFilters(types.Filter{Name: awsv2.String("tag:" + tagID), Values: []string{id}}))
	if err != nil || len(list) == 0 {
		return nil, err
	}
	slices.SortFunc(list, func(x, y types.Instance) int { return awsv2.ToTime(x.LaunchTime).Compare(awsv2.ToTime(y.LaunchTime)) })
	return &list[0], nil
}

// mustInstance is findInstance with ErrNotFound when there is none.
func (b *Backend) mustInstance(ctx context.Context, op, id string) (*types.Instance, error) {
	inst, err := b.findInstance(ctx, op, id)
	if err == nil && inst == nil {
		err = proxies.Errorf(proxies.ErrNotFound, op, "server %s does not exist in AWS cloud %s", id, b.name)
	}
	return inst, err
}

// hostName is the pseudo-host of one availability zone.
func (b *Backend) hostName(zone string) string { return b.name + "-" + zone }

func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if awsv2.ToString(t.Key) == key {
			return awsv2.ToString(t.Value)
		}
	}
	return ""
}

// taskSnapshot copies the background tasks. Callers take it before they
// describe instances: a task that ends between the describe and the report
// would otherwise show a stopped instance with no task, mid-cycle.
func (b *Backend) taskSnapshot() map[string]string {
	b.tasksMu.Lock()
	defer b.tasksMu.Unlock()
	return maps.Clone(b.tasks)
}

// status reports an instance in Nova's vocabulary; tasks is a
// taskSnapshot taken before inst was described.
func (b *Backend) status(inst *types.Instance, tasks map[string]string) proxies.ServerStatus {
	st := proxies.ServerStatus{ID: tagValue(inst.Tags, tagID), BottomID: awsv2.ToString(inst.InstanceId),
		LaunchedAt: awsv2.ToTime(inst.LaunchTime)}
	if inst.Placement != nil {
		st.Host = b.hostName(awsv2.ToString(inst.Placement.AvailabilityZone))
	}
	var name types.InstanceStateName
	if inst.State != nil {
		name = inst.State.Name
	}
	switch name {
	case types.InstanceStateNamePending:
		st.State, st.PowerState, st.TaskState = proxies.StateBuilding, proxies.PowerNoState, "spawning"
		if b.starting(st.ID, false) {
			// Started again after a stop: still stopped, powering on (as
			// Nova shows it), not a build.
			st.State, st.PowerState, st.TaskState = proxies.StateStopped, proxies.PowerShutdown, "powering-on"
		}
	case types.InstanceStateNameRunning:
		st.State, st.PowerState = proxies.StateActive, proxies.PowerRunning
	case types.InstanceStateNameStopping:
		st.State, st.PowerState, st.TaskState = proxies.StateActive, proxies.PowerRunning, "powering-off"
	case types.InstanceStateNameStopped:
		st.State, st.PowerState = proxies.StateStopped, proxies.PowerShutdown
	default:
		st.State, st.PowerState = proxies.StateDeleted, proxies.PowerNoState
	}
	if name != types.InstanceStateNamePending && name != types.InstanceStateNameStopped {
		// The start (if any) is over. A stopped instance may have been
		// described before StartInstances: it ends nothing.
		b.starting(st.ID, true)
	}
	if inst.StateReason != nil && strings.HasPrefix(awsv2.ToString(inst.StateReason.Code), "Server.") {
		st.State, st.Fault = proxies.StateError, awsv2.ToString(inst.StateReason.Message)
	}
	if task := tasks[st.ID]; task != "" {
		st.TaskState = task
	}
	return st
}

// CreateServer runs one instance, idempotently by spec.ID.
func (d serverDriver) CreateServer(ctx context.Context, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	const op = "CreateServer"
	b := d.b
	if spec.ID == "" {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the server has no id")
	}
	if inst, err := b.findInstance(ctx, op, spec.ID); err != nil || inst != nil {
		if inst == nil {
			return proxies.ServerStatus{}, err
		}
		return b.status(inst, nil), nil
	}
	in, err := b.runInput(ctx, op, spec)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	in.ClientToken = awsv2.String(spec.ID)
	in.TagSpecifications = []types.TagSpecification{
		{ResourceType: types.ResourceTypeInstance, Tags: b.serverTags(spec)},
		{ResourceType: types.ResourceTypeVolume, Tags: b.serverTags(spec)},
	}
	out, err := b.ec2.RunInstances(ctx, in)
	if err != nil {
		if amiGone(err) {
			b.forgetAMI(spec.ImageID)
		}
		return proxies.ServerStatus{}, mapErr(op, err)
	}
	if len(out.Instances) == 0 {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrUnavailable, op, "RunInstances returned no instance")
	}
	inst := &out.Instances[0]
	if err := b.tagPorts(ctx, op, spec, inst); err != nil {
		return proxies.ServerStatus{}, err
	}
	return b.status(inst, nil), nil
}

// runInput is the RunInstancesInput of one server of spec (MinCount =
// MaxCount = 1, no client token, no tags): its instance type, AMI, key,
// user data, zone and network interfaces.
func (b *Backend) runInput(ctx context.Context, op string, spec proxies.ServerSpec) (*ec2.RunInstancesInput, error) {
	itype, err := b.instanceTypeFor(ctx, spec.Flavor)
	if err != nil {
		return nil, err
	}
	ami, err := b.amiFor(ctx, op, spec.ImageID)
	if err != nil {
		return nil, err
	}
	in := &ec2.RunInstancesInput{
		ImageId:      awsv2.String(ami),
		InstanceType: types.InstanceType(itype),
		MinCount:     awsv2.Int32(1),
		MaxCount:     awsv2.Int32(1),
	}
	if len(spec.UserData) > 0 {
		in.UserData = awsv2.String(base64.StdEncoding.EncodeToString(spec.UserData))
	}
	if spec.PublicKey != "" {
		key, err := b.ensureKeyPair(ctx, op, spec.PublicKey)
		if err != nil {
			return nil, err
		}
		in.KeyName = awsv2.String(key)
	}
	zone := b.zoneOf(ctx, spec.AvailabilityZone, spec.Host)
	if zone == "" && len(spec.NICs) == 0 {
		// Unplaced and with no subnet to decide: the first zone, where an
		// unplaced volume goes too (EBS attaches within one zone only),
		// rather than wherever EC2's default subnet happens to be.
		zones, err := b.zoneNames(ctx)
		if err != nil {
			return nil, err
		}
		zone = zones[0]
	}
	if zone != "" {
		in.Placement = &types.Placement{AvailabilityZone: awsv2.String(zone)}
	}
	for i, nic := range spec.NICs {
		eni, subnetZone, err := b.nicSpec(ctx, op, nic)
		if err != nil {
			return nil, err
		}
		if zone != "" && subnetZone != zone {
			// A subnet lives in one zone: the instance would land in
			// subnetZone, not where it was placed. Try another candidate.
			return nil, proxies.Errorf(proxies.ErrCapacity, op,
				"network %s is realised in zone %s only; the server was placed in %s", nic.NetworkID, subnetZone, zone)
		}
		eni.DeviceIndex = awsv2.Int32(int32(i))
		in.NetworkInterfaces = append(in.NetworkInterfaces, eni)
	}
	if len(in.NetworkInterfaces) > 0 {
		in.Placement = nil // the subnet decides the zone
	}
	return in, nil
}

func (b *Backend) serverTags(spec proxies.ServerSpec) []types.Tag {
	return tagList(tagID, spec.ID, tagProject, spec.ProjectID, tagCloud, b.name, "Name", spec.Name)
}

// tagPorts tags each network interface with its top port id, so security
// groups and floating IPs find it.
func (b *Backend) tagPorts(ctx context.Context, op string, spec proxies.ServerSpec, inst *types.Instance) error {
	for _, eni := range inst.NetworkInterfaces {
		if eni.Attachment == nil || eni.Attachment.DeviceIndex == nil {
			continue
		}
		i := int(*eni.Attachment.DeviceIndex)
		if i >= len(spec.NICs) || spec.NICs[i].PortID == "" {
			continue
		}
		if _, err := b.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{awsv2.ToString(eni.NetworkInterfaceId)},
			Tags: tagList(tagPort, spec.NICs[i].PortID, tagID, spec.ID, tagCloud, b.name)}); err != nil {
			return mapErr(op, err)
		}
	}
	return nil
}

// zoneOf is the zone a server is asked for: the requested zone or the zone
// of the pseudo-host the scheduler chose, when it is one of ours.
func (b *Backend) zoneOf(ctx context.Context, zone, host string) string {
	zones, err := b.zoneNames(ctx)
	if err != nil {
		return ""
	}
	for _, z := range zones {
		if z == zone || (host != "" && b.hostName(z) == host) {
			return z
		}
	}
	return ""
}

// ensureKeyPair imports publicKey once, named after its fingerprint.
func (b *Backend) ensureKeyPair(ctx context.Context, op, publicKey string) (string, error) {
	sum := sha256.Sum256([]byte(strings.TrimSpace(publicKey)))
	name := "canopy-" + hex.EncodeToString(sum[:12])
	_, err := b.ec2.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{name}})
	if err == nil {
		return name, nil
	}
	if !isNotFound(err) {
		return "", mapErr(op, err)
	}
	_, err = b.ec2.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: awsv2.String(name), PublicKeyMaterial: []byte(publicKey),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeKeyPair, Tags: tagList(tagCloud, b.name)}}})
	if err != nil && !isCode(err, "InvalidKeyPair.Duplicate") {
		return "", mapErr(op, err)
	}
	return name, nil
}

// GetServer reports one server.
func (d serverDriver) GetServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	tasks := d.b.taskSnapshot()
	inst, err := d.b.mustInstance(ctx, "GetServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return d.b.status(inst, tasks), nil
}

// ListServers is the sync helper: one filtered, paginated DescribeInstances
// for every server of this cloud.
func (d serverDriver) ListServers(ctx context.Context) ([]proxies.ServerStatus, error) {
	tasks := d.b.taskSnapshot()
	list, err := d.b.describeInstances(ctx, "ListServers", d.b.instanceFilters(types.Filter{Name: awsv2.String("tag-key"), Values: []string{tagID}}))
	if err != nil {
		return nil, err
	}
	out := make([]proxies.ServerStatus, 0, len(list))
	for i := range list {
		out = append(out, d.b.status(&list[i], tasks))
	}
	return out, nil
}

// StartServer starts a stopped server.
func (d serverDriver) StartServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	const op = "StartServer"
	inst, err := d.b.mustInstance(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if inst.State.Name != types.InstanceStateNameStopped || d.b.busy(id) {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrConflict, op, "server %s is %s, not stopped", id, inst.State.Name)
	}
	if _, err := d.b.ec2.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{*inst.InstanceId}}); err != nil {
		return proxies.ServerStatus{}, mapErr(op, err)
	}
	d.b.startsMu.Lock()
	if d.b.starts == nil {
		d.b.starts = map[string]bool{}
	}
	d.b.starts[id] = true
	d.b.startsMu.Unlock()
	return d.GetServer(ctx, id)
}

// StopServer stops a running server.
func (d serverDriver) StopServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	const op = "StopServer"
	inst, err := d.b.mustInstance(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if inst.State.Name != types.InstanceStateNameRunning || d.b.busy(id) {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrConflict, op, "server %s is %s, not running", id, inst.State.Name)
	}
	if _, err := d.b.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{*inst.InstanceId}}); err != nil {
		return proxies.ServerStatus{}, mapErr(op, err)
	}
	return d.GetServer(ctx, id)
}

// RebootServer reboots a running server: SOFT is RebootInstances; HARD is a
// forced stop and a start in the background (EC2 has no reset).
func (d serverDriver) RebootServer(ctx context.Context, id string, kind proxies.RebootKind) (proxies.ServerStatus, error) {
	const op = "RebootServer"
	b := d.b
	inst, err := b.mustInstance(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if inst.State.Name != types.InstanceStateNameRunning || b.busy(id) {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrConflict, op, "server %s is %s, not running", id, inst.State.Name)
	}
	if kind == proxies.RebootHard {
		b.cycle(id, *inst.InstanceId, "rebooting_hard", true, nil)
		return d.GetServer(ctx, id)
	}
	if _, err := b.ec2.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: []string{*inst.InstanceId}}); err != nil {
		return proxies.ServerStatus{}, mapErr(op, err)
	}
	return d.GetServer(ctx, id)
}

// DeleteServer terminates the instance; nil when it is already gone.
func (d serverDriver) DeleteServer(ctx context.Context, id string) error {
	const op = "DeleteServer"
	inst, err := d.b.findInstance(ctx, op, id)
	if err != nil || inst == nil {
		return err
	}
	_, err = d.b.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{*inst.InstanceId}})
	if err != nil && !isNotFound(err) {
		return mapErr(op, err)
	}
	return nil
}

// ConsoleOutput returns the instance's console log (EC2 keeps the last
// 64 KB), base64-decoded, cut to the last lines.
func (d serverDriver) ConsoleOutput(ctx context.Context, id string, lines int) (string, error) {
	const op = "ConsoleOutput"
	inst, err := d.b.mustInstance(ctx, op, id)
	if err != nil {
		return "", err
	}
	out, err := d.b.ec2.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: inst.InstanceId, Latest: awsv2.Bool(true)})
	if err != nil {
		return "", mapErr(op, err)
	}
	raw, err := base64.StdEncoding.DecodeString(awsv2.ToString(out.Output))
	if err != nil {
		e := proxies.Errorf(proxies.ErrUnavailable, op, "EC2 returned console output that is not base64")
		e.Cause = err
		return "", e
	}
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	if lines > 0 {
		all := strings.Split(strings.TrimRight(text, "\n"), "\n")
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		text = strings.Join(all, "\n") + "\n"
	}
	return text, nil
}

// SnapshotServer captures the instance as an AMI tagged with imageID
// (CreateImage without reboot), idempotently by imageID.
func (d serverDriver) SnapshotServer(ctx context.Context, id, imageID string) (proxies.ImageStatus, error) {
	const op = "SnapshotServer"
	b := d.b
	if img, err := b.findImage(ctx, op, imageID); err != nil || img != nil {
		if img == nil {
			return proxies.ImageStatus{}, err
		}
		return b.imageStatus(imageID, img), nil
	}
	inst, err := b.mustInstance(ctx, op, id)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	out, err := b.ec2.CreateImage(ctx, &ec2.CreateImageInput{
		InstanceId: inst.InstanceId, Name: awsv2.String("canopy-" + imageID), NoReboot: awsv2.Bool(true),
		TagSpecifications: []types.TagSpecification{
			// The image only: moto answers 500 to a snapshot tag here.
			{ResourceType: types.ResourceTypeImage, Tags: tagList(tagID, imageID, tagCloud, b.name, "Name", "canopy-"+imageID)},
		},
	})
	if err != nil {
		return proxies.ImageStatus{}, mapErr(op, err)
	}
	return proxies.ImageStatus{ID: imageID, BottomID: awsv2.ToString(out.ImageId), Location: b.imageLocation(awsv2.ToString(out.ImageId))}, nil
}

// starting reports whether server id was started by StartServer and has
// not been seen past pending since; with end, it forgets the start.
func (b *Backend) starting(id string, end bool) bool {
	b.startsMu.Lock()
	defer b.startsMu.Unlock()
	was := b.starts[id]
	if end && was {
		delete(b.starts, id)
	}
	return was
}

// busy reports whether a background task runs on server id.
func (b *Backend) busy(id string) bool {
	b.tasksMu.Lock()
	defer b.tasksMu.Unlock()
	return b.tasks[id] != ""
}

// cycle stops instance (forced when force), runs change while it is
// stopped, and starts it again when it was running, in the background,
// with task shown in GetServer until it ends. The backend owns the
// goroutine: Close cancels and waits for it.
func (b *Backend) cycle(id, instanceID, task string, force bool, change func(ctx context.Context) error) {
	b.tasksMu.Lock()
	b.tasks[id] = task
	b.tasksMu.Unlock()
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		defer func() {
			b.tasksMu.Lock()
			delete(b.tasks, id)
			b.tasksMu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(b.bgCtx, 30*time.Minute)
		defer cancel()
		if err := b.stopChangeStart(ctx, instanceID, force, change); err != nil {
			b.log.Error("background server task failed", "server", id, "task", task, "err", err)
		}
	}()
}

func (b *Backend) stopChangeStart(ctx context.Context, instanceID string, force bool, change func(ctx context.Context) error) error {
	ids := []string{instanceID}
	out, err := b.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		return err
	}
	wasRunning := len(out.Reservations) > 0 && len(out.Reservations[0].Instances) > 0 &&
		out.Reservations[0].Instances[0].State.Name != types.InstanceStateNameStopped
	if wasRunning {
		if _, err := b.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids, Force: awsv2.Bool(force)}); err != nil {
			return err
		}
		w := ec2.NewInstanceStoppedWaiter(b.ec2, func(o *ec2.InstanceStoppedWaiterOptions) { o.MinDelay, o.MaxDelay = time.Second, 15*time.Second })
		if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 20*time.Minute); err != nil {
			return err
		}
	}
	var changeErr error
	if change != nil {
		changeErr = change(ctx)
	}
	if wasRunning {
		if _, err := b.ec2.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids}); err != nil {
			return errors.Join(changeErr, err)
		}
	}
	return changeErr
}

// ResizeServer changes the instance type: stop → ModifyInstanceAttribute →
// start, in the background (task resize_migrating).
func (b *Backend) ResizeServer(ctx context.Context, id string, f proxies.Flavor) (proxies.ServerStatus, error) {
	const op = "ResizeServer"
	inst, err := b.mustInstance(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	itype, err := b.instanceTypeFor(ctx, f)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if string(inst.InstanceType) == itype {
		return b.status(inst, b.taskSnapshot()), nil
	}
	if b.busy(id) || (inst.State.Name != types.InstanceStateNameRunning && inst.State.Name != types.InstanceStateNameStopped) {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrConflict, op, "server %s is %s; resize needs it running or stopped", id, inst.State.Name)
	}
	instanceID := *inst.InstanceId
	b.cycle(id, instanceID, "resize_migrating", false, func(ctx context.Context) error {
		_, err := b.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: awsv2.String(instanceID),
			InstanceType: &types.AttributeValue{Value: awsv2.String(itype)}})
		if err != nil {
			return fmt.Errorf("ModifyInstanceAttribute %s: %w", itype, err)
		}
		return nil
	})
	st := b.status(inst, nil)
	st.TaskState = "resize_migrating"
	return st, nil
}
