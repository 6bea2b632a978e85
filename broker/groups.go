package broker

import (
	"context"
	"errors"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// GroupPlacer is the optional Placer method that enforces server-group
// policies (scheduler.Scheduler has it). Without it a create into a group
// with a hard policy answers 501 rather than ignore the policy.
type GroupPlacer interface {
	PlaceInGroup(ctx context.Context, req scheduler.Request, hints scheduler.GroupHints) (scheduler.Placement, error)
}

// groupHints reads the server group a create names: its policy and where
// its members run. nil when the create names no group.
func (b *Broker) groupHints(ctx context.Context, req CreateRequest) (*scheduler.GroupHints, error) {
	const op = "CreateServers"
	if req.ServerGroupID == "" {
		return nil, nil
	}
	g, err := b.groups.Get(ctx, req.ProjectID, req.ServerGroupID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, invalid(op, "Invalid server group %s.", req.ServerGroupID)
	}
	if err != nil {
		return nil, err
	}
	hints := &scheduler.GroupHints{Policy: g.Policy}
	// Soft policies only weigh (in Nova too): any placer will do, and the
	// scheduler's soft weighers read the members' hosts from the request.
	if _, ok := b.placer.(GroupPlacer); !ok && (g.Policy == "affinity" || g.Policy == "anti-affinity") {
		return nil, proxies.Errorf(proxies.ErrNotSupported, op, "Server group policy %s cannot be enforced by this cloud's scheduler.", g.Policy)
	}
	members, err := b.servers.GetMany(ctx, req.ProjectID, g.Members)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		if m != nil && m.Routing.Host != "" {
			hints.Hosts = append(hints.Hosts, m.Routing.Cloud+"/"+m.Routing.Host)
		}
	}
	return hints, nil
}

// place asks the scheduler for a placement, within the group's policy when
// hints say so.
func (b *Broker) place(ctx context.Context, req scheduler.Request, hints *scheduler.GroupHints) (scheduler.Placement, error) {
	if gp, ok := b.placer.(GroupPlacer); ok && hints != nil && (hints.Policy == "affinity" || hints.Policy == "anti-affinity") {
		return gp.PlaceInGroup(ctx, req, *hints)
	}
	return b.placer.Place(ctx, req)
}
