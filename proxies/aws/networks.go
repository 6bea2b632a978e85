package aws

import (
	"context"
	"net/netip"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// networkDriver realises top networks as subnets of the project's VPC.
type networkDriver struct{ b *Backend }

// externalBottomID is the bottom id of an external network: EC2's internet
// (reached through the VPC's internet gateway) has no resource of its own.
const externalBottomID = "internet"

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: awsv2.String(name), Values: values}
}

// findVPC returns the project's VPC, or nil.
func (b *Backend) findVPC(ctx context.Context, op, project string) (*types.Vpc, error) {
	out, err := b.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{
		filter("tag:"+tagCloud, b.name), filter("tag:"+tagKind, "vpc"), filter("tag:"+tagProject, project),
	}})
	if err != nil {
		return nil, mapErr(op, err)
	}
	if len(out.Vpcs) == 0 {
		return nil, nil
	}
	return &out.Vpcs[0], nil
}

// ensureVPC returns the project's VPC, creating it with vpc_cidr.
func (b *Backend) ensureVPC(ctx context.Context, op, project string) (*types.Vpc, error) {
	b.vpcMu.Lock()
	defer b.vpcMu.Unlock()
	if vpc, err := b.findVPC(ctx, op, project); err != nil || vpc != nil {
		return vpc, err
	}
	out, err := b.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: awsv2.String(b.cfg.VPCCIDR),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc,
			Tags: tagList(tagCloud, b.name, tagKind, "vpc", tagProject, project, "Name", "canopy-"+project)}}})
	if err != nil {
		return nil, mapErr(op, err)
	}
	return out.Vpc, nil
}

// ensureCIDR makes sure the VPC's CIDR blocks cover cidr, adding it as a
// secondary block when they do not.
func (b *Backend) ensureCIDR(ctx context.Context, op string, vpc *types.Vpc, cidr netip.Prefix) error {
	for _, a := range vpc.CidrBlockAssociationSet {
		if a.CidrBlockState != nil && (a.CidrBlockState.State == types.VpcCidrBlockStateCodeDisassociated || a.CidrBlockState.State == types.VpcCidrBlockStateCodeFailed) {
			continue
		}
		if p, err := netip.ParsePrefix(awsv2.ToString(a.CidrBlock)); err == nil && p.Bits() <= cidr.Bits() && p.Contains(cidr.Addr()) {
			return nil
		}
	}
	if _, err := b.ec2.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: vpc.VpcId, CidrBlock: awsv2.String(cidr.String())}); err != nil {
		return mapErr(op, err)
	}
	return nil
}

// findSubnet returns the EC2 subnet of top subnet id (subnet_map or tag).
func (b *Backend) findSubnet(ctx context.Context, op, id string) (*types.Subnet, error) {
	in := &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("tag:"+tagID, id), filter("tag:"+tagCloud, b.name)}}
	if mapped, ok := b.cfg.SubnetMap[id]; ok {
		in = &ec2.DescribeSubnetsInput{SubnetIds: []string{mapped}}
	}
	out, err := b.ec2.DescribeSubnets(ctx, in)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, mapErr(op, err)
	}
	if len(out.Subnets) == 0 {
		return nil, nil
	}
	return &out.Subnets[0], nil
}

