package aws

import (
	"errors"
	"slices"
	"sync"
	"testing"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// TestNetworkMapping: one VPC per project, one tagged subnet per top
// subnet, secondary CIDR blocks for subnets outside vpc_cidr, no
// duplicates on retry, and delete removes only Canopy's subnets.
func TestNetworkMapping(t *testing.T) {
	b := newMotoBackend(t, "aws-nets", nil)
	raw := rawEC2(t)
	ctx := t.Context()
	a := proxies.NetworkSpec{ID: "net-a", ProjectID: "proj-1", Name: "a",
		Subnets: []proxies.SubnetSpec{{ID: "sub-a", CIDR: "10.0.1.0/24", IPVersion: 4}}}
	c := proxies.NetworkSpec{ID: "net-c", ProjectID: "proj-1", Name: "c",
		Subnets: []proxies.SubnetSpec{{ID: "sub-c", CIDR: "192.168.7.0/24", IPVersion: 4}}}
	other := proxies.NetworkSpec{ID: "net-o", ProjectID: "proj-2", Name: "o",
		Subnets: []proxies.SubnetSpec{{ID: "sub-o", CIDR: "10.0.1.0/24", IPVersion: 4}}}
	var vpcs []string
	for _, spec := range []proxies.NetworkSpec{a, a, c, other} {
		st, err := b.Networks().EnsureNetwork(ctx, spec)
		if err != nil {
			t.Fatalf("EnsureNetwork(%s): %v", spec.ID, err)
		}
		vpcs = append(vpcs, st.BottomID)
	}
	if vpcs[0] != vpcs[1] || vpcs[0] != vpcs[2] || vpcs[3] == vpcs[0] {
		t.Errorf("VPCs %v; want one per project (proj-1 thrice, proj-2 its own)", vpcs)
	}
	subs, err := raw.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("tag:"+tagCloud, "aws-nets")}})
	if err != nil {
		t.Fatal(err)
	}
	byTop := map[string][]types.Subnet{}
	for _, s := range subs.Subnets {
		byTop[tagValue(s.Tags, tagID)] = append(byTop[tagValue(s.Tags, tagID)], s)
	}
	for top, cidr := range map[string]string{"sub-a": "10.0.1.0/24", "sub-c": "192.168.7.0/24", "sub-o": "10.0.1.0/24"} {
		if got := byTop[top]; len(got) != 1 || awsv2.ToString(got[0].CidrBlock) != cidr || tagValue(got[0].Tags, tagNetwork) == "" {
			t.Errorf("subnets tagged %s: %+v; want exactly one %s tagged with its network", top, got, cidr)
		}
	}
	vpc, err := raw.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpcs[0]}})
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, as := range vpc.Vpcs[0].CidrBlockAssociationSet {
		blocks = append(blocks, awsv2.ToString(as.CidrBlock))
	}
	if !slices.Contains(blocks, DefaultVPCCIDR) || !slices.Contains(blocks, "192.168.7.0/24") {
		t.Errorf("VPC blocks %v; want %s and the secondary 192.168.7.0/24", blocks, DefaultVPCCIDR)
	}
	v6 := proxies.NetworkSpec{ID: "net-6", ProjectID: "proj-1", Subnets: []proxies.SubnetSpec{{ID: "sub-6", CIDR: "fd00::/64", IPVersion: 6}}}
	if _, err := b.Networks().EnsureNetwork(ctx, v6); !errors.Is(err, proxies.ErrNotSupported) {
		t.Errorf("EnsureNetwork of an IPv6 subnet = %v; want ErrNotSupported", err)
	}
	if err := b.Networks().DeleteNetwork(ctx, "net-a"); err != nil {
		t.Fatal(err)
	}
	if s, err := b.findSubnet(ctx, "test", "sub-a"); err != nil || s != nil {
		t.Errorf("after DeleteNetwork the subnet is still there: %+v, %v", s, err)
	}
	if s, err := b.findSubnet(ctx, "test", "sub-c"); err != nil || s == nil {
		t.Errorf("DeleteNetwork(net-a) took net-c's subnet too: %v", err)
	}
}

// groupKeys reads a group's permissions back from moto.
func groupKeys(t *testing.T, raw *ec2.Client, id string) map[permKey]bool {
	t.Helper()
	b := &Backend{ec2: raw}
	rules, err := b.groupRules(t.Context(), "test", id)
	if err != nil {
		t.Fatal(err)
	}
	m := map[permKey]bool{}
	for k := range rules {
		m[k] = true
	}
	return m
}

