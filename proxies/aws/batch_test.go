package aws

import (
	"errors"
	"fmt"
	"testing"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/canopy-cloud/canopy/proxies"
)

func batchSpecs(prefix string, n int) []proxies.ServerSpec {
	specs := make([]proxies.ServerSpec, n)
	for i := range specs {
		specs[i] = stateSpec(fmt.Sprintf("%s-%d", prefix, i))
	}
	return specs
}

// TestCreateServersOneLaunch: five alike servers are one RunInstances of
// count 5; each instance carries its own top id and name; statuses come in
// spec order; a retry launches nothing.
func TestCreateServersOneLaunch(t *testing.T) {
	b, f := newStateBackend(t, "aws-batch", 2)
	ctx := t.Context()
	specs := batchSpecs("b", 5)
	sts, err := b.CreateServers(ctx, specs)
	if err != nil || len(sts) != 5 {
		t.Fatalf("CreateServers = %d statuses, %v; want 5", len(sts), err)
	}
	if len(f.runs) != 1 || awsv2.ToInt32(f.runs[0].MinCount) != 5 || awsv2.ToInt32(f.runs[0].MaxCount) != 5 {
		t.Fatalf("RunInstances calls %d (first %+v); want one with MinCount = MaxCount = 5", len(f.runs), f.runs)
	}
	if tok := awsv2.ToString(f.runs[0].ClientToken); len(tok) != 64 {
		t.Errorf("client token %q; want the 64-character batch token", tok)
	}
	bottoms := map[string]bool{}
	for i, st := range sts {
		if st.ID != specs[i].ID || st.State != proxies.StateBuilding || bottoms[st.BottomID] {
			t.Errorf("status #%d = %+v; want %s building on its own instance", i, st, specs[i].ID)
		}
		bottoms[st.BottomID] = true
		f.mu.Lock()
		inst := f.find(st.BottomID)
		f.mu.Unlock()
		if inst == nil || tagValue(inst.inst.Tags, tagID) != specs[i].ID || tagValue(inst.inst.Tags, "Name") != specs[i].Name ||
			tagValue(inst.inst.Tags, tagProject) != "p" || tagValue(inst.inst.Tags, tagCloud) != "aws-batch" {
			t.Errorf("instance of %s has tags %+v; want its own canopy:id and Name, the project and the cloud", specs[i].ID, inst)
		}
	}
	for _, s := range specs {
		settle(t, b, s.ID, active, 4)
	}
	again, err := b.CreateServers(ctx, specs)
	if err != nil || len(f.runs) != 1 {
		t.Fatalf("retried CreateServers: %v, %d launches in all; want the same one", err, len(f.runs))
	}
	for i := range again {
		if again[i].BottomID != sts[i].BottomID {
			t.Errorf("retry reports %s on %s; want %s", again[i].ID, again[i].BottomID, sts[i].BottomID)
		}
	}
	// One spec more than the batch made: only it is launched, on its own.
	more := append(batchSpecs("b", 5), stateSpec("b-extra"))
	if _, err := b.CreateServers(ctx, more); err != nil || len(f.runs) != 2 || awsv2.ToInt32(f.runs[1].MaxCount) != 1 {
		t.Errorf("CreateServers with one new spec: %v, %d launches; want one more launch of one instance", err, len(f.runs))
	}
}

// TestCreateServersGrouping: specs that differ in more than id and name
// are launched in groups; specs with fixed addresses never share a launch.
func TestCreateServersGrouping(t *testing.T) {
	cases := []struct {
		name      string
		edit      func(i int, s *proxies.ServerSpec)
		wantRuns  []int32 // MaxCount of each launch, in order
		batchable bool
	}{
		{"alike", func(int, *proxies.ServerSpec) {}, []int32{4}, true},
		{"two user datas", func(i int, s *proxies.ServerSpec) { s.UserData = []byte{byte('a' + i%2)} }, []int32{2, 2}, true},
		{"fixed addresses", func(i int, s *proxies.ServerSpec) {
			s.NICs = []proxies.NIC{{PortID: fmt.Sprint("port", i), NetworkID: "n", FixedIPs: []string{fmt.Sprintf("10.0.0.%d", 10+i)}}}
		}, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			specs := batchSpecs("g", 4)
			for i := range specs {
				c.edit(i, &specs[i])
			}
			if _, ok := batchKey(specs[0]); ok != c.batchable {
				t.Fatalf("batchKey ok = %v; want %v", ok, c.batchable)
			}
			if !c.batchable {
				return // per-server creates with NICs: see TestCreateServersNICsOnMoto
			}
			b, f := newStateBackend(t, "aws-group", 1)
			if _, err := b.CreateServers(t.Context(), specs); err != nil {
				t.Fatal(err)
			}
			var got []int32
			for _, r := range f.runs {
				got = append(got, awsv2.ToInt32(r.MaxCount))
			}
			if fmt.Sprint(got) != fmt.Sprint(c.wantRuns) {
				t.Errorf("launch counts %v; want %v", got, c.wantRuns)
			}
		})
	}
}

