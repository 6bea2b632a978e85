package proxies

import "context"

// Resizer is the optional interface of a backend that can change a server's
// flavor where it runs (Nova's resize with the target on the same host; a
// public cloud's instance-type change). Backends without it answer Nova's
// resize with 501.
//
// ResizeServer returns at once with the server in task "resize_migrating";
// it settles in the power state it had, now of flavor f. Reverting a resize
// is a ResizeServer back to the old flavor. ErrCapacity when the host has no
// room for f. Idempotent: resizing to the flavor the server has is a no-op.
type Resizer interface {
	ResizeServer(ctx context.Context, id string, f Flavor) (ServerStatus, error)
}

// ResizerOf returns be's Resizer, looking through wrappers that expose
// Unwrap() Backend, and whether it has one.
func ResizerOf(be Backend) (Resizer, bool) { return lookThrough[Resizer](be) }
