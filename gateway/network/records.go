package network

import (
	"time"

	"github.com/canopy-cloud/canopy/registry"
)

// Record kinds of the resources this package adds to the registry's
// networks, subnets and ports. They are plain JSON records under their
// project, like every other registry record.
const (
	kindSecGroup     registry.Kind = "secgroup"
	kindSecGroupRule registry.Kind = "sgrule"
	kindRouter       registry.Kind = "router"
	kindFloatingIP   registry.Kind = "floatingip"
	kindSubnetPool   registry.Kind = "subnetpool"
)

// secGroup is a Neutron security group. Its rules live inside the record so
// that the duplicate-rule check and the append are one compare-and-set; a
// small sgRuleRef record per rule lets a rule be found by its id alone.
type secGroup struct {
	ID          string    `json:"id"`
	ProjectID   string    `json:"project_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Default     bool      `json:"is_default"`
	Rules       []sgRule  `json:"rules"`
	Revision    int       `json:"revision_number"`
	Created     time.Time `json:"created_at"`
	Updated     time.Time `json:"updated_at"`
}

// sgRule is one rule of a security group. Protocol is Neutron's string form
// ("tcp", "17", or "" for any); ports are nil when absent.
type sgRule struct {
	ID             string    `json:"id"`
	ProjectID      string    `json:"project_id"`
	Direction      string    `json:"direction"`
	Ethertype      string    `json:"ethertype"`
	Protocol       string    `json:"protocol"`
	PortRangeMin   *int      `json:"port_range_min"`
	PortRangeMax   *int      `json:"port_range_max"`
	RemoteIPPrefix string    `json:"remote_ip_prefix"`
	RemoteGroupID  string    `json:"remote_group_id"`
	Description    string    `json:"description"`
	Revision       int       `json:"revision_number"`
	Created        time.Time `json:"created_at"`
	Updated        time.Time `json:"updated_at"`
}

// sgRuleRef points from a rule id to its group.
type sgRuleRef struct {
	ID      string `json:"id"`
	GroupID string `json:"security_group_id"`
}

// router is a Neutron router. Interfaces are the ports that connect it to
// subnets (device_owner network:router_interface); the gateway port is on
// the external network.
type router struct {
	ID            string              `json:"id"`
	ProjectID     string              `json:"project_id"`
	Name          string              `json:"name"`
	Description   string              `json:"description"`
	AdminStateUp  bool                `json:"admin_state_up"`
	Status        string              `json:"status"`
	Gateway       *routerGateway      `json:"external_gateway_info"`
	Routes        []map[string]string `json:"routes"`
	Interfaces    []routerInterface   `json:"interfaces"`
	Revision      int                 `json:"revision_number"`
	Created       time.Time           `json:"created_at"`
	Updated       time.Time           `json:"updated_at"`
	GatewayPortID string              `json:"gw_port_id"`
	// Deleting is set by a delete that found no interfaces; interface adds
	// refuse a router so marked.
	Deleting bool `json:"deleting,omitempty"`
}

// routerGateway is a router's external_gateway_info.
type routerGateway struct {
	NetworkID  string             `json:"network_id"`
	EnableSNAT bool               `json:"enable_snat"`
	FixedIPs   []registry.FixedIP `json:"external_fixed_ips"`
}

// routerInterface is one connected subnet and the port that holds it.
type routerInterface struct {
	PortID   string `json:"port_id"`
	SubnetID string `json:"subnet_id"`
}

// floatingIP is a Neutron floating IP. Its address is held by a hidden port
// on the external network (device_owner network:floatingip, no project), as
// Neutron does it, so the external network's allocator and in-use checks
// see it. The association (port, fixed address) is arbitrated by a claim in
// the internal port's project slot (see fipassoc.go).
type floatingIP struct {
	ID           string    `json:"id"`
	ProjectID    string    `json:"project_id"`
	NetworkID    string    `json:"floating_network_id"`
	Address      string    `json:"floating_ip_address"`
	ExternalPort string    `json:"floating_port_id"`
	PortID       string    `json:"port_id,omitempty"`
	PortProject  string    `json:"port_project_id,omitempty"`
	FixedIP      string    `json:"fixed_ip_address,omitempty"`
	RouterID     string    `json:"router_id,omitempty"`
	Description  string    `json:"description"`
	Revision     int       `json:"revision_number"`
	Created      time.Time `json:"created_at"`
	Updated      time.Time `json:"updated_at"`
}

// association is where a floating IP points: nothing (the zero value), or
// a fixed address of a port behind a router.
type association struct {
	PortID, PortProject, FixedIP, RouterID string
}

func (f *floatingIP) association() association {
	return association{PortID: f.PortID, PortProject: f.PortProject, FixedIP: f.FixedIP, RouterID: f.RouterID}
}

func (f *floatingIP) setAssociation(a association) {
	f.PortID, f.PortProject, f.FixedIP, f.RouterID = a.PortID, a.PortProject, a.FixedIP, a.RouterID
}

// subnetPool is a Neutron subnet pool: prefixes of one IP family, merged,
// and the prefix lengths subnets allocated from it may have.
type subnetPool struct {
	ID               string    `json:"id"`
	ProjectID        string    `json:"project_id"`
	Name             string    `json:"name"`
	Description      string    `json:"description"`
	Prefixes         []string  `json:"prefixes"`
	IPVersion        int       `json:"ip_version"`
	DefaultPrefixLen int       `json:"default_prefixlen"`
	MinPrefixLen     int       `json:"min_prefixlen"`
	MaxPrefixLen     int       `json:"max_prefixlen"`
	Shared           bool      `json:"shared"`
	IsDefault        bool      `json:"is_default"`
	Revision         int       `json:"revision_number"`
	Created          time.Time `json:"created_at"`
	Updated          time.Time `json:"updated_at"`
	// Allocations are the prefixes subnets hold (subnet id → CIDR); see
	// subnetalloc.go.
	Allocations map[string]string `json:"allocations,omitempty"`
	// Deleting is set by a delete that found no allocations; subnet
	// creates refuse a pool so marked.
	Deleting bool `json:"deleting,omitempty"`
}
