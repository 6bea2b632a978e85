// Package proxies holds the contract every cloud backend implements: the
// AWS, Azure, vSphere and OpenStack proxies and Canopy's own local pool.
//
// The contract is a leaf package: it imports nothing of Canopy's, and every
// type in it is plain, serialisable data, so the same interface can run
// in-process or over the mesh transport. What a backend cannot do it declares
// in Capabilities and answers with ErrNotSupported; it never reports success
// for an operation it did not perform.
package proxies

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Backend is one cloud (a pod in Tricircle's words): one OpenStack, one
// vCenter cluster, one AWS region, one Azure location, or the local pool.
type Backend interface {
	// Name is the cloud's name in Canopy's configuration.
	Name() string
	// Capabilities declares what this backend can do.
	Capabilities() Capabilities
	Servers() ServerDriver
	Images() ImageDriver
	Networks() NetworkDriver
	Inventory() InventoryDriver
}

// Capabilities is what a backend declares it can do. A false field means the
// gateway answers the matching API with the OpenStack "not implemented" fault.
type Capabilities struct {
	Servers         bool `json:"servers"`
	StartStop       bool `json:"start_stop"`
	Reboot          bool `json:"reboot"`
	HardReboot      bool `json:"hard_reboot"`
	Snapshot        bool `json:"snapshot"`
	ConsoleOutput   bool `json:"console_output"`
	Resize          bool `json:"resize"`
	UserData        bool `json:"user_data"`
	Keypairs        bool `json:"keypairs"`
	Images          bool `json:"images"`
	Networks        bool `json:"networks"`
	SecurityGroups  bool `json:"security_groups"` // implements SecurityGroupDriver (netres.go)
	Routers         bool `json:"routers"`         // implements RouterDriver
	FloatingIPs     bool `json:"floating_ips"`    // implements FloatingIPDriver
	Volumes         bool `json:"volumes"`
	LiveMigration   bool `json:"live_migration"`
	HostsVisible    bool `json:"hosts_visible"` // the backend reports individual hosts (the local pool)
	MaxServersBatch int  `json:"max_servers_batch"`
}

// PowerState mirrors Nova's OS-EXT-STS:power_state values.
type PowerState int

const (
	PowerNoState  PowerState = 0
	PowerRunning  PowerState = 1
	PowerPaused   PowerState = 3
	PowerShutdown PowerState = 4
	PowerCrashed  PowerState = 6
	PowerSuspend  PowerState = 7
)

// ServerState is the backend's view of a server's lifecycle, in Nova's
// vm_state vocabulary.
type ServerState string

const (
	StateBuilding ServerState = "building"
	StateActive   ServerState = "active"
	StateStopped  ServerState = "stopped"
	StateError    ServerState = "error"
	StateDeleted  ServerState = "deleted"
)

// Flavor is the size of a server, as the gateway resolved it.
type Flavor struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	VCPUs      int               `json:"vcpus"`
	RAMMB      int               `json:"ram_mb"`
	DiskGB     int               `json:"disk_gb"`
	ExtraSpecs map[string]string `json:"extra_specs,omitempty"`
}

// NIC is one network interface a server is created with. Addresses are
// allocated by the registry before the backend is called.
type NIC struct {
	PortID     string   `json:"port_id"`
	NetworkID  string   `json:"network_id"`
	MACAddress string   `json:"mac_address"`
	FixedIPs   []string `json:"fixed_ips"`
	// SecurityGroupIDs are the groups the NIC uses (already ensured in the
	// backend when it declares SecurityGroups).
	SecurityGroupIDs []string `json:"security_group_ids,omitempty"`
}

// ServerSpec is everything a backend needs to create one server. ID is the
// top (Canopy) id: backends tag the bottom resource with it and use it to
// make the create idempotent.
type ServerSpec struct {
	ID               string            `json:"id"`
	ProjectID        string            `json:"project_id"`
	Name             string            `json:"name"`
	Flavor           Flavor            `json:"flavor"`
	ImageID          string            `json:"image_id"`
	Host             string            `json:"host,omitempty"` // chosen by the scheduler where hosts are visible
	AvailabilityZone string            `json:"availability_zone,omitempty"`
	NICs             []NIC             `json:"nics,omitempty"`
	KeyName          string            `json:"key_name,omitempty"`
	PublicKey        string            `json:"public_key,omitempty"`
	UserData         []byte            `json:"user_data,omitempty"`
	Metadata         map[string]string `json:"metadata,omitempty"`
}

// ServerStatus is a backend's report of one server.
type ServerStatus struct {
	ID         string      `json:"id"`        // top id
	BottomID   string      `json:"bottom_id"` // the id in the backend
	Host       string      `json:"host,omitempty"`
	State      ServerState `json:"state"`
	PowerState PowerState  `json:"power_state"`
	TaskState  string      `json:"task_state,omitempty"`
	Fault      string      `json:"fault,omitempty"`
	LaunchedAt time.Time   `json:"launched_at,omitzero"`
}

// RebootKind is SOFT or HARD, as in Nova's reboot action.
type RebootKind string

const (
	RebootSoft RebootKind = "SOFT"
	RebootHard RebootKind = "HARD"
)

