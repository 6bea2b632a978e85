package localcloud

import (
	"context"

	"github.com/canopy-cloud/canopy/proxies"
)

// HostDriver drives the domains (servers) of one host of the pool. There is
// one implementation per kind of host: SimulatedHost today, a libvirt (KVM)
// host and an IPMI/Redfish bare-metal machine later. The Pool routes each
// server to its host and leaves the host to keep the server's real state.
//
// Domains are named by the top (Canopy) id and carry it as a tag (libvirt
// metadata for KVM), so CreateDomain is idempotent by spec.ID and the pool's
// routing can be rebuilt from the hosts. Errors wrap the proxies sentinels.
type HostDriver interface {
	// Name is the host's name, unique in the pool (hypervisor_hostname).
	Name() string
	// Inventory reports the host's capacity and health.
	Inventory(ctx context.Context) (proxies.Host, error)
	// Usage reports what the host's domains hold (vcpus, ram_mb, disk_gb).
	Usage(ctx context.Context) (Usage, error)
	// CreateDomain defines and boots a domain; ErrCapacity when the host has
	// no room for the flavor under its allocation ratios.
	CreateDomain(ctx context.Context, spec proxies.ServerSpec) (proxies.ServerStatus, error)
	Domain(ctx context.Context, id string) (proxies.ServerStatus, error)
	Domains(ctx context.Context) ([]proxies.ServerStatus, error)
	StartDomain(ctx context.Context, id string) (proxies.ServerStatus, error)
	StopDomain(ctx context.Context, id string) (proxies.ServerStatus, error)
	RebootDomain(ctx context.Context, id string, kind proxies.RebootKind) (proxies.ServerStatus, error)
	// DestroyDomain removes the domain and returns once it is gone; nil when
	// it was already gone.
	DestroyDomain(ctx context.Context, id string) error
	ConsoleLog(ctx context.Context, id string, lines int) (string, error)
	// SnapshotDomain captures the root disk as image imageID and returns
	// once the copy is ready.
	SnapshotDomain(ctx context.Context, id, imageID string) (proxies.ImageStatus, error)
	// Close stops the host's background work and waits for it.
	Close() error
}

// Usage is what a host's domains hold, before allocation ratios.
type Usage struct {
	VCPUs  int `json:"vcpus"`
	RAMMB  int `json:"ram_mb"`
	DiskGB int `json:"disk_gb"`
}
