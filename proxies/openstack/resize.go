package openstack

import (
	"context"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
)

// ResizeServer resizes to the bottom flavor that maps f and confirms the
// resize when the bottom reaches VERIFY_RESIZE (Canopy has no separate
// confirm step for a backend: a revert is a resize back). Resizing to the
// flavor the server has is a no-op.
func (b *Backend) ResizeServer(ctx context.Context, id string, f proxies.Flavor) (proxies.ServerStatus, error) {
	const op = "ResizeServer"
	ctx, cancel := b.call(ctx)
	defer cancel()
	ref, _, err := b.lookup(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	target, err := b.bottomFlavor(ctx, ref.scope, f)
	if err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	var cur struct {
		Flavor struct {
			ID string `json:"id"`
		} `json:"flavor"`
	}
	if err := servers.Get(ctx, b.computeAt(ref.scope, mvBase), ref.bottomID).ExtractInto(&cur); err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	if cur.Flavor.ID != target {
		if err := servers.Resize(ctx, ref.scope.compute, ref.bottomID, servers.ResizeOpts{FlavorRef: target}).ExtractErr(); err != nil {
			return proxies.ServerStatus{}, wrap(op, err)
		}
	}
	srv, err := b.getBottom(ctx, ref.scope, ref.bottomID)
	if err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	st := b.status(srv)
	st.ID = id
	if cur.Flavor.ID != target && st.TaskState == "" {
		st.TaskState = "resize_migrating"
	}
	return st, nil
}

// confirmResize confirms a resize the bottom holds in VERIFY_RESIZE.
func (b *Backend) confirmResize(ctx context.Context, ref serverRef) {
	if err := servers.ConfirmResize(ctx, ref.scope.compute, ref.bottomID).ExtractErr(); err != nil && !isConflict(err) {
		b.log.Warn("confirm resize failed", "bottom_id", ref.bottomID, "err", wrap("ResizeServer", err))
	}
}

// RebuildServer rebuilds the bottom server from the bottom copy of
// spec.ImageID, keeping the canopy_* metadata. A new public key needs
// microversion 2.54 (key_name on rebuild); older bottoms answer
// ErrNotSupported for it.
func (b *Backend) RebuildServer(ctx context.Context, id string, spec proxies.RebuildSpec) (proxies.ServerStatus, error) {
	const op = "RebuildServer"
	ctx, cancel := b.call(ctx)
	defer cancel()
	ref, srv, err := b.lookup(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if st := b.status(srv); st.TaskState == "rebuilding" {
		st.ID = id
		return st, nil
	}
	image, err := b.bottomImage(ctx, ref.scope, spec.ImageID)
	if err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	meta := map[string]string{}
	for k, v := range spec.Metadata {
		meta[k] = v
	}
	meta[metaID], meta[metaProject] = id, srv.Metadata[metaProject]
	opts := rebuildOpts{RebuildOpts: servers.RebuildOpts{ImageRef: image, Name: spec.Name, Metadata: meta}}
	c := b.computeAt(ref.scope, mvBase)
	if spec.PublicKey != "" {
		if !b.maxMicro.atLeast(mvRebuildKey) {
			return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrNotSupported, op,
				"the bottom cloud (microversion %s) cannot change a server's key on rebuild (needs 2.54)", b.maxMicro)
		}
		if opts.keyName, err = b.ensureKeypair(ctx, ref.scope, spec.PublicKey); err != nil {
			return proxies.ServerStatus{}, wrap(op, err)
		}
		c = b.computeAt(ref.scope, mvRebuildKey)
	}
	if err := servers.Rebuild(ctx, c, ref.bottomID, opts).Err; err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	got, err := b.getBottom(ctx, ref.scope, ref.bottomID)
	if err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	st := b.status(got)
	st.ID = id
	if st.TaskState == "" && st.State != proxies.StateError {
		st.TaskState = "rebuilding"
	}
	return st, nil
}

// rebuildOpts adds key_name (2.54) to gophercloud's rebuild body.
type rebuildOpts struct {
	servers.RebuildOpts
	keyName string
}

func (o rebuildOpts) ToServerRebuildMap() (map[string]any, error) {
	m, err := o.RebuildOpts.ToServerRebuildMap()
	if err != nil {
		return nil, err
	}
	if o.keyName != "" {
		m["rebuild"].(map[string]any)["key_name"] = o.keyName
	}
	return m, nil
}