// EnsureNetwork realises every IPv4 subnet of the network as an EC2 subnet
// of the project's VPC, in the first zone. The bottom id is the VPC's.
func (d networkDriver) EnsureNetwork(ctx context.Context, spec proxies.NetworkSpec) (proxies.NetworkStatus, error) {
	const op = "EnsureNetwork"
	b := d.b
	if spec.ID == "" {
		return proxies.NetworkStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the network has no id")
	}
	for _, sn := range spec.Subnets {
		if _, err := netip.ParsePrefix(sn.CIDR); err != nil || sn.ID == "" {
			return proxies.NetworkStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "subnet %q: %q is not a CIDR", sn.ID, sn.CIDR)
		}
	}
	if spec.External {
		return proxies.NetworkStatus{ID: spec.ID, BottomID: externalBottomID, Ready: true}, nil
	}
	vpc, err := b.ensureVPC(ctx, op, spec.ProjectID)
	if err != nil {
		return proxies.NetworkStatus{}, err
	}
	zones, err := b.zoneNames(ctx)
	if err != nil {
		return proxies.NetworkStatus{}, err
	}
	// Many servers built at once on a new network all ensure it: find and
	// create under one lock here, and treat another process's concurrent
	// create (InvalidSubnet.Conflict) as found.
	b.subnetMu.Lock()
	defer b.subnetMu.Unlock()
	for _, sn := range spec.Subnets {
		if s, err := b.findSubnet(ctx, op, sn.ID); err != nil || s != nil {
			if err != nil {
				return proxies.NetworkStatus{}, err
			}
			continue
		}
		cidr, _ := netip.ParsePrefix(sn.CIDR)
		if !cidr.Addr().Is4() {
			return proxies.NetworkStatus{}, proxies.Errorf(proxies.ErrNotSupported, op, "subnet %s (%s): only IPv4 subnets are realised on AWS", sn.ID, sn.CIDR)
		}
		if err := b.ensureCIDR(ctx, op, vpc, cidr.Masked()); err != nil {
			return proxies.NetworkStatus{}, err
		}
		_, err = b.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.VpcId, CidrBlock: awsv2.String(cidr.Masked().String()),
			AvailabilityZone: awsv2.String(zones[0]),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSubnet,
				Tags: tagList(tagID, sn.ID, tagNetwork, spec.ID, tagProject, spec.ProjectID, tagCloud, b.name, "Name", spec.Name)}}})
		if err != nil && isCode(err, "InvalidSubnet.Conflict") {
			if s, ferr := b.findSubnet(ctx, op, sn.ID); ferr == nil && s != nil {
				continue // made by a concurrent ensure
			}
		}
		if err != nil {
			return proxies.NetworkStatus{}, mapErr(op, err)
		}
	}
	return proxies.NetworkStatus{ID: spec.ID, BottomID: awsv2.ToString(vpc.VpcId), Ready: true}, nil
}

// DeleteNetwork deletes the subnets Canopy made for the network (a
// subnet_map subnet is configuration and stays). The project's VPC stays
// for the project's other networks and groups. ErrConflict while a subnet
// still has interfaces.
func (d networkDriver) DeleteNetwork(ctx context.Context, id string) error {
	const op = "DeleteNetwork"
	b := d.b
	out, err := b.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("tag:"+tagNetwork, id), filter("tag:"+tagCloud, b.name)}})
	if err != nil {
		return mapErr(op, err)
	}
	for _, s := range out.Subnets {
		if _, err := b.ec2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: s.SubnetId}); err != nil && !isNotFound(err) {
			return mapErr(op, err)
		}
	}
	return nil
}

// nicSpec is the RunInstances interface of one NIC: the EC2 subnet of its
// network that holds its fixed IP, its address and its security groups;
// and the subnet's zone.
func (b *Backend) nicSpec(ctx context.Context, op string, nic proxies.NIC) (types.InstanceNetworkInterfaceSpecification, string, error) {
	var spec types.InstanceNetworkInterfaceSpecification
	zone := ""
	out, err := b.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("tag:"+tagNetwork, nic.NetworkID), filter("tag:"+tagCloud, b.name)}})
	if err != nil {
		return spec, "", mapErr(op, err)
	}
	var ip netip.Addr
	if len(nic.FixedIPs) > 0 {
		ip, _ = netip.ParseAddr(nic.FixedIPs[0])
	}
	for _, s := range out.Subnets {
		p, err := netip.ParsePrefix(awsv2.ToString(s.CidrBlock))
		if err == nil && (!ip.IsValid() || p.Contains(ip)) {
			spec.SubnetId, zone = s.SubnetId, awsv2.ToString(s.AvailabilityZone)
			break
		}
	}
	if spec.SubnetId == nil {
		return spec, "", proxies.Errorf(proxies.ErrNotFound, op, "network %s has no subnet in AWS cloud %s for address %v; ensure the network first", nic.NetworkID, b.name, nic.FixedIPs)
	}
	if ip.IsValid() && ip.Is4() {
		spec.PrivateIpAddress = awsv2.String(ip.String())
	}
	for _, g := range nic.SecurityGroupIDs {
		sg, err := b.findGroup(ctx, op, g)
		if err != nil {
			return spec, "", err
		}
		if sg == nil {
			return spec, "", proxies.Errorf(proxies.ErrNotFound, op, "security group %s is not realised in AWS cloud %s", g, b.name)
		}
		spec.Groups = append(spec.Groups, awsv2.ToString(sg.GroupId))
	}
	return spec, zone, nil
}
