package aws

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// findGroup returns the security group of top id, or nil.
func (b *Backend) findGroup(ctx context.Context, op, id string) (*types.SecurityGroup, error) {
	out, err := b.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		filter("tag:"+tagID, id), filter("tag:"+tagCloud, b.name)}})
	if err != nil {
		return nil, mapErr(op, err)
	}
	if len(out.SecurityGroups) == 0 {
		return nil, nil
	}
	return &out.SecurityGroups[0], nil
}

// permKey is one EC2 permission with a single range, the unit rules are
// compared in: direction, protocol, ports, and one peer (cidr or group).
type permKey struct {
	Egress   bool
	Protocol string // EC2's: -1, tcp, udp, icmp, icmpv6 as 58, or a number
	From, To int32
	CIDR     string // IPv4 or IPv6 prefix
	Group    string // bottom group id
}

// ec2Protocol translates a Neutron protocol to EC2's IpProtocol.
func ec2Protocol(p string) (string, error) {
	switch strings.ToLower(p) {
	case "", "any", "-1":
		return "-1", nil
	case "tcp", "6":
		return "tcp", nil
	case "udp", "17":
		return "udp", nil
	case "icmp", "1":
		return "icmp", nil
	case "icmpv6", "ipv6-icmp", "58":
		return "58", nil
	}
	if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 255 {
		return p, nil
	}
	return "", fmt.Errorf("protocol %q is not one EC2 knows", p)
}

// ruleKey translates a Neutron rule into EC2's form. self is the group's
// own top id and bottom id; remote groups are looked up.
func (b *Backend) ruleKey(ctx context.Context, op string, r proxies.SecurityGroupRule, selfTop, selfBottom string) (permKey, error) {
	proto, err := ec2Protocol(r.Protocol)
	if err != nil {
		return permKey{}, proxies.Errorf(proxies.ErrInvalid, op, "rule %s: %v", r.ID, err)
	}
	k := permKey{Egress: r.Direction == "egress", Protocol: proto}
	switch proto {
	case "-1":
	case "tcp", "udp":
		k.From, k.To = int32(r.PortMin), int32(r.PortMax)
		if r.PortMin == 0 && r.PortMax == 0 {
			k.From, k.To = 0, 65535
		}
	case "icmp", "58":
		k.From, k.To = -1, -1
		if r.PortMin > 0 || (r.PortMin == 0 && r.PortMax > 0) {
			k.From = int32(r.PortMin)
			if r.PortMax > 0 {
				k.To = int32(r.PortMax)
			}
		}
	default:
		k.From, k.To = -1, -1
	}
	switch {
	case r.RemoteGroupID == selfTop && selfTop != "":
		k.Group = selfBottom
	case r.RemoteGroupID != "":
		g, err := b.findGroup(ctx, op, r.RemoteGroupID)
		if err != nil {
			return permKey{}, err
		}
		if g == nil {
			return permKey{}, proxies.Errorf(proxies.ErrInvalid, op, "rule %s: remote group %s is not realised in AWS cloud %s; ensure it first", r.ID, r.RemoteGroupID, b.name)
		}
		k.Group = awsv2.ToString(g.GroupId)
	case r.RemoteIPPrefix != "":
		p, err := netip.ParsePrefix(r.RemoteIPPrefix)
		if err != nil {
			return permKey{}, proxies.Errorf(proxies.ErrInvalid, op, "rule %s: remote_ip_prefix %q is not a CIDR", r.ID, r.RemoteIPPrefix)
		}
		k.CIDR = p.Masked().String()
	case r.EtherType == "IPv6":
		k.CIDR = "::/0"
	default:
		k.CIDR = "0.0.0.0/0"
	}
	return k, nil
}

// groupRules reads a group's rules (one peer each) by rule id.
func (b *Backend) groupRules(ctx context.Context, op, groupID string) (map[permKey]string, error) {
	out := map[permKey]string{}
	p := ec2.NewDescribeSecurityGroupRulesPaginator(b.ec2, &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{filter("group-id", groupID)}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapErr(op, err)
		}
		for _, r := range page.SecurityGroupRules {
			k := permKey{Egress: awsv2.ToBool(r.IsEgress), Protocol: awsv2.ToString(r.IpProtocol), From: awsv2.ToInt32(r.FromPort), To: awsv2.ToInt32(r.ToPort)}
			if k.Protocol == "-1" {
				k.From, k.To = 0, 0
			}
			switch {
			case r.ReferencedGroupInfo != nil:
				k.Group = awsv2.ToString(r.ReferencedGroupInfo.GroupId)
			case r.CidrIpv6 != nil:
				k.CIDR = awsv2.ToString(r.CidrIpv6)
			default:
				k.CIDR = awsv2.ToString(r.CidrIpv4)
			}
			out[k] = awsv2.ToString(r.SecurityGroupRuleId)
		}
	}
	return out, nil
}

