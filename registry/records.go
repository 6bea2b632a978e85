package registry

import (
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

// Kinds of resource records. Identity kinds live in records_identity.go.
const (
	KindServer      Kind = "server"
	KindFlavor      Kind = "flavor"
	KindKeypair     Kind = "keypair"
	KindServerGroup Kind = "servergroup"
	KindImage       Kind = "image"
	KindNetwork     Kind = "network"
	KindSubnet      Kind = "subnet"
	KindPort        Kind = "port"
	KindCloud       Kind = "cloud"
	KindHost        Kind = "host"
)

// RoutingState is where a resource is in its life, as the registry's state
// machine sees it (DESIGN.md "Ids, tags and idempotency").
type RoutingState string

const (
	RoutingBuilding  RoutingState = "building"
	RoutingActive    RoutingState = "active"
	RoutingMigrating RoutingState = "migrating"
	RoutingDeleting  RoutingState = "deleting"
	RoutingDeleted   RoutingState = "deleted"
	RoutingError     RoutingState = "error"
)

// Routing records where a resource lives: the cloud (and host, in the local
// pool) and its id there.
type Routing struct {
	State    RoutingState `json:"state"`
	Cloud    string       `json:"cloud,omitempty"`
	Host     string       `json:"host,omitempty"`
	BottomID string       `json:"bottom_id,omitempty"`
}

// Fault is a server's last fault, as Nova shows it.
type Fault struct {
	Code    int       `json:"code"`
	Message string    `json:"message"`
	Details string    `json:"details,omitempty"`
	Created time.Time `json:"created"`
}

// ServerAddress is one address of a server on one network.
type ServerAddress struct {
	NetworkID   string `json:"network_id"`
	NetworkName string `json:"network_name"`
	PortID      string `json:"port_id"`
	Addr        string `json:"addr"`
	Version     int    `json:"version"`
	MAC         string `json:"mac"`
	Type        string `json:"type"` // fixed | floating
}

// Server is a Nova server's record.
type Server struct {
	ID               string            `json:"id"`
	ProjectID        string            `json:"project_id"`
	UserID           string            `json:"user_id"`
	Name             string            `json:"name"`
	Description      *string           `json:"description,omitempty"`
	Status           string            `json:"status"` // Nova status: BUILD, ACTIVE, SHUTOFF, REBOOT, HARD_REBOOT, ERROR, DELETED, UNKNOWN
	VMState          string            `json:"vm_state"`
	TaskState        string            `json:"task_state,omitempty"`
	PowerState       int               `json:"power_state"`
	Progress         int               `json:"progress"`
	Flavor           proxies.Flavor    `json:"flavor"` // a copy, as Nova embeds it (2.47+)
	ImageID          string            `json:"image_id"`
	KeyName          string            `json:"key_name,omitempty"`
	UserData         string            `json:"user_data,omitempty"` // base64, as received
	Metadata         map[string]string `json:"metadata"`
	Tags             []string          `json:"tags,omitempty"`
	AvailabilityZone string            `json:"availability_zone"`
	Addresses        []ServerAddress   `json:"addresses,omitempty"`
	SecurityGroups   []string          `json:"security_groups,omitempty"`
	AccessIPv4       string            `json:"access_ipv4,omitempty"`
	AccessIPv6       string            `json:"access_ipv6,omitempty"`
	ConfigDrive      string            `json:"config_drive,omitempty"`
	DiskConfig       string            `json:"disk_config,omitempty"`
	Locked           bool              `json:"locked,omitempty"`
	LockedReason     *string           `json:"locked_reason,omitempty"`
	ServerGroupID    string            `json:"server_group_id,omitempty"`
	Routing          Routing           `json:"routing"`
	Fault            *Fault            `json:"fault,omitempty"`
	Created          time.Time         `json:"created"`
	Updated          time.Time         `json:"updated"`
	LaunchedAt       time.Time         `json:"launched_at,omitzero"`
	TerminatedAt     time.Time         `json:"terminated_at,omitzero"`
}

// Flavor is a Nova flavor. Flavors are global (project "_"); private flavors
// list the projects that may use them.
type Flavor struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description *string           `json:"description,omitempty"`
	VCPUs       int               `json:"vcpus"`
	RAMMB       int               `json:"ram"`
	DiskGB      int               `json:"disk"`
	EphemeralGB int               `json:"ephemeral"`
	SwapMB      int               `json:"swap"`
	RxTxFactor  float64           `json:"rxtx_factor"`
	IsPublic    bool              `json:"is_public"`
	Disabled    bool              `json:"disabled"`
	ExtraSpecs  map[string]string `json:"extra_specs,omitempty"`
	Projects    []string          `json:"projects,omitempty"` // access list of a private flavor
	Created     time.Time         `json:"created"`
}

