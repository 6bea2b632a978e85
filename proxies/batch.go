package proxies

import "context"

// BatchCreator is the optional interface of a backend that can create a
// group of servers in fewer cloud calls than one per server (EC2's
// RunInstances with a count, a bulk API). Nova's multi-create (min_count /
// max_count) reaches it when every server of the request was placed on the
// same cloud. Backends without it are given one CreateServer per server.
//
// CreateServers creates one server per spec and returns their statuses in
// spec order, each as CreateServer would (building until GetServer settles
// it). It is idempotent by each spec's top id: a spec whose server exists is
// reported as it is, and only the missing ones are created, so a retried
// batch never makes two servers for one id, and a later CreateServer (or
// GetServer) of any spec finds the server the batch made.
//
// All or nothing: on success every spec has its server; on error none of
// the servers this call launched is left behind (the backend removes what it
// made before returning), while servers that existed before the call are
// left as they were. A caller that gets an error may retry the batch or
// fall back to one CreateServer per spec.
//
// The specs may differ in anything; a backend batches those that its cloud
// can make in one call and creates the rest one by one. A caller passes at
// most Capabilities().MaxServersBatch specs per call (a backend with
// BatchCreator declares it positive); more is ErrInvalid.
type BatchCreator interface {
	CreateServers(ctx context.Context, specs []ServerSpec) ([]ServerStatus, error)
}

// BatchCreatorOf returns be's BatchCreator, looking through wrappers that
// expose Unwrap() Backend, and whether it has one.
func BatchCreatorOf(be Backend) (BatchCreator, bool) { return lookThrough[BatchCreator](be) }
