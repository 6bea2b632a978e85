package proxies

import "context"

// NICAttacher is the optional interface of a backend that can plug network
// interfaces into a running or stopped server and unplug them (Nova's
// os-interface). Backends without it answer interface attach and detach
// with 501. Both calls are idempotent by port id: attaching a port the
// server has, or detaching one it has not, changes nothing.
type NICAttacher interface {
	AttachNIC(ctx context.Context, id string, nic NIC) (ServerStatus, error)
	DetachNIC(ctx context.Context, id, portID string) error
}

// NICAttacherOf returns be's NICAttacher, looking through wrappers that
// expose Unwrap() Backend, and whether it has one.
func NICAttacherOf(be Backend) (NICAttacher, bool) { return lookThrough[NICAttacher](be) }
