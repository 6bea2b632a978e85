package broker

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// buildHandle lets a delete stop a build and wait until it has let go.
type buildHandle struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startBuild runs the backend create of s in a goroutine the broker owns;
// pr is how s was placed, to place it again if its cloud refuses it.
func (b *Broker) startBuild(s *registry.Server, spec proxies.ServerSpec, pr placeRequest, ref actionRef) {
	h := &buildHandle{done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	var bctx context.Context
	bctx, h.cancel = context.WithTimeout(b.ctx, b.opts.BuildTimeout)
	b.builds[s.ID] = h
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		defer func() {
			h.cancel()
			b.mu.Lock()
			delete(b.builds, s.ID)
			b.mu.Unlock()
			close(h.done)
		}()
		b.build(bctx, s, spec, pr, ref)
	}()
}

// stopBuild cancels server id's build, if one runs, and waits for it.
func (b *Broker) stopBuild(ctx context.Context, id string) {
	b.mu.Lock()
	h := b.builds[id]
	b.mu.Unlock()
	if h == nil {
		return
	}
	h.cancel()
	select {
	case <-h.done:
	case <-ctx.Done():
	}
}

// build creates s at its backend and records the outcome. A backend that
// refuses the server (out of capacity or quota) sends it to the next
// candidate, up to maxCandidates in all, without the client seeing a
// failure; when every candidate refused, or none is left, the server goes
// ERROR with Nova's "No valid host was found" and the refusals in the
// fault's details.
func (b *Broker) build(ctx context.Context, s *registry.Server, spec proxies.ServerSpec, pr placeRequest, ref actionRef) {
	st, err := b.runCreate(ctx, s, spec)
	var refusals []string
	for refused(err) && ctx.Err() == nil {
		refusals = append(refusals, refusal(s, err))
		if len(refusals) >= maxCandidates {
			err = scheduler.ErrNoValidHost
			break
		}
		b.log.Info("cloud refused server, placing again", "server", s.ID, "cloud", s.Routing.Cloud, "host", s.Routing.Host,
			"err", proxies.SafeMessage(err))
		s, spec, err = b.replace(ctx, s, spec, &pr, err)
		if errors.Is(err, errStopped) {
			return // deleted meanwhile: the delete takes it from here
		}
		if err == nil {
			st, err = b.runCreate(ctx, s, spec)
		}
	}
	if b.ctx.Err() != nil {
		return // shutting down: the sync loop adopts the outcome after restart
	}
	wctx := context.WithoutCancel(ctx)
	if len(refusals) > 0 && errors.Is(err, scheduler.ErrNoValidHost) {
		b.failBuild(wctx, s, noValidHost, strings.Join(refusals, "\n"))
		b.finishAction(wctx, ref, true)
		return
	}
	if err == nil && st.State == proxies.StateActive {
		// Floating IPs associated before the server existed reach the cloud
		// before the server shows ACTIVE, so a client that sees ACTIVE
		// finds its address reachable (a failed push is left pending).
		b.pushServerFloatingIPs(wctx, s.Routing.Cloud, s.ProjectID, spec.NICs)
		now := b.opts.Now()
		_, uerr := b.servers.Update(wctx, s.ProjectID, s.ID, func(cur *registry.Server) error {
			if cur.TaskState == "deleting" {
				return errDeleting
			}
			setState(cur, "active", "", now)
			cur.PowerState = int(proxies.PowerRunning)
			cur.LaunchedAt = launched(st.LaunchedAt, now)
			cur.Routing.State = registry.RoutingActive
			cur.Routing.BottomID = st.BottomID
			if st.Host != "" {
				cur.Routing.Host = st.Host
			}
			return nil
		})
		if uerr == nil {
			b.finishAction(wctx, ref, false)
		}
		return // deleting or gone: the delete path removes the backend server
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return // stopped by a delete, which takes it from here
	}
	msg := "Build of instance " + s.ID + " aborted: "
	switch {
	case err != nil:
		msg += proxies.SafeMessage(err)
	case st.Fault != "":
		msg += st.Fault
	default:
		msg += "the backend reported state " + string(st.State)
	}
	b.failBuild(wctx, s, msg, "")
	b.finishAction(wctx, ref, true)
}

