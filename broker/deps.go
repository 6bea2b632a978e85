// Package broker is Canopy's "cloud broker" (Tricircle's word): the domain
// layer between the API handlers and the clouds. It turns a validated API
// command (boot this server, stop that one) into a scheduler decision, a
// registry intent, an idempotent backend call and the recorded outcome.
//
// Handlers in gateway/compute call it; it never sees HTTP. What it needs from
// the image and network services it declares here as small interfaces, which
// gateway/image and gateway/network implement and cmd/canopy wires in.
package broker

import (
	"context"

	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// Images is what the broker needs of the image service.
type Images interface {
	// VisibleImage returns image id if the project may use it (owner, public,
	// community, shared-and-accepted; admin sees all). Not visible reads as
	// registry.ErrNotFound.
	VisibleImage(ctx context.Context, projectID string, isAdmin bool, id string) (*registry.Image, error)
	// CreateSnapshotImage makes a queued image record owned by projectID for
	// a server snapshot (Nova createImage), with the given name and
	// properties (image_type=snapshot, instance_uuid, base_image_ref...).
	CreateSnapshotImage(ctx context.Context, projectID, name string, properties map[string]string) (*registry.Image, error)
	// CompleteSnapshotImage fills the snapshot image's data from the bytes of
	// sourceImageID (the simulated disk is the base image) and marks it
	// active; with failed set, it marks the image killed instead.
	CompleteSnapshotImage(ctx context.Context, imageID, sourceImageID string, failed bool) error
}

// Ports is what the broker needs of the network service.
type Ports interface {
	// CreateServerPort makes a port on networkID for serverID, with fixedIP
	// when given (else an address from the registry's allocator). The network
	// must be visible to the project (own, shared or external).
	CreateServerPort(ctx context.Context, projectID, networkID, fixedIP, serverID string) (*registry.Port, *registry.Network, error)
	// BindPort binds an existing, unbound port of the project to serverID.
	BindPort(ctx context.Context, projectID, portID, serverID string) (*registry.Port, *registry.Network, error)
	// ReleaseServerPorts deletes the ports created for serverID and unbinds
	// ports the user brought. Idempotent.
	ReleaseServerPorts(ctx context.Context, projectID, serverID string) error
	// ProjectNetworks lists the networks a project can attach servers to
	// (its own and shared, not external), for "networks": "auto" and for a
	// create without networks when exactly one is available.
	ProjectNetworks(ctx context.Context, projectID string) ([]*registry.Network, error)
}

// Placer is the scheduler as the broker uses it: place with an atomic claim,
// release on failure or delete.
type Placer interface {
	Place(ctx context.Context, req scheduler.Request) (scheduler.Placement, error)
	// Release frees serverID's claim. Idempotent.
	Release(ctx context.Context, serverID string) error
}
