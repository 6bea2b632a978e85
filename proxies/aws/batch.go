package aws

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// Batching (proxies.BatchCreator): the specs of one CreateServers call that
// differ only in top id, name and port ids are launched by one RunInstances
// with MinCount = MaxCount = n, which EC2 runs all or nothing. EC2 gives
// every instance of one call the same tags and the same network interface
// specifications, and it refuses a private address (PrivateIpAddress, or an
// existing interface) when it launches more than one instance. So:
//
//   - the launch carries the tags the group shares (canopy:project,
//     canopy:cloud) and canopy:batch, a token derived from the group's top
//     ids that is also the ClientToken; each instance (by its launch index)
//     and its root volume are then tagged with its own canopy:id and Name,
//     and its interfaces with its ports;
//   - a spec whose NICs carry fixed addresses (every NIC on a subnet: the
//     registry allocates the address before the backend is called) cannot
//     share a launch, and is created by CreateServer on its own, as is a
//     spec alike no other.
//
// A retried batch finds by canopy:id the servers already made, and adopts by
// canopy:batch the instances a launch made that were not tagged yet.

// maxBatch is the most specs one CreateServers call takes
// (Capabilities.MaxServersBatch).
const maxBatch = 50

// tagBatch marks the instances of one batched launch with its token.
const tagBatch = "canopy:batch"

var _ proxies.BatchCreator = (*Backend)(nil)

// CreateServers creates one server per spec, one RunInstances per group of
// alike specs (see Batching above), and returns their statuses in spec
// order. On error it terminates every instance it launched.
func (b *Backend) CreateServers(ctx context.Context, specs []proxies.ServerSpec) ([]proxies.ServerStatus, error) {
	const op = "CreateServers"
	if len(specs) > maxBatch {
		return nil, proxies.Errorf(proxies.ErrInvalid, op, "%d servers in one batch; AWS cloud %s takes at most %d", len(specs), b.name, maxBatch)
	}
	ids := make([]string, len(specs))
	for i, s := range specs {
		if s.ID == "" || slices.Contains(ids[:i], s.ID) {
			return nil, proxies.Errorf(proxies.ErrInvalid, op, "every server of a batch needs its own id")
		}
		ids[i] = s.ID
	}
	out := make([]proxies.ServerStatus, len(specs))
	found, err := b.describeInstances(ctx, op, b.instanceFilters(types.Filter{Name: awsv2.String("tag:" + tagID), Values: ids}))
	if err != nil {
		return nil, err
	}
	slices.SortFunc(found, func(x, y types.Instance) int { return awsv2.ToTime(x.LaunchTime).Compare(awsv2.ToTime(y.LaunchTime)) })
	done := make([]bool, len(specs))
	for i := range found {
		if j := slices.Index(ids, tagValue(found[i].Tags, tagID)); j >= 0 && !done[j] {
			out[j], done[j] = b.status(&found[i], nil), true
		}
	}
	// Group what is missing, in spec order.
	var groups [][]int
	keys := map[string]int{}
	for i, s := range specs {
		if done[i] {
			continue
		}
		k, ok := batchKey(s)
		if g, seen := keys[k]; ok && seen {
			groups[g] = append(groups[g], i)
			continue
		}
		if ok {
			keys[k] = len(groups)
		}
		groups = append(groups, []int{i})
	}
	var launched []string
	for _, g := range groups {
		if len(g) == 1 {
			st, err := serverDriver{b}.CreateServer(ctx, specs[g[0]])
			if err != nil {
				b.terminate(ctx, launched)
				return nil, err
			}
			out[g[0]] = st
			launched = append(launched, st.BottomID)
			continue
		}
		group := make([]proxies.ServerSpec, len(g))
		for k, i := range g {
			group[k] = specs[i]
		}
		sts, made, err := b.launchGroup(ctx, op, group)
		launched = append(launched, made...)
		if err != nil {
			b.terminate(ctx, launched)
			return nil, err
		}
		for k, i := range g {
			out[i] = sts[k]
		}
	}
	return out, nil
}

// batchKey is what specs must share to be launched together, and whether
// spec can share a launch at all (no fixed address on any NIC).
func batchKey(spec proxies.ServerSpec) (string, bool) {
	type nicShape struct {
		Network string   `json:"n"`
		Groups  []string `json:"g"`
	}
	nics := make([]nicShape, len(spec.NICs))
	for i, n := range spec.NICs {
		if len(n.FixedIPs) > 0 {
			return "", false
		}
		nics[i] = nicShape{n.NetworkID, n.SecurityGroupIDs}
	}
	spec.ID, spec.Name, spec.NICs = "", "", nil
	raw, err := json.Marshal(struct {
		Spec proxies.ServerSpec `json:"s"`
		NICs []nicShape         `json:"n"`
	}{spec, nics})
	return string(raw), err == nil
}