var errDeleting = errors.New("server is being deleted")

// runCreate asks the backend for the server and waits for it to settle.
func (b *Broker) runCreate(ctx context.Context, s *registry.Server, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	be, err := b.backend(s.Routing.Cloud, "CreateServer")
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if !be.Capabilities().Servers {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrNotSupported, "CreateServer", "cloud %s does not run servers", be.Name())
	}
	if err := b.realiseForServer(ctx, be, &spec); err != nil {
		return proxies.ServerStatus{}, err
	}
	st, err := be.Servers().CreateServer(ctx, spec)
	if err != nil {
		return st, err
	}
	st, err = b.await(ctx, be, s.ID, st, func(st proxies.ServerStatus) bool { return st.State != proxies.StateBuilding })
	if err == nil && st.State == proxies.StateError && capacityFault(st.Fault) {
		// The cloud took the server, then found no room for it (a bottom
		// OpenStack's own scheduler, a zone out of an instance type): a
		// refusal like any other, so the server goes to the next candidate.
		return st, proxies.Errorf(proxies.ErrCapacity, "CreateServer", "cloud %s accepted the server, then failed it: %s", be.Name(), st.Fault)
	}
	return st, err
}

// capacityFaults are what clouds say when a server they accepted finds no
// room: Nova's scheduler, EC2, Azure's allocator and vSphere's admission
// control.
var capacityFaults = []string{
	"no valid host was found",
	"insufficientinstancecapacity", "insufficient capacity",
	"allocationfailed", "zonalallocationfailed", "overconstrainedallocationrequest",
	"insufficientresourcesfault", "insufficient resources",
}

// capacityFault reports whether a build's fault says the cloud had no room.
func capacityFault(fault string) bool {
	f := strings.ToLower(fault)
	for _, c := range capacityFaults {
		if strings.Contains(f, c) {
			return true
		}
	}
	return false
}

// await polls the backend until done says the status has settled.
func (b *Broker) await(ctx context.Context, be proxies.Backend, id string, st proxies.ServerStatus, done func(proxies.ServerStatus) bool) (proxies.ServerStatus, error) {
	t := time.NewTicker(b.opts.PollInterval)
	defer t.Stop()
	for !done(st) && st.State != proxies.StateError {
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
		var err error
		if st, err = be.Servers().GetServer(ctx, id); err != nil {
			return st, err
		}
	}
	return st, nil
}

// failBuild puts a server that could not be built in ERROR with a fault
// (msg, and details when not empty), after removing whatever the backend
// made and releasing claim and ports.
func (b *Broker) failBuild(ctx context.Context, s *registry.Server, msg, details string) {
	if be, err := b.backend(s.Routing.Cloud, "DeleteServer"); err == nil {
		if derr := be.Servers().DeleteServer(ctx, s.ID); derr != nil && !errors.Is(derr, proxies.ErrNotFound) {
			b.log.Error("clean up failed build", "server", s.ID, "err", derr)
		}
	}
	b.rollback(ctx, s, false)
	now := b.opts.Now()
	_, err := b.servers.Update(ctx, s.ProjectID, s.ID, func(cur *registry.Server) error {
		if cur.TaskState == "deleting" {
			return errDeleting
		}
		setState(cur, "error", "", now)
		cur.PowerState = int(proxies.PowerNoState)
		cur.Addresses = nil
		cur.Routing.State = registry.RoutingError
		cur.Fault = &registry.Fault{Code: 500, Message: msg, Details: details, Created: now}
		return nil
	})
	if err != nil && !errors.Is(err, errDeleting) && !errors.Is(err, registry.ErrNotFound) {
		b.log.Error("record failed build", "server", s.ID, "err", err)
	}
}

func launched(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t.UTC()
}
