package aws

import (
	"context"
	"net/netip"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/proxies"
)

const defaultRoute = "0.0.0.0/0"

// findRouteTable returns the route table of top router id, or nil.
func (b *Backend) findRouteTable(ctx context.Context, op, id string) (*types.RouteTable, error) {
	out, err := b.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{
		filter("tag:"+tagID, id), filter("tag:"+tagCloud, b.name)}})
	if err != nil {
		return nil, mapErr(op, err)
	}
	if len(out.RouteTables) == 0 {
		return nil, nil
	}
	return &out.RouteTables[0], nil
}

// ensureGateway returns the VPC's internet gateway, creating and attaching
// one when it has none.
func (b *Backend) ensureGateway(ctx context.Context, op string, vpcID string) (string, error) {
	out, err := b.ec2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: []types.Filter{filter("attachment.vpc-id", vpcID)}})
	if err != nil {
		return "", mapErr(op, err)
	}
	if len(out.InternetGateways) > 0 {
		return awsv2.ToString(out.InternetGateways[0].InternetGatewayId), nil
	}
	made, err := b.ec2.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{TagSpecifications: []types.TagSpecification{
		{ResourceType: types.ResourceTypeInternetGateway, Tags: tagList(tagCloud, b.name, tagKind, "igw")}}})
	if err != nil {
		return "", mapErr(op, err)
	}
	igw := made.InternetGateway.InternetGatewayId
	if _, err := b.ec2.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: igw, VpcId: awsv2.String(vpcID)}); err != nil {
		return "", mapErr(op, err)
	}
	return awsv2.ToString(igw), nil
}