// TestSecurityGroupRules: Neutron rules become exactly these EC2
// permissions, and a changed spec converges (EC2's default egress goes
// when the spec lacks it).
func TestSecurityGroupRules(t *testing.T) {
	b := newMotoBackend(t, "aws-sg", nil)
	raw := rawEC2(t)
	ctx := t.Context()
	spec := proxies.SecurityGroupSpec{ID: "sg-rules", ProjectID: "proj-sg", Name: "web", Rules: []proxies.SecurityGroupRule{
		{ID: "1", Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortMin: 80, PortMax: 81, RemoteIPPrefix: "198.51.100.7/24"},
		{ID: "2", Direction: "ingress", EtherType: "IPv4", Protocol: "icmp"},
		{ID: "3", Direction: "ingress", EtherType: "IPv4", Protocol: "udp", RemoteGroupID: "sg-rules"},
		{ID: "4", Direction: "egress", EtherType: "IPv6", Protocol: "6", PortMin: 443, PortMax: 443},
	}}
	st, err := b.EnsureSecurityGroup(ctx, spec)
	if err != nil {
		t.Fatalf("EnsureSecurityGroup: %v", err)
	}
	want := map[permKey]bool{
		{Protocol: "tcp", From: 80, To: 81, CIDR: "198.51.100.0/24"}:      true,
		{Protocol: "icmp", From: -1, To: -1, CIDR: "0.0.0.0/0"}:           true,
		{Protocol: "udp", From: 0, To: 65535, Group: st.BottomID}:         true,
		{Egress: true, Protocol: "tcp", From: 443, To: 443, CIDR: "::/0"}: true,
	}
	if got := groupKeys(t, raw, st.BottomID); !mapsEqual(got, want) {
		t.Errorf("EC2 permissions %v; want %v (and no default egress)", got, want)
	}
	spec.Rules = []proxies.SecurityGroupRule{{ID: "5", Direction: "egress", EtherType: "IPv4"}}
	if again, err := b.EnsureSecurityGroup(ctx, spec); err != nil || again.BottomID != st.BottomID {
		t.Fatalf("EnsureSecurityGroup converge = %+v, %v", again, err)
	}
	if got := groupKeys(t, raw, st.BottomID); !mapsEqual(got, map[permKey]bool{{Egress: true, Protocol: "-1", CIDR: "0.0.0.0/0"}: true}) {
		t.Errorf("after converging to allow-all egress the permissions are %v", got)
	}
	dangling := spec
	dangling.Rules = []proxies.SecurityGroupRule{{ID: "6", Direction: "ingress", RemoteGroupID: "not-ensured"}}
	if _, err := b.EnsureSecurityGroup(ctx, dangling); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("a rule naming an unrealised remote group = %v; want ErrInvalid", err)
	}
	groups, err := raw.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{filter("tag:"+tagID, "sg-rules")}})
	if err != nil || len(groups.SecurityGroups) != 1 {
		t.Errorf("%d groups tagged sg-rules after three ensures, %v; want 1", len(groups.SecurityGroups), err)
	}
}