// batchToken is the ClientToken and canopy:batch tag of a group: 64 hex
// characters (EC2's limit) derived from its top ids.
func batchToken(group []proxies.ServerSpec) string {
	h := sha256.New()
	for _, s := range group {
		h.Write([]byte(s.ID))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// launchGroup runs one RunInstances for group (alike specs, none of which
// exists) and tags each instance as its spec. It returns the statuses in
// group order and the ids of the instances it launched or adopted, also on
// error.
func (b *Backend) launchGroup(ctx context.Context, op string, group []proxies.ServerSpec) ([]proxies.ServerStatus, []string, error) {
	token := batchToken(group)
	n := len(group)
	insts, err := b.describeInstances(ctx, op, b.instanceFilters(types.Filter{Name: awsv2.String("tag:" + tagBatch), Values: []string{token}}))
	if err != nil {
		return nil, nil, err
	}
	if len(insts) != n {
		// None, or the remains of a launch that was cut short: start over.
		var stale []string
		for _, inst := range insts {
			stale = append(stale, awsv2.ToString(inst.InstanceId))
		}
		b.terminate(ctx, stale)
		in, err := b.runInput(ctx, op, group[0])
		if err != nil {
			return nil, nil, err
		}
		in.MinCount, in.MaxCount = awsv2.Int32(int32(n)), awsv2.Int32(int32(n))
		in.ClientToken = awsv2.String(token)
		shared := tagList(tagProject, group[0].ProjectID, tagCloud, b.name, tagBatch, token)
		in.TagSpecifications = []types.TagSpecification{
			{ResourceType: types.ResourceTypeInstance, Tags: shared},
			{ResourceType: types.ResourceTypeVolume, Tags: shared},
		}
		out, err := b.ec2.RunInstances(ctx, in)
		if err != nil {
			if amiGone(err) {
				b.forgetAMI(group[0].ImageID)
			}
			return nil, nil, mapErr(op, err)
		}
		insts = out.Instances
	}
	var made []string
	for _, inst := range insts {
		made = append(made, awsv2.ToString(inst.InstanceId))
	}
	if len(insts) != n {
		return nil, made, proxies.Errorf(proxies.ErrUnavailable, op, "RunInstances for %d servers returned %d instances", n, len(insts))
	}
	for _, inst := range insts {
		if inst.State != nil && !slices.Contains(liveStates, string(inst.State.Name)) {
			// EC2 answers a reused ClientToken with the instances of the
			// first launch: here a failed batch's, already terminated.
			return nil, made, proxies.Errorf(proxies.ErrConflict, op, "this batch was launched and removed before; create its servers one by one")
		}
	}
	slices.SortFunc(insts, func(x, y types.Instance) int {
		return cmp.Or(cmp.Compare(awsv2.ToInt32(x.AmiLaunchIndex), awsv2.ToInt32(y.AmiLaunchIndex)),
			strings.Compare(awsv2.ToString(x.InstanceId), awsv2.ToString(y.InstanceId)))
	})
	sts := make([]proxies.ServerStatus, n)
	for i := range insts {
		inst, spec := &insts[i], group[i]
		resources := []string{awsv2.ToString(inst.InstanceId)}
		for _, bd := range inst.BlockDeviceMappings {
			if bd.Ebs != nil && bd.Ebs.VolumeId != nil {
				resources = append(resources, *bd.Ebs.VolumeId)
			}
		}
		if _, err := b.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: resources, Tags: b.serverTags(spec)}); err != nil {
			return nil, made, mapErr(op, err)
		}
		if err := b.tagPorts(ctx, op, spec, inst); err != nil {
			return nil, made, err
		}
		sts[i] = b.status(inst, nil)
		sts[i].ID = spec.ID
	}
	return sts, made, nil
}

// terminate removes instances a failed batch launched, best effort: with
// its own short deadline, since ctx may be what failed.
func (b *Backend) terminate(ctx context.Context, instanceIDs []string) {
	if len(instanceIDs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.CallTimeout+5*time.Second)
	defer cancel()
	if _, err := b.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: instanceIDs}); err != nil && !isNotFound(err) {
		b.log.Error("terminate the instances of a failed batch", "instances", instanceIDs, "err", err)
	}
}
