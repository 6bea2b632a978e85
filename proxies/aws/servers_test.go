package aws

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

func TestInstanceTypeChoice(t *testing.T) {
	b := newMotoBackend(t, "aws-types", func(c *Config) {
		c.InstanceTypeMap = map[string]string{"mapped": "m5.xlarge"}
	})
	cases := []struct {
		name   string
		flavor proxies.Flavor
		prices map[string]float64
		want   string
		err    error
	}{
		{"tiny is the cheapest that fits", proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512}, nil, "t3a.nano", nil},
		{"2 vCPU 4 GB", proxies.Flavor{ID: "2", VCPUs: 2, RAMMB: 4096}, nil, "t3a.medium", nil},
		{"8 vCPU 32 GB", proxies.Flavor{ID: "3", VCPUs: 8, RAMMB: 32768}, nil, "t3a.2xlarge", nil},
		{"the map wins", proxies.Flavor{ID: "mapped", VCPUs: 1, RAMMB: 512}, nil, "m5.xlarge", nil},
		{"price_table overrides", proxies.Flavor{ID: "4", VCPUs: 2, RAMMB: 4096}, map[string]float64{"m5.large": 0.001}, "m5.large", nil},
		{"nothing that big", proxies.Flavor{ID: "5", VCPUs: 4096, RAMMB: 512}, nil, "", proxies.ErrCapacity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.cfg.PriceTable = c.prices
			got, err := b.instanceTypeFor(t.Context(), c.flavor)
			if got != c.want || !errors.Is(err, c.err) {
				t.Errorf("instanceTypeFor(%+v) = %q, %v; want %q, %v", c.flavor, got, err, c.want, c.err)
			}
		})
	}
	var n int
	counter := &callCounter{}
	west := motoConfig(t)
	west.Region = "us-west-2" // a catalogue no other test has described yet
	cb, err := newBackend(t.Context(), "aws-types-cache", west, nil, counter.middleware)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := cb.instanceTypeFor(t.Context(), proxies.Flavor{ID: "x", VCPUs: 1, RAMMB: 512}); err != nil {
			t.Fatal(err)
		}
	}
	if n = counter.count("DescribeInstanceTypes"); n == 0 || n > 5 {
		t.Errorf("three choices made %d DescribeInstanceTypes calls; want the catalogue described once (a few pages)", n)
	}
	first := n
	if _, err := cb.instanceTypeFor(t.Context(), proxies.Flavor{ID: "y", VCPUs: 2, RAMMB: 1024}); err != nil || counter.count("DescribeInstanceTypes") != first {
		t.Errorf("a fourth choice described the catalogue again (%d calls, %v)", counter.count("DescribeInstanceTypes"), err)
	}
}

// serverOnNetwork ensures a project network, a group and boots a server
// with one NIC (fixed .10, the group, a key and user data).
func serverOnNetwork(t *testing.T, b *Backend, project string, octet int) (proxies.ServerSpec, proxies.NetworkSpec) {
	t.Helper()
	ctx := t.Context()
	net := proxies.NetworkSpec{ID: fmt.Sprintf("net-%s-%d", project, octet), ProjectID: project, Name: "private",
		Subnets: []proxies.SubnetSpec{{ID: fmt.Sprintf("sub-%s-%d", project, octet), CIDR: fmt.Sprintf("10.0.%d.0/24", octet), IPVersion: 4}}}
	if _, err := b.Networks().EnsureNetwork(ctx, net); err != nil {
		t.Fatalf("EnsureNetwork: %v", err)
	}
	sg := proxies.SecurityGroupSpec{ID: "sg-" + net.ID, ProjectID: project, Name: "default",
		Rules: []proxies.SecurityGroupRule{{ID: "r1", Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortMin: 22, PortMax: 22}}}
	if _, err := b.EnsureSecurityGroup(ctx, sg); err != nil {
		t.Fatalf("EnsureSecurityGroup: %v", err)
	}
	spec := proxies.ServerSpec{ID: "srv-" + net.ID, ProjectID: project, Name: "vm-" + project, ImageID: contractImage,
		Flavor:    proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512, DiskGB: 1},
		PublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKVx9Dz6aXEvZ2Gw8ZbyN3m0nVxN6qXbLr3Zp2YqB1dC test@canopy",
		UserData:  []byte("#cloud-config\nhostname: vm\n"),
		NICs: []proxies.NIC{{PortID: "port-" + net.ID, NetworkID: net.ID, FixedIPs: []string{fmt.Sprintf("10.0.%d.10", octet)},
			SecurityGroupIDs: []string{sg.ID}}}}
	return spec, net
}