// Keypair is an SSH key pair. Keypairs belong to a user; the record lives in
// the project "_" with the unique name "<user_id>/<name>".
type Keypair struct {
	Name        string    `json:"name"`
	UserID      string    `json:"user_id"`
	Type        string    `json:"type"` // ssh | x509
	PublicKey   string    `json:"public_key"`
	Fingerprint string    `json:"fingerprint"`
	Created     time.Time `json:"created"`
}

// ServerGroup is a Nova server group.
type ServerGroup struct {
	ID        string            `json:"id"`
	ProjectID string            `json:"project_id"`
	UserID    string            `json:"user_id"`
	Name      string            `json:"name"`
	Policy    string            `json:"policy"` // affinity, anti-affinity, soft-affinity, soft-anti-affinity
	Rules     map[string]int    `json:"rules,omitempty"`
	Members   []string          `json:"members"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Created   time.Time         `json:"created"`
}

// ImageLocation is one copy of an image: the gateway's store, or a backend's.
type ImageLocation struct {
	Cloud    string            `json:"cloud,omitempty"` // "" for the gateway's own store
	URL      string            `json:"url"`
	BottomID string            `json:"bottom_id,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Image is a Glance image. Public and community images are readable by
// everyone; the record lives under its owner's project.
type Image struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Owner           string            `json:"owner"`
	Status          string            `json:"status"` // queued, saving, active, killed, deleted, deactivated, importing, uploading
	Visibility      string            `json:"visibility"`
	Protected       bool              `json:"protected"`
	DiskFormat      string            `json:"disk_format,omitempty"`
	ContainerFormat string            `json:"container_format,omitempty"`
	Size            *int64            `json:"size"`
	VirtualSize     *int64            `json:"virtual_size"`
	Checksum        string            `json:"checksum,omitempty"`
	HashAlgo        string            `json:"os_hash_algo,omitempty"`
	HashValue       string            `json:"os_hash_value,omitempty"`
	MinDisk         int               `json:"min_disk"`
	MinRAM          int               `json:"min_ram"`
	Tags            []string          `json:"tags"`
	Properties      map[string]string `json:"properties,omitempty"` // additional properties
	Locations       []ImageLocation   `json:"locations,omitempty"`
	Members         []string          `json:"members,omitempty"`
	Created         time.Time         `json:"created_at"`
	Updated         time.Time         `json:"updated_at"`
}

// Network is a Neutron network.
type Network struct {
	ID           string    `json:"id"`
	ProjectID    string    `json:"project_id"`
	Name         string    `json:"name"`
	Description  string    `json:"description"`
	AdminStateUp bool      `json:"admin_state_up"`
	Shared       bool      `json:"shared"`
	External     bool      `json:"router:external"`
	MTU          int       `json:"mtu"`
	Status       string    `json:"status"`
	Subnets      []string  `json:"subnets"`
	Tags         []string  `json:"tags"`
	Revision     int       `json:"revision_number"`
	Created      time.Time `json:"created_at"`
	Updated      time.Time `json:"updated_at"`
}

// AllocationPool is a range of addresses a subnet hands out.
type AllocationPool struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Subnet is a Neutron subnet.
type Subnet struct {
	ID              string              `json:"id"`
	ProjectID       string              `json:"project_id"`
	NetworkID       string              `json:"network_id"`
	Name            string              `json:"name"`
	Description     string              `json:"description"`
	IPVersion       int                 `json:"ip_version"`
	CIDR            string              `json:"cidr"`
	GatewayIP       *string             `json:"gateway_ip"`
	AllocationPools []AllocationPool    `json:"allocation_pools"`
	DNSNameservers  []string            `json:"dns_nameservers"`
	HostRoutes      []map[string]string `json:"host_routes"`
	EnableDHCP      bool                `json:"enable_dhcp"`
	IPv6RAMode      *string             `json:"ipv6_ra_mode"`
	IPv6AddressMode *string             `json:"ipv6_address_mode"`
	// SubnetPoolID is the subnet pool the CIDR was allocated from ("" for
	// none); the pool gets the prefix back when the subnet is deleted.
	SubnetPoolID string    `json:"subnetpool_id,omitempty"`
	Tags         []string  `json:"tags"`
	Revision     int       `json:"revision_number"`
	Created      time.Time `json:"created_at"`
	Updated      time.Time `json:"updated_at"`
}

// FixedIP is one address of a port.
type FixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// Port is a Neutron port.
type Port struct {
	ID             string    `json:"id"`
	ProjectID      string    `json:"project_id"`
	NetworkID      string    `json:"network_id"`
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	AdminStateUp   bool      `json:"admin_state_up"`
	MACAddress     string    `json:"mac_address"`
	FixedIPs       []FixedIP `json:"fixed_ips"`
	DeviceID       string    `json:"device_id"`
	DeviceOwner    string    `json:"device_owner"`
	Status         string    `json:"status"`
	SecurityGroups []string  `json:"security_groups"`
	BindingHost    string    `json:"binding:host_id"`
	Tags           []string  `json:"tags"`
	Revision       int       `json:"revision_number"`
	Created        time.Time `json:"created_at"`
	Updated        time.Time `json:"updated_at"`
}