// permission is the EC2 form of one key.
func (k permKey) permission() types.IpPermission {
	p := types.IpPermission{IpProtocol: awsv2.String(k.Protocol)}
	if k.Protocol != "-1" {
		p.FromPort, p.ToPort = awsv2.Int32(k.From), awsv2.Int32(k.To)
	}
	switch {
	case k.Group != "":
		p.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: awsv2.String(k.Group)}}
	case strings.Contains(k.CIDR, ":"):
		p.Ipv6Ranges = []types.Ipv6Range{{CidrIpv6: awsv2.String(k.CIDR)}}
	default:
		p.IpRanges = []types.IpRange{{CidrIp: awsv2.String(k.CIDR)}}
	}
	return p
}

// validateGroup refuses a spec EC2 cannot express before anything changes.
func validateGroup(op string, spec proxies.SecurityGroupSpec) error {
	if spec.ID == "" {
		return proxies.Errorf(proxies.ErrInvalid, op, "the security group has no id")
	}
	for _, r := range spec.Rules {
		if r.Direction != "ingress" && r.Direction != "egress" {
			return proxies.Errorf(proxies.ErrInvalid, op, "rule %s: direction %q is neither ingress nor egress", r.ID, r.Direction)
		}
		if r.EtherType != "" && r.EtherType != "IPv4" && r.EtherType != "IPv6" {
			return proxies.Errorf(proxies.ErrInvalid, op, "rule %s: ethertype %q is neither IPv4 nor IPv6", r.ID, r.EtherType)
		}
		if r.RemoteIPPrefix != "" {
			if _, err := netip.ParsePrefix(r.RemoteIPPrefix); err != nil {
				return proxies.Errorf(proxies.ErrInvalid, op, "rule %s: remote_ip_prefix %q is not a CIDR", r.ID, r.RemoteIPPrefix)
			}
		}
		if _, err := ec2Protocol(r.Protocol); err != nil {
			return proxies.Errorf(proxies.ErrInvalid, op, "rule %s: %v", r.ID, err)
		}
	}
	return nil
}

// groupVPC is the VPC a group lives in: its project's.
func (b *Backend) groupVPC(ctx context.Context, op string, spec proxies.SecurityGroupSpec) (*types.Vpc, error) {
	return b.ensureVPC(ctx, op, spec.ProjectID)
}

// EnsureSecurityGroup creates the group in the project's VPC or converges
// it: rules missing in EC2 are authorised, extra ones (including EC2's
// default allow-all egress when the spec lacks it) revoked.
func (b *Backend) EnsureSecurityGroup(ctx context.Context, spec proxies.SecurityGroupSpec) (proxies.SecurityGroupStatus, error) {
	const op = "EnsureSecurityGroup"
	if err := validateGroup(op, spec); err != nil {
		return proxies.SecurityGroupStatus{}, err
	}
	sg, err := b.findGroup(ctx, op, spec.ID)
	if err != nil {
		return proxies.SecurityGroupStatus{}, err
	}
	if sg == nil {
		vpc, err := b.groupVPC(ctx, op, spec)
		if err != nil {
			return proxies.SecurityGroupStatus{}, err
		}
		desc := spec.Description
		if desc == "" {
			desc = "Canopy security group " + spec.Name
		}
		out, err := b.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: awsv2.String("canopy-" + spec.ID),
			Description: awsv2.String(desc), VpcId: vpc.VpcId,
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup,
				Tags: tagList(tagID, spec.ID, tagProject, spec.ProjectID, tagCloud, b.name, "Name", spec.Name)}}})
		if err != nil {
			return proxies.SecurityGroupStatus{}, mapErr(op, err)
		}
		if sg, err = b.findGroup(ctx, op, spec.ID); err != nil {
			return proxies.SecurityGroupStatus{}, err
		}
		if sg == nil {
			sg = &types.SecurityGroup{GroupId: out.GroupId}
		}
	}
	gid := awsv2.ToString(sg.GroupId)
	want := map[permKey]bool{}
	for _, r := range spec.Rules {
		k, err := b.ruleKey(ctx, op, r, spec.ID, gid)
		if err != nil {
			return proxies.SecurityGroupStatus{}, err
		}
		want[k] = true
	}
	have, err := b.groupRules(ctx, op, gid)
	if err != nil {
		return proxies.SecurityGroupStatus{}, err
	}
	// Extra rules are revoked by rule id (exact, and the form moto
	// honours for IPv6 rules), missing ones authorised as permissions.
	var revokeIn, revokeOut []string
	var addIn, addOut []types.IpPermission
	for k, ruleID := range have {
		if !want[k] {
			if k.Egress {
				revokeOut = append(revokeOut, ruleID)
			} else {
				revokeIn = append(revokeIn, ruleID)
			}
		}
	}
	for k := range want {
		if _, ok := have[k]; !ok {
			if k.Egress {
				addOut = append(addOut, k.permission())
			} else {
				addIn = append(addIn, k.permission())
			}
		}
	}
	if len(revokeIn) > 0 {
		if _, err := b.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: sg.GroupId, SecurityGroupRuleIds: revokeIn}); err != nil {
			return proxies.SecurityGroupStatus{}, mapErr(op, err)
		}
	}
	if len(revokeOut) > 0 {
		if _, err := b.ec2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: sg.GroupId, SecurityGroupRuleIds: revokeOut}); err != nil {
			return proxies.SecurityGroupStatus{}, mapErr(op, err)
		}
	}
	if len(addIn) > 0 {
		if _, err := b.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: addIn}); err != nil && !isCode(err, "InvalidPermission.Duplicate") {
			return proxies.SecurityGroupStatus{}, mapErr(op, err)
		}
	}
	if len(addOut) > 0 {
		if _, err := b.ec2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: sg.GroupId, IpPermissions: addOut}); err != nil && !isCode(err, "InvalidPermission.Duplicate") {
			return proxies.SecurityGroupStatus{}, mapErr(op, err)
		}
	}
	return proxies.SecurityGroupStatus{ID: spec.ID, BottomID: gid}, nil
}