// EnsureRouter makes the router's route table in the project's VPC look
// like spec: associated with exactly the interfaces' subnets, a default
// route to the VPC's internet gateway when the router has an external
// gateway, and the extra routes (next hop: the interface holding that
// address).
func (b *Backend) EnsureRouter(ctx context.Context, spec proxies.RouterSpec) (proxies.RouterStatus, error) {
	const op = "EnsureRouter"
	if spec.ID == "" {
		return proxies.RouterStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the router has no id")
	}
	for _, r := range spec.Routes {
		dst, err1 := netip.ParsePrefix(r.Destination)
		_, err2 := netip.ParseAddr(r.NextHop)
		if err1 != nil || err2 != nil || !dst.Addr().Is4() {
			return proxies.RouterStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "route %s via %s: want an IPv4 destination CIDR and a next-hop address", r.Destination, r.NextHop)
		}
	}
	vpc, err := b.ensureVPC(ctx, op, spec.ProjectID)
	if err != nil {
		return proxies.RouterStatus{}, err
	}
	rt, err := b.findRouteTable(ctx, op, spec.ID)
	if err != nil {
		return proxies.RouterStatus{}, err
	}
	if rt == nil {
		out, err := b.ec2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: vpc.VpcId, TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeRouteTable, Tags: tagList(tagID, spec.ID, tagProject, spec.ProjectID, tagCloud, b.name, "Name", spec.Name)}}})
		if err != nil {
			return proxies.RouterStatus{}, mapErr(op, err)
		}
		rt = out.RouteTable
	}
	rtID := rt.RouteTableId
	// Routes: the wanted destination → (gateway or interface) targets.
	want := map[string]types.Route{}
	if spec.ExternalNetworkID != "" {
		igw, err := b.ensureGateway(ctx, op, awsv2.ToString(vpc.VpcId))
		if err != nil {
			return proxies.RouterStatus{}, err
		}
		want[defaultRoute] = types.Route{GatewayId: awsv2.String(igw)}
	}
	for _, r := range spec.Routes {
		out, err := b.ec2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
			filter("vpc-id", awsv2.ToString(vpc.VpcId)), filter("addresses.private-ip-address", r.NextHop)}})
		if err != nil {
			return proxies.RouterStatus{}, mapErr(op, err)
		}
		if len(out.NetworkInterfaces) == 0 {
			// EC2 routes to an interface, not an address. Until an
			// interface holds the next hop the route is left out, which
			// drops its traffic as Neutron's route to an absent host
			// does; the next EnsureRouter (a sync pass) adds it.
			b.log.Info("route deferred: no interface holds its next hop yet", "router", spec.ID, "destination", r.Destination, "nexthop", r.NextHop)
			continue
		}
		want[netip.MustParsePrefix(r.Destination).Masked().String()] = types.Route{NetworkInterfaceId: out.NetworkInterfaces[0].NetworkInterfaceId}
	}
	have := map[string]types.Route{}
	for _, r := range rt.Routes {
		if awsv2.ToString(r.GatewayId) == "local" || r.DestinationCidrBlock == nil {
			continue
		}
		have[*r.DestinationCidrBlock] = r
	}
	for dst, r := range have {
		if w, ok := want[dst]; ok && awsv2.ToString(w.GatewayId) == awsv2.ToString(r.GatewayId) && awsv2.ToString(w.NetworkInterfaceId) == awsv2.ToString(r.NetworkInterfaceId) {
			continue
		}
		if _, err := b.ec2.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: rtID, DestinationCidrBlock: awsv2.String(dst)}); err != nil && !isNotFound(err) {
			return proxies.RouterStatus{}, mapErr(op, err)
		}
		delete(have, dst)
	}
	for dst, w := range want {
		if _, ok := have[dst]; ok {
			continue
		}
		if _, err := b.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: rtID, DestinationCidrBlock: awsv2.String(dst),
			GatewayId: w.GatewayId, NetworkInterfaceId: w.NetworkInterfaceId}); err != nil {
			return proxies.RouterStatus{}, mapErr(op, err)
		}
	}
	// Associations: exactly the interfaces' subnets.
	wantSubnets := map[string]bool{}
	for _, itf := range spec.Interfaces {
		s, err := b.findSubnet(ctx, op, itf.SubnetID)
		if err != nil {
			return proxies.RouterStatus{}, err
		}
		if s == nil {
			return proxies.RouterStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "subnet %s is not realised in AWS cloud %s; ensure its network first", itf.SubnetID, b.name)
		}
		wantSubnets[awsv2.ToString(s.SubnetId)] = true
	}
	for _, a := range rt.Associations {
		sub := awsv2.ToString(a.SubnetId)
		if sub == "" || awsv2.ToBool(a.Main) {
			continue
		}
		if wantSubnets[sub] {
			delete(wantSubnets, sub)
			continue
		}
		if _, err := b.ec2.DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: a.RouteTableAssociationId}); err != nil && !isNotFound(err) {
			return proxies.RouterStatus{}, mapErr(op, err)
		}
	}
	for sub := range wantSubnets {
		if err := b.associate(ctx, op, awsv2.ToString(rtID), sub); err != nil {
			return proxies.RouterStatus{}, err
		}
	}
	return proxies.RouterStatus{ID: spec.ID, BottomID: awsv2.ToString(rtID)}, nil
}

// associate points subnet at route table rt, replacing the subnet's current
// explicit association when it has one.
func (b *Backend) associate(ctx context.Context, op, rt, subnet string) error {
	out, err := b.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{filter("association.subnet-id", subnet)}})
	if err != nil {
		return mapErr(op, err)
	}
	for _, t := range out.RouteTables {
		for _, a := range t.Associations {
			if awsv2.ToString(a.SubnetId) == subnet {
				_, err := b.ec2.ReplaceRouteTableAssociation(ctx, &ec2.ReplaceRouteTableAssociationInput{AssociationId: a.RouteTableAssociationId, RouteTableId: awsv2.String(rt)})
				return mapErr(op, err)
			}
		}
	}
	_, err = b.ec2.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: awsv2.String(rt), SubnetId: awsv2.String(subnet)})
	return mapErr(op, err)
}

// DeleteRouter disassociates and deletes the route table; nil when gone.
// The VPC's internet gateway stays (other routers of the project use it).
func (b *Backend) DeleteRouter(ctx context.Context, id string) error {
	const op = "DeleteRouter"
	rt, err := b.findRouteTable(ctx, op, id)
	if err != nil || rt == nil {
		return err
	}
	for _, a := range rt.Associations {
		if awsv2.ToBool(a.Main) {
			continue
		}
		if _, err := b.ec2.DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: a.RouteTableAssociationId}); err != nil && !isNotFound(err) {
			return mapErr(op, err)
		}
	}
	if _, err := b.ec2.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: rt.RouteTableId}); err != nil && !isNotFound(err) {
		return mapErr(op, err)
	}
	return nil
}

