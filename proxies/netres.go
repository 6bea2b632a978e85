package proxies

import "context"

// Network resources beyond the network itself: security groups, routers and
// floating IPs. The registry is the source of truth for all of them (Neutron
// is served from it); a backend realises them in its cloud when a server
// there needs them. Every call is declarative ("make it look like this
// spec"), so a retry, a replay after a gateway restart, or a sync pass that
// re-sends the whole spec converges to the same state and never duplicates.
//
// A backend that declares Capabilities().SecurityGroups implements
// SecurityGroupDriver; Routers implements RouterDriver; FloatingIPs
// implements FloatingIPDriver. A backend that cannot do one of them declares
// it false and the gateway answers the API that needs it with a fault; it
// never reports success for rules it did not enforce.

// SecurityGroupRule is one rule, in Neutron's vocabulary.
type SecurityGroupRule struct {
	ID        string `json:"id"`
	Direction string `json:"direction"` // ingress or egress
	EtherType string `json:"ethertype"` // IPv4 or IPv6
	// Protocol is "" (any), a name (tcp, udp, icmp, icmpv6, ...) or an IANA
	// number as a string.
	Protocol string `json:"protocol,omitempty"`
	// PortMin and PortMax bound the port range for tcp/udp (0 = any); for
	// icmp they are the type and code (-1/0 = any).
	PortMin int `json:"port_range_min,omitempty"`
	PortMax int `json:"port_range_max,omitempty"`
	// At most one of RemoteIPPrefix and RemoteGroupID is set; neither means
	// any address of the ethertype.
	RemoteIPPrefix string `json:"remote_ip_prefix,omitempty"`
	RemoteGroupID  string `json:"remote_group_id,omitempty"`
}

// SecurityGroupSpec is a whole security group: after EnsureSecurityGroup the
// bottom group has exactly these rules (extra bottom rules are removed).
type SecurityGroupSpec struct {
	ID          string              `json:"id"` // top id
	ProjectID   string              `json:"project_id"`
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	Rules       []SecurityGroupRule `json:"rules"`
	// NetworkIDs are the top networks the group is used on, for clouds whose
	// groups belong to one network (an AWS VPC, an Azure virtual network).
	NetworkIDs []string `json:"network_ids,omitempty"`
}

// SecurityGroupStatus is a backend's realisation of a group.
type SecurityGroupStatus struct {
	ID       string `json:"id"`
	BottomID string `json:"bottom_id"`
}

// SecurityGroupDriver realises security groups and binds them to server
// NICs.
type SecurityGroupDriver interface {
	// EnsureSecurityGroup creates the group or converges it to spec.
	EnsureSecurityGroup(ctx context.Context, spec SecurityGroupSpec) (SecurityGroupStatus, error)
	// DeleteSecurityGroup removes the group; nil when it is already gone,
	// ErrConflict while a NIC in the cloud still uses it.
	DeleteSecurityGroup(ctx context.Context, id string) error
	// SetNICSecurityGroups makes server serverID's NIC for port portID use
	// exactly groupIDs (already ensured). Idempotent.
	SetNICSecurityGroups(ctx context.Context, serverID, portID string, groupIDs []string) error
}

// RouterInterface is one subnet plugged into a router, with the address
// the router has on it.
type RouterInterface struct {
	PortID    string `json:"port_id"`
	NetworkID string `json:"network_id"`
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// Route is one extra route of a router.
type Route struct {
	Destination string `json:"destination"`
	NextHop     string `json:"nexthop"`
}

// RouterSpec is a whole router: after EnsureRouter the bottom router has
// exactly these interfaces, this gateway and these routes.
type RouterSpec struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	// ExternalNetworkID is the external network of the router's gateway
	// ("" for none); ExternalIPs its addresses there; SNAT whether
	// outbound traffic is source-NATed.
	ExternalNetworkID string            `json:"external_network_id,omitempty"`
	ExternalIPs       []string          `json:"external_ips,omitempty"`
	SNAT              bool              `json:"snat"`
	Interfaces        []RouterInterface `json:"interfaces,omitempty"`
	Routes            []Route           `json:"routes,omitempty"`
}

// RouterStatus is a backend's realisation of a router.
type RouterStatus struct {
	ID       string `json:"id"`
	BottomID string `json:"bottom_id"`
}

// RouterDriver realises routers.
type RouterDriver interface {
	EnsureRouter(ctx context.Context, spec RouterSpec) (RouterStatus, error)
	// DeleteRouter removes the router; nil when it is already gone.
	DeleteRouter(ctx context.Context, id string) error
}

// FloatingIPSpec is a floating IP and, when PortID is set, the server NIC it
// is associated with. Ensuring a spec with no PortID disassociates it.
type FloatingIPSpec struct {
	ID                string `json:"id"`
	ProjectID         string `json:"project_id"`
	FloatingNetworkID string `json:"floating_network_id"`
	// Address is the address Canopy's registry allocated. A cloud that
	// assigns its own public addresses (an Elastic IP) reports the one it
	// assigned in FloatingIPStatus.PublicAddress.
	Address  string `json:"address"`
	PortID   string `json:"port_id,omitempty"`
	ServerID string `json:"server_id,omitempty"`
	FixedIP  string `json:"fixed_ip,omitempty"`
}

// FloatingIPStatus is a backend's realisation of a floating IP.
type FloatingIPStatus struct {
	ID            string `json:"id"`
	BottomID      string `json:"bottom_id"`
	PublicAddress string `json:"public_address"`
	PortID        string `json:"port_id,omitempty"` // the port it is associated with now
}

// FloatingIPDriver realises floating IPs.
type FloatingIPDriver interface {
	EnsureFloatingIP(ctx context.Context, spec FloatingIPSpec) (FloatingIPStatus, error)
	// ReleaseFloatingIP disassociates and releases it; nil when it is gone.
	ReleaseFloatingIP(ctx context.Context, id string) error
}

// SecurityGroupsOf returns be's SecurityGroupDriver when be declares
// SecurityGroups and implements it (looking through wrappers).
func SecurityGroupsOf(be Backend) (SecurityGroupDriver, bool) {
	if be == nil || !be.Capabilities().SecurityGroups {
		return nil, false
	}
	return lookThrough[SecurityGroupDriver](be)
}

// RoutersOf returns be's RouterDriver when be declares Routers and
// implements it.
func RoutersOf(be Backend) (RouterDriver, bool) {
	if be == nil || !be.Capabilities().Routers {
		return nil, false
	}
	return lookThrough[RouterDriver](be)
}

// FloatingIPsOf returns be's FloatingIPDriver when be declares FloatingIPs
// and implements it.
func FloatingIPsOf(be Backend) (FloatingIPDriver, bool) {
	if be == nil || !be.Capabilities().FloatingIPs {
		return nil, false
	}
	return lookThrough[FloatingIPDriver](be)
}