// DeleteSecurityGroup deletes the group; nil when gone, ErrConflict while
// an interface uses it.
func (b *Backend) DeleteSecurityGroup(ctx context.Context, id string) error {
	const op = "DeleteSecurityGroup"
	sg, err := b.findGroup(ctx, op, id)
	if err != nil || sg == nil {
		return err
	}
	// EC2 refuses with DependencyViolation too; asking first gives the
	// same answer on simulators that do not check.
	used, err := b.ec2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{filter("group-id", awsv2.ToString(sg.GroupId))}})
	if err != nil {
		return mapErr(op, err)
	}
	if len(used.NetworkInterfaces) > 0 {
		return proxies.Errorf(proxies.ErrConflict, op, "security group %s is used by %d network interfaces", id, len(used.NetworkInterfaces))
	}
	if _, err := b.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: sg.GroupId}); err != nil && !isNotFound(err) {
		return mapErr(op, err)
	}
	return nil
}

// findPortENI is server serverID's network interface for top port portID:
// the one tagged with the port, else the primary one when the server has
// exactly one.
func (b *Backend) findPortENI(ctx context.Context, op, serverID, portID string) (*types.InstanceNetworkInterface, error) {
	inst, err := b.mustInstance(ctx, op, serverID)
	if err != nil {
		return nil, err
	}
	enis := inst.NetworkInterfaces
	ids := make([]string, 0, len(enis))
	for _, e := range enis {
		ids = append(ids, awsv2.ToString(e.NetworkInterfaceId))
	}
	if len(ids) > 0 && portID != "" {
		out, err := b.ec2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: ids,
			Filters: []types.Filter{filter("tag:"+tagPort, portID)}})
		if err != nil {
			return nil, mapErr(op, err)
		}
		for _, tagged := range out.NetworkInterfaces {
			if i := slices.IndexFunc(enis, func(e types.InstanceNetworkInterface) bool {
				return awsv2.ToString(e.NetworkInterfaceId) == awsv2.ToString(tagged.NetworkInterfaceId)
			}); i >= 0 {
				return &enis[i], nil
			}
		}
	}
	if len(enis) == 1 {
		return &enis[0], nil
	}
	return nil, proxies.Errorf(proxies.ErrNotFound, op, "server %s has no interface for port %s in AWS cloud %s", serverID, portID, b.name)
}

// SetNICSecurityGroups makes the port's interface use exactly groupIDs.
func (b *Backend) SetNICSecurityGroups(ctx context.Context, serverID, portID string, groupIDs []string) error {
	const op = "SetNICSecurityGroups"
	eni, err := b.findPortENI(ctx, op, serverID, portID)
	if err != nil {
		return err
	}
	var want []string
	for _, g := range groupIDs {
		sg, err := b.findGroup(ctx, op, g)
		if err != nil {
			return err
		}
		if sg == nil {
			return proxies.Errorf(proxies.ErrNotFound, op, "security group %s is not realised in AWS cloud %s", g, b.name)
		}
		want = append(want, awsv2.ToString(sg.GroupId))
	}
	if len(want) == 0 {
		return proxies.Errorf(proxies.ErrInvalid, op, "an EC2 interface needs at least one security group")
	}
	var have []string
	for _, g := range eni.Groups {
		have = append(have, awsv2.ToString(g.GroupId))
	}
	slices.Sort(want)
	slices.Sort(have)
	if slices.Equal(want, have) {
		return nil
	}
	if _, err := b.ec2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: eni.NetworkInterfaceId, Groups: want}); err != nil {
		return mapErr(op, err)
	}
	return nil
}