func mapsEqual(a, b map[permKey]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestRouterAndFloatingIP: the router's route table routes 0.0.0.0/0 to the
// VPC's internet gateway and serves its subnet; the Elastic IP is made
// once, follows the port, and is released.
func TestRouterAndFloatingIP(t *testing.T) {
	b := newMotoBackend(t, "aws-fip", nil)
	raw := rawEC2(t)
	ctx := t.Context()
	spec, net := serverOnNetwork(t, b, "p-fip", 21)
	router := proxies.RouterSpec{ID: "router-1", ProjectID: "p-fip", Name: "r", ExternalNetworkID: "public", SNAT: true,
		Interfaces: []proxies.RouterInterface{{PortID: "rp", NetworkID: net.ID, SubnetID: net.Subnets[0].ID, IPAddress: "10.0.21.1"}},
		Routes:     []proxies.Route{{Destination: "172.16.0.0/24", NextHop: "10.0.21.10"}}}
	if _, err := b.Servers().CreateServer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Servers().DeleteServer(ctx, spec.ID) })
	rs, err := b.EnsureRouter(ctx, router)
	if err != nil {
		t.Fatalf("EnsureRouter: %v", err)
	}
	if again, err := b.EnsureRouter(ctx, router); err != nil || again != rs {
		t.Fatalf("EnsureRouter retried = %+v, %v; want %+v", again, err, rs)
	}
	rt, err := b.findRouteTable(ctx, "test", router.ID)
	if err != nil || rt == nil {
		t.Fatalf("route table: %+v, %v", rt, err)
	}
	routes := map[string]string{}
	for _, r := range rt.Routes {
		routes[awsv2.ToString(r.DestinationCidrBlock)] = awsv2.ToString(r.GatewayId) + awsv2.ToString(r.NetworkInterfaceId)
	}
	eni, err := b.findPortENI(ctx, "test", spec.ID, spec.NICs[0].PortID)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes[defaultRoute]) < 4 || routes[defaultRoute][:4] != "igw-" || routes["172.16.0.0/24"] != awsv2.ToString(eni.NetworkInterfaceId) {
		t.Errorf("routes %v; want 0.0.0.0/0 via an internet gateway and 172.16.0.0/24 via the server's interface", routes)
	}
	sub, _ := b.findSubnet(ctx, "test", net.Subnets[0].ID)
	assoc := 0
	for _, a := range rt.Associations {
		if awsv2.ToString(a.SubnetId) == awsv2.ToString(sub.SubnetId) {
			assoc++
		}
	}
	if assoc != 1 {
		t.Errorf("route table has %d associations with the router's subnet; want 1", assoc)
	}

	fip := proxies.FloatingIPSpec{ID: "fip-1", ProjectID: "p-fip", FloatingNetworkID: "public", Address: "172.24.4.10",
		PortID: spec.NICs[0].PortID, ServerID: spec.ID, FixedIP: "10.0.21.10"}
	first, err := b.EnsureFloatingIP(ctx, fip)
	if err != nil {
		t.Fatalf("EnsureFloatingIP: %v", err)
	}
	if again, err := b.EnsureFloatingIP(ctx, fip); err != nil || again != first {
		t.Fatalf("EnsureFloatingIP retried = %+v, %v; want %+v", again, err, first)
	}
	addrs, err := raw.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []types.Filter{filter("tag:"+tagID, fip.ID)}})
	if err != nil || len(addrs.Addresses) != 1 {
		t.Fatalf("%d Elastic IPs tagged %s, %v; want 1", len(addrs.Addresses), fip.ID, err)
	}
	a := addrs.Addresses[0]
	if awsv2.ToString(a.PublicIp) != first.PublicAddress || awsv2.ToString(a.NetworkInterfaceId) != awsv2.ToString(eni.NetworkInterfaceId) ||
		awsv2.ToString(a.PrivateIpAddress) != "10.0.21.10" {
		t.Errorf("EIP %s on %s/%s; want %s on the port's interface at 10.0.21.10", awsv2.ToString(a.PublicIp),
			awsv2.ToString(a.NetworkInterfaceId), awsv2.ToString(a.PrivateIpAddress), first.PublicAddress)
	}
	fip.PortID, fip.ServerID, fip.FixedIP = "", "", ""
	if free, err := b.EnsureFloatingIP(ctx, fip); err != nil || free.PortID != "" {
		t.Fatalf("EnsureFloatingIP with no port = %+v, %v", free, err)
	}
	if got, _ := b.findAddress(ctx, "test", fip.ID); got == nil || got.AssociationId != nil {
		t.Errorf("after disassociating the EIP is %+v; want it unassociated", got)
	}
	for range 2 {
		if err := b.ReleaseFloatingIP(ctx, fip.ID); err != nil {
			t.Fatalf("ReleaseFloatingIP: %v", err)
		}
	}
	if got, _ := b.findAddress(ctx, "test", fip.ID); got != nil {
		t.Errorf("the EIP is still allocated after release: %+v", got)
	}
	for range 2 {
		if err := b.DeleteRouter(ctx, router.ID); err != nil {
			t.Fatalf("DeleteRouter: %v", err)
		}
	}
}

// TestEnsureNetworkConcurrently: many servers built at once on a new network
// all ensure it; every ensure succeeds and one subnet is made.
func TestEnsureNetworkConcurrently(t *testing.T) {
	b := newMotoBackend(t, "aws-race", nil)
	raw := rawEC2(t)
	ctx := t.Context()
	spec := proxies.NetworkSpec{ID: "net-r", ProjectID: "proj-r", Name: "r",
		Subnets: []proxies.SubnetSpec{{ID: "sub-r", CIDR: "10.0.9.0/24", IPVersion: 4}}}
	errs := make([]error, 12)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { _, errs[i] = b.Networks().EnsureNetwork(ctx, spec) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("ensure #%d: %v", i, err)
		}
	}
	subs, err := raw.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("tag:"+tagID, "sub-r")}})
	if err != nil || len(subs.Subnets) != 1 {
		t.Fatalf("subnets tagged sub-r: %d, %v; want exactly 1", len(subs.Subnets), err)
	}
}