// TestCreateServersAllOrNothing: when tagging fails after the launch, every
// instance the call launched is terminated and the error is typed.
func TestCreateServersAllOrNothing(t *testing.T) {
	b, f := newStateBackend(t, "aws-batch-fail", 1)
	if _, err := b.CreateServers(t.Context(), make([]proxies.ServerSpec, maxBatch+1)); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("a batch over MaxServersBatch = %v; want ErrInvalid", err)
	}
	f.failTags = &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "slow down"}
	_, err := b.CreateServers(t.Context(), batchSpecs("f", 3))
	if !errors.Is(err, proxies.ErrUnavailable) {
		t.Fatalf("CreateServers with failing tags = %v; want ErrUnavailable", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.insts) != 3 {
		t.Fatalf("%d instances launched; want 3", len(f.insts))
	}
	for _, fi := range f.insts {
		if fi.inst.State.Name != "shutting-down" {
			t.Errorf("instance %s is %s after the failed batch; want shutting-down", awsv2.ToString(fi.inst.InstanceId), fi.inst.State.Name)
		}
	}
}

// TestCreateServersOnMoto: five alike servers are one RunInstances in moto
// and five instances, each tagged with its own top id and name; servers
// with fixed addresses on a network are launched one by one, each with its
// own address and port tag.
func TestCreateServersOnMoto(t *testing.T) {
	b := newMotoBackend(t, "aws-batch-moto", nil)
	runs := CountRunInstances(b)
	raw := rawEC2(t)
	ctx := t.Context()
	specs := make([]proxies.ServerSpec, 5)
	for i := range specs {
		specs[i] = proxies.ServerSpec{ID: fmt.Sprintf("moto-batch-%d", i), ProjectID: "p-batch", Name: fmt.Sprintf("web-%d", i+1),
			ImageID: contractImage, Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512}}
		t.Cleanup(func() { _ = b.Servers().DeleteServer(ctx, specs[i].ID) })
	}
	sts, err := b.CreateServers(ctx, specs)
	if err != nil || runs() != 1 {
		t.Fatalf("CreateServers: %v, %d RunInstances; want 1", err, runs())
	}
	for i, s := range specs {
		if n := countTagged(t, raw, s.ID); n != 1 {
			t.Errorf("moto holds %d instances tagged %s; want 1", n, s.ID)
		}
		g, err := b.Servers().GetServer(ctx, s.ID)
		if err != nil || g.BottomID != sts[i].BottomID || g.State != proxies.StateActive {
			t.Errorf("GetServer(%s) = %+v, %v; want active on %s", s.ID, g, err, sts[i].BottomID)
		}
		out, err := raw.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{sts[i].BottomID}})
		if err != nil || tagValue(out.Reservations[0].Instances[0].Tags, "Name") != s.Name {
			t.Errorf("instance %s: %v; want Name %s", sts[i].BottomID, err, s.Name)
		}
	}
	if _, err := b.CreateServers(ctx, specs); err != nil || runs() != 1 {
		t.Errorf("retried CreateServers: %v, %d RunInstances in all; want still 1", err, runs())
	}

	// Fixed addresses: one launch each, each with its own address.
	spec, _ := serverOnNetwork(t, b, "p-batch-nic", 41)
	nics := make([]proxies.ServerSpec, 3)
	for i := range nics {
		nics[i] = spec
		nics[i].ID, nics[i].Name = fmt.Sprintf("moto-nic-%d", i), fmt.Sprintf("nic-%d", i)
		nics[i].NICs = []proxies.NIC{spec.NICs[0]}
		nics[i].NICs[0].PortID = fmt.Sprintf("port-nic-%d", i)
		nics[i].NICs[0].FixedIPs = []string{fmt.Sprintf("10.0.41.%d", 20+i)}
		t.Cleanup(func() { _ = b.Servers().DeleteServer(ctx, nics[i].ID) })
	}
	before := runs()
	nsts, err := b.CreateServers(ctx, nics)
	if err != nil || runs()-before != 3 {
		t.Fatalf("CreateServers with fixed addresses: %v, %d RunInstances; want 3 (one per server)", err, runs()-before)
	}
	for i, st := range nsts {
		out, err := raw.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{st.BottomID}})
		if err != nil {
			t.Fatal(err)
		}
		inst := out.Reservations[0].Instances[0]
		if got := awsv2.ToString(inst.PrivateIpAddress); got != nics[i].NICs[0].FixedIPs[0] || tagValue(inst.Tags, tagID) != nics[i].ID {
			t.Errorf("server %s: instance %s has address %s, id tag %q; want %s", nics[i].ID, st.BottomID, got, tagValue(inst.Tags, tagID), nics[i].NICs[0].FixedIPs[0])
		}
		enis, err := raw.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{filter("tag:"+tagPort, nics[i].NICs[0].PortID)}})
		if err != nil || len(enis.NetworkInterfaces) != 1 {
			t.Errorf("interfaces tagged with port %s: %v; want 1", nics[i].NICs[0].PortID, err)
		}
	}
}