// TestCreateServerMapping: a retried create makes one instance, and the
// instance carries everything the spec asked for.
func TestCreateServerMapping(t *testing.T) {
	b := newMotoBackend(t, "aws-servers", nil)
	raw := rawEC2(t)
	ctx := t.Context()
	spec, _ := serverOnNetwork(t, b, "p-map", 11)
	first, err := b.Servers().CreateServer(ctx, spec)
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	t.Cleanup(func() { _ = b.Servers().DeleteServer(ctx, spec.ID) })
	for i := range 2 {
		again, err := b.Servers().CreateServer(ctx, spec)
		if err != nil || again.BottomID != first.BottomID {
			t.Fatalf("CreateServer retry #%d = %+v, %v; want instance %s", i+1, again, err, first.BottomID)
		}
	}
	if n := countTagged(t, raw, spec.ID); n != 1 {
		t.Fatalf("moto holds %d instances tagged %s after three creates; want 1", n, spec.ID)
	}
	out, err := raw.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{first.BottomID}})
	if err != nil {
		t.Fatal(err)
	}
	inst := out.Reservations[0].Instances[0]
	for k, want := range map[string]string{tagID: spec.ID, tagProject: "p-map", "Name": spec.Name, tagCloud: "aws-servers"} {
		if got := tagValue(inst.Tags, k); got != want {
			t.Errorf("tag %s = %q; want %q", k, got, want)
		}
	}
	if inst.InstanceType != "t3a.nano" || awsv2.ToString(inst.ImageId) != stockAMI {
		t.Errorf("instance is %s from %s; want t3a.nano from %s", inst.InstanceType, awsv2.ToString(inst.ImageId), stockAMI)
	}
	if awsv2.ToString(inst.PrivateIpAddress) != "10.0.11.10" {
		t.Errorf("private address %s; want the registry's 10.0.11.10", awsv2.ToString(inst.PrivateIpAddress))
	}
	if !strings.HasPrefix(awsv2.ToString(inst.KeyName), "canopy-") {
		t.Errorf("key %q; want the imported canopy-<fingerprint> key", awsv2.ToString(inst.KeyName))
	}
	sg, _ := b.findGroup(ctx, "test", "sg-net-p-map-11")
	if len(inst.NetworkInterfaces) != 1 || len(inst.NetworkInterfaces[0].Groups) != 1 || sg == nil ||
		awsv2.ToString(inst.NetworkInterfaces[0].Groups[0].GroupId) != awsv2.ToString(sg.GroupId) {
		t.Errorf("instance interfaces %+v; want one with the ensured group", inst.NetworkInterfaces)
	}
	ud, err := raw.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: inst.InstanceId, Attribute: types.InstanceAttributeNameUserData})
	if err != nil {
		t.Fatal(err)
	}
	if dec, _ := base64.StdEncoding.DecodeString(awsv2.ToString(ud.UserData.Value)); string(dec) != string(spec.UserData) {
		t.Errorf("user data %q; want %q", dec, spec.UserData)
	}
	enis, err := raw.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{filter("tag:"+tagPort, spec.NICs[0].PortID)}})
	if err != nil || len(enis.NetworkInterfaces) != 1 {
		t.Errorf("interfaces tagged with port %s: %d, %v; want 1", spec.NICs[0].PortID, len(enis.NetworkInterfaces), err)
	}
	// The image's unknown: typed not found, nothing made.
	bad := spec
	bad.ID, bad.ImageID, bad.NICs = "srv-bad-image", "no-such-image", nil
	if _, err := b.Servers().CreateServer(ctx, bad); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("CreateServer with an unmapped image = %v; want ErrNotFound", err)
	}
}

// TestListServersOneDescribe: the sync helper makes one DescribeInstances
// for all servers, never one per server.
func TestListServersOneDescribe(t *testing.T) {
	counter := &callCounter{}
	b, err := newBackend(t.Context(), "aws-list", motoConfig(t), nil, counter.middleware)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := t.Context()
	for i := range 4 {
		spec := proxies.ServerSpec{ID: fmt.Sprintf("list-%d", i), ProjectID: "p", Name: "l", ImageID: contractImage,
			Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512}}
		if _, err := b.Servers().CreateServer(ctx, spec); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Servers().DeleteServer(ctx, spec.ID) })
	}
	before := counter.count("DescribeInstances")
	list, err := b.Servers().ListServers(ctx)
	if err != nil || len(list) != 4 {
		t.Fatalf("ListServers = %d servers, %v; want 4", len(list), err)
	}
	if n := counter.count("DescribeInstances") - before; n != 1 {
		t.Errorf("ListServers made %d DescribeInstances calls; want 1", n)
	}
	for _, st := range list {
		if !strings.HasPrefix(st.ID, "list-") || st.Host == "" || st.State != proxies.StateActive {
			t.Errorf("listed %+v; want a top id, a host and active", st)
		}
	}
}