// ServerDriver creates and drives servers. Every call is idempotent: a retry
// with the same top id finds the existing server instead of making another.
type ServerDriver interface {
	CreateServer(ctx context.Context, spec ServerSpec) (ServerStatus, error)
	GetServer(ctx context.Context, id string) (ServerStatus, error)
	ListServers(ctx context.Context) ([]ServerStatus, error)
	StartServer(ctx context.Context, id string) (ServerStatus, error)
	StopServer(ctx context.Context, id string) (ServerStatus, error)
	RebootServer(ctx context.Context, id string, kind RebootKind) (ServerStatus, error)
	// DeleteServer returns nil when the server is gone, including when it
	// was already gone (delete is idempotent).
	DeleteServer(ctx context.Context, id string) error
	// ConsoleOutput returns the last lines of the serial console (all when lines <= 0).
	ConsoleOutput(ctx context.Context, id string, lines int) (string, error)
	// SnapshotServer captures the server's root disk as image imageID.
	SnapshotServer(ctx context.Context, id, imageID string) (ImageStatus, error)
}

// ImageSpec describes an image a backend is asked to hold a copy of.
type ImageSpec struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	DiskFormat      string `json:"disk_format"`
	ContainerFormat string `json:"container_format"`
	Size            int64  `json:"size"`
	Checksum        string `json:"checksum,omitempty"` // md5, as Glance's checksum
	SHA512          string `json:"sha512,omitempty"`
}

// ImageStatus is a backend's copy of an image.
type ImageStatus struct {
	ID       string `json:"id"`
	BottomID string `json:"bottom_id"`
	Location string `json:"location"` // backend-specific URL of the copy
	Size     int64  `json:"size"`
	Ready    bool   `json:"ready"`
}

// ImageDriver keeps backend copies of Canopy images.
type ImageDriver interface {
	// ImportImage gives the backend a copy of an image whose bytes are read
	// from data. Idempotent by spec.ID.
	ImportImage(ctx context.Context, spec ImageSpec, data ImageReader) (ImageStatus, error)
	GetImage(ctx context.Context, id string) (ImageStatus, error)
	DeleteImage(ctx context.Context, id string) error
}

// ImageReader opens an image's bytes. It is a function so that a backend
// that already holds a copy never has to read them.
type ImageReader func(ctx context.Context) (io.ReadSeekCloser, error)

// NetworkSpec describes a tenant network and its subnets as the registry
// holds them. Backends realise it (a bridge, a VPC, a port group...).
type NetworkSpec struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	MTU       int    `json:"mtu"`
	// External marks a provider network that floating IPs and router
	// gateways come from.
	External bool         `json:"external,omitempty"`
	Subnets  []SubnetSpec `json:"subnets,omitempty"`
}

// SubnetSpec is one subnet of a network.
type SubnetSpec struct {
	ID        string `json:"id"`
	CIDR      string `json:"cidr"`
	GatewayIP string `json:"gateway_ip,omitempty"`
	IPVersion int    `json:"ip_version"`
	// EnableDHCP and DNSNameservers are Neutron's subnet fields of the same
	// names.
	EnableDHCP     bool     `json:"enable_dhcp"`
	DNSNameservers []string `json:"dns_nameservers,omitempty"`
}

// NetworkStatus is a backend's realisation of a network.
type NetworkStatus struct {
	ID       string `json:"id"`
	BottomID string `json:"bottom_id"`
	Ready    bool   `json:"ready"`
}

// NetworkDriver realises tenant networks in a backend.
type NetworkDriver interface {
	EnsureNetwork(ctx context.Context, spec NetworkSpec) (NetworkStatus, error)
	DeleteNetwork(ctx context.Context, id string) error
}

// Host is one hypervisor or machine a backend reports (the local pool does;
// public clouds report one pseudo-host per cloud).
type Host struct {
	Name             string            `json:"name"`
	AvailabilityZone string            `json:"availability_zone"`
	HypervisorType   string            `json:"hypervisor_type"`
	Up               bool              `json:"up"`
	Enabled          bool              `json:"enabled"`
	VCPUs            int               `json:"vcpus"`
	RAMMB            int               `json:"ram_mb"`
	DiskGB           int               `json:"disk_gb"`
	Labels           map[string]string `json:"labels,omitempty"`
	Traits           []string          `json:"traits,omitempty"`
}

// InventoryDriver reports capacity for the scheduler.
type InventoryDriver interface {
	Hosts(ctx context.Context) ([]Host, error)
}

// Typed errors every backend returns (wrapped with %w). The gateway maps
// them to OpenStack faults in one table.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")              // wrong state for the operation
	ErrNotSupported = errors.New("not supported")         // declared unsupported by the backend
	ErrCapacity     = errors.New("insufficient capacity") // try another candidate
	ErrQuota        = errors.New("quota exceeded")        // the bottom cloud's quota
	ErrInvalid      = errors.New("invalid request")
	ErrUnavailable  = errors.New("backend unavailable") // down, timed out, throttled beyond retries
)

// Error is a backend error with a safe, user-facing message and the internal
// cause kept apart for logs.
type Error struct {
	Kind    error  // one of the Err* sentinels
	Op      string // the operation, e.g. "CreateServer"
	Message string // safe for clients
	Cause   error  // internal detail, for logs only
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Op, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Op, e.Message)
}

// Unwrap lets errors.Is match the sentinel kind.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf builds an *Error of the given kind with a safe message.
func Errorf(kind error, op, format string, args ...any) *Error {
	return &Error{Kind: kind, Op: op, Message: fmt.Sprintf(format, args...)}
}

// SafeMessage returns the client-safe text of err: the Message of an *Error,
// else the sentinel's own text.
func SafeMessage(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	for _, k := range []error{ErrNotFound, ErrConflict, ErrNotSupported, ErrCapacity, ErrQuota, ErrInvalid, ErrUnavailable} {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	return "internal error"
}