// findAddress returns the Elastic IP of top floating IP id, or nil.
func (b *Backend) findAddress(ctx context.Context, op, id string) (*types.Address, error) {
	out, err := b.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []types.Filter{
		filter("tag:"+tagID, id), filter("tag:"+tagCloud, b.name)}})
	if err != nil {
		return nil, mapErr(op, err)
	}
	if len(out.Addresses) == 0 {
		return nil, nil
	}
	return &out.Addresses[0], nil
}

// EnsureFloatingIP allocates the Elastic IP (tagged with the top id) and
// associates it with the port's interface, or disassociates it when the
// spec has no port. AWS chooses the public address.
func (b *Backend) EnsureFloatingIP(ctx context.Context, spec proxies.FloatingIPSpec) (proxies.FloatingIPStatus, error) {
	const op = "EnsureFloatingIP"
	if spec.ID == "" {
		return proxies.FloatingIPStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the floating IP has no id")
	}
	addr, err := b.findAddress(ctx, op, spec.ID)
	if err != nil {
		return proxies.FloatingIPStatus{}, err
	}
	if addr == nil {
		out, err := b.ec2.AllocateAddress(ctx, &ec2.AllocateAddressInput{Domain: types.DomainTypeVpc, TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeElasticIp, Tags: tagList(tagID, spec.ID, tagProject, spec.ProjectID, tagCloud, b.name)}}})
		if err != nil {
			return proxies.FloatingIPStatus{}, mapErr(op, err)
		}
		addr = &types.Address{AllocationId: out.AllocationId, PublicIp: out.PublicIp}
	}
	st := proxies.FloatingIPStatus{ID: spec.ID, BottomID: awsv2.ToString(addr.AllocationId), PublicAddress: awsv2.ToString(addr.PublicIp)}
	if spec.PortID == "" {
		if addr.AssociationId != nil {
			if _, err := b.ec2.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: addr.AssociationId}); err != nil && !isNotFound(err) {
				return proxies.FloatingIPStatus{}, mapErr(op, err)
			}
		}
		return st, nil
	}
	eni, err := b.findPortENI(ctx, op, spec.ServerID, spec.PortID)
	if err != nil {
		return proxies.FloatingIPStatus{}, err
	}
	st.PortID = spec.PortID
	if awsv2.ToString(addr.NetworkInterfaceId) == awsv2.ToString(eni.NetworkInterfaceId) &&
		(spec.FixedIP == "" || awsv2.ToString(addr.PrivateIpAddress) == spec.FixedIP) {
		return st, nil
	}
	in := &ec2.AssociateAddressInput{AllocationId: addr.AllocationId, NetworkInterfaceId: eni.NetworkInterfaceId, AllowReassociation: awsv2.Bool(true)}
	if spec.FixedIP != "" {
		in.PrivateIpAddress = awsv2.String(spec.FixedIP)
	}
	if _, err := b.ec2.AssociateAddress(ctx, in); err != nil {
		return proxies.FloatingIPStatus{}, mapErr(op, err)
	}
	return st, nil
}

// ReleaseFloatingIP disassociates and releases the Elastic IP; nil when
// gone.
func (b *Backend) ReleaseFloatingIP(ctx context.Context, id string) error {
	const op = "ReleaseFloatingIP"
	addr, err := b.findAddress(ctx, op, id)
	if err != nil || addr == nil {
		return err
	}
	if addr.AssociationId != nil {
		if _, err := b.ec2.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: addr.AssociationId}); err != nil && !isNotFound(err) {
			return mapErr(op, err)
		}
	}
	if _, err := b.ec2.ReleaseAddress(ctx, &ec2.ReleaseAddressInput{AllocationId: addr.AllocationId}); err != nil && !isNotFound(err) {
		return mapErr(op, err)
	}
	return nil
}