// TestResizeAndHardReboot: resize runs stop → modify → start in the
// background and ends running with the new type.
func TestResizeAndHardReboot(t *testing.T) {
	b := newMotoBackend(t, "aws-resize", nil)
	raw := rawEC2(t)
	ctx := t.Context()
	spec := proxies.ServerSpec{ID: "resize-1", ProjectID: "p", Name: "r", ImageID: contractImage, Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512}}
	st, err := b.Servers().CreateServer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Servers().DeleteServer(ctx, spec.ID) })
	rs, err := b.ResizeServer(ctx, spec.ID, proxies.Flavor{ID: "2", VCPUs: 2, RAMMB: 4096})
	if err != nil || rs.TaskState != "resize_migrating" {
		t.Fatalf("ResizeServer = %+v, %v; want task resize_migrating", rs, err)
	}
	settled := func() bool {
		g, err := b.Servers().GetServer(ctx, spec.ID)
		return err == nil && g.TaskState == "" && g.State == proxies.StateActive
	}
	eventually(t, "the resize to settle", settled)
	out, err := raw.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{st.BottomID}})
	if err != nil || out.Reservations[0].Instances[0].InstanceType != "t3a.medium" {
		t.Fatalf("after resize the type is %v (%v); want t3a.medium", out.Reservations[0].Instances[0].InstanceType, err)
	}
	if same, err := b.ResizeServer(ctx, spec.ID, proxies.Flavor{ID: "2", VCPUs: 2, RAMMB: 4096}); err != nil || same.TaskState != "" {
		t.Errorf("resize to the flavor it has = %+v, %v; want a no-op", same, err)
	}
	if _, err := b.Servers().RebootServer(ctx, spec.ID, proxies.RebootHard); err != nil {
		t.Fatalf("hard reboot: %v", err)
	}
	eventually(t, "the hard reboot to settle", settled)
	if _, err := b.ResizeServer(ctx, "no-such-server", proxies.Flavor{ID: "2", VCPUs: 2, RAMMB: 4096}); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("resize of an unknown server = %v; want ErrNotFound", err)
	}
}

func TestConsoleOutputLines(t *testing.T) {
	b := newMotoBackend(t, "aws-console", nil)
	ctx := t.Context()
	spec := proxies.ServerSpec{ID: "console-1", ProjectID: "p", Name: "c", ImageID: contractImage, Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512}}
	if _, err := b.Servers().CreateServer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Servers().DeleteServer(ctx, spec.ID) })
	all, err := b.Servers().ConsoleOutput(ctx, spec.ID, 0)
	if err != nil || !strings.Contains(all, "Linux version") {
		t.Fatalf("ConsoleOutput = %q, %v; want moto's decoded boot log", all, err)
	}
	three, err := b.Servers().ConsoleOutput(ctx, spec.ID, 3)
	if err != nil || len(strings.Split(strings.TrimRight(three, "\n"), "\n")) != 3 || !strings.HasSuffix(strings.TrimRight(all, "\n"), strings.TrimRight(three, "\n")) {
		t.Errorf("ConsoleOutput(3) = %q, %v; want the last three lines", three, err)
	}
}

// TestZoneMismatch: a server placed in a zone its network's subnet is not
// in is refused with ErrCapacity (another candidate), not moved silently.
func TestZoneMismatch(t *testing.T) {
	b := newMotoBackend(t, "aws-zones", nil)
	ctx := t.Context()
	zones, err := b.zoneNames(ctx)
	if err != nil || len(zones) < 2 {
		t.Fatalf("zones %v, %v; moto has several in us-east-1", zones, err)
	}
	spec, _ := serverOnNetwork(t, b, "p-zone", 31)
	spec.AvailabilityZone = zones[1]
	if _, err := b.Servers().CreateServer(ctx, spec); !errors.Is(err, proxies.ErrCapacity) {
		t.Fatalf("CreateServer in %s on a subnet of %s = %v; want ErrCapacity", zones[1], zones[0], err)
	}
	if n := countTagged(t, rawEC2(t), spec.ID); n != 0 {
		t.Errorf("%d instances made; want none", n)
	}
	spec.AvailabilityZone = zones[0]
	st, err := b.Servers().CreateServer(ctx, spec)
	if err != nil || st.Host != b.hostName(zones[0]) {
		t.Fatalf("CreateServer in the subnet's zone = %+v, %v; want host %s", st, err, b.hostName(zones[0]))
	}
	t.Cleanup(func() { _ = b.Servers().DeleteServer(ctx, spec.ID) })
}
