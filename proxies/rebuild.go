package proxies

import "context"

// RebuildSpec is what Nova's rebuild changes on a server that keeps its id,
// host, ports and flavor: a fresh root disk from ImageID, and the name,
// metadata and key the guest is given.
type RebuildSpec struct {
	ImageID   string            `json:"image_id"`
	Name      string            `json:"name"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	PublicKey string            `json:"public_key,omitempty"`
}

// Rebuilder is the optional interface of a backend that can rebuild a
// server in place. Backends without it answer Nova's rebuild with 501.
// RebuildServer returns at once with the server in task "rebuilding"; the
// server ends in the power state it had (active stays active, stopped stays
// stopped). Idempotent: a retry while the rebuild runs reports it.
type Rebuilder interface {
	RebuildServer(ctx context.Context, id string, spec RebuildSpec) (ServerStatus, error)
}

// unwrapper is a backend wrapper (the metered one) that exposes what it wraps.
type unwrapper interface{ Unwrap() Backend }

// RebuilderOf returns be's Rebuilder, looking through wrappers that expose
// Unwrap() Backend, and whether it has one (the "(X, bool)" accessor).
func RebuilderOf(be Backend) (Rebuilder, bool) { return lookThrough[Rebuilder](be) }

// lookThrough finds the optional interface T on be or on what the wrappers
// around be (the metered one) wrap.
func lookThrough[T any](be Backend) (T, bool) {
	for be != nil {
		if x, ok := be.(T); ok {
			return x, true
		}
		u, ok := be.(unwrapper)
		if !ok {
			break
		}
		be = u.Unwrap()
	}
	var zero T
	return zero, false
}
