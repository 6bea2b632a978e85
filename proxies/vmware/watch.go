package vmware

import (
	"context"
	"strings"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// watchProps are the properties Watch follows.
var watchProps = []string{"name", "config.template", "runtime.powerState", "resourcePool"}

// watched is what Watch remembers of one VM between updates (an update
// carries only the properties that changed).
type watched struct {
	name     string
	template bool
	power    types.VirtualMachinePowerState
	pool     types.ManagedObjectReference
}

// Watch reports the state of every Canopy server in the folder to fn, first
// all of them, then each change (power on/off, suspend, delete as
// StateDeleted) as vCenter announces it, until ctx ends (nil) or the
// session fails (a typed error; the caller restarts it). It is one
// PropertyCollector filter over a ContainerView of the folder, served by
// WaitForUpdatesEx, so vCenter pushes changes instead of Canopy polling
// every VM. fn runs on Watch's goroutine and must not block for long.
func (b *Backend) Watch(ctx context.Context, fn func(proxies.ServerStatus)) error {
	const op = "Watch"
	setup, cancel := b.callCtx(ctx)
	defer cancel()
	v, err := view.NewManager(b.vc).CreateContainerView(setup, b.folder.Reference(), []string{"VirtualMachine"}, false)
	if err != nil {
		return wrapErr(op, err)
	}
	defer func() { _ = v.Destroy(context.WithoutCancel(setup)) }()
	pc, err := property.DefaultCollector(b.vc).Create(setup)
	if err != nil {
		return wrapErr(op, err)
	}
	defer func() { _ = pc.Destroy(context.WithoutCancel(setup)) }()

	filter := new(property.WaitFilter).Add(v.Reference(), "VirtualMachine", watchProps,
		&types.TraversalSpec{Type: "ContainerView", Path: "view", Skip: types.NewBool(false)})
	filter.Spec.ObjectSet[0].Skip = types.NewBool(true)
	seen := map[types.ManagedObjectReference]*watched{}
	err = property.WaitForUpdatesEx(ctx, pc, filter, func(updates []types.ObjectUpdate) bool {
		for _, u := range updates {
			w := seen[u.Obj]
			if w == nil {
				w = &watched{}
				seen[u.Obj] = w
			}
			if u.Kind == types.ObjectUpdateKindLeave {
				delete(seen, u.Obj)
				if st, ok := b.watchStatus(u.Obj, w); ok {
					st.State, st.PowerState = proxies.StateDeleted, proxies.PowerNoState
					fn(st)
				}
				continue
			}
			for _, c := range u.ChangeSet {
				switch c.Name {
				case "name":
					w.name, _ = c.Val.(string)
				case "config.template":
					w.template, _ = c.Val.(bool)
				case "runtime.powerState":
					w.power, _ = c.Val.(types.VirtualMachinePowerState)
				case "resourcePool":
					w.pool, _ = c.Val.(types.ManagedObjectReference)
				}
			}
			if st, ok := b.watchStatus(u.Obj, w); ok {
				fn(st)
			}
		}
		return false
	})
	if ctx.Err() != nil {
		return nil
	}
	return wrapErr(op, err)
}

// watchStatus is the ServerStatus of a watched VM, when it is a server.
func (b *Backend) watchStatus(ref types.ManagedObjectReference, w *watched) (proxies.ServerStatus, bool) {
	id, ok := strings.CutPrefix(w.name, serverPrefix)
	if !ok || w.template || strings.HasPrefix(w.name, imagePrefix) || id == "" {
		return proxies.ServerStatus{}, false
	}
	st := proxies.ServerStatus{ID: id, BottomID: ref.Value, Host: b.hostOf(&w.pool)}
	st.State, st.PowerState = powerState(w.power)
	return st, true
}
