package brokertest

import (
	"context"
	"slices"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/scheduler"
)

var _ broker.GroupPlacer = (*Placer)(nil)

// PlaceInGroup places on the fake's one host unless the group's policy
// forbids it (anti-affinity with a member there, affinity with members
// elsewhere): then scheduler.ErrNoValidHost.
func (p *Placer) PlaceInGroup(ctx context.Context, req scheduler.Request, hints scheduler.GroupHints) (scheduler.Placement, error) {
	here := slices.Contains(hints.Hosts, p.Cloud+"/"+p.Host)
	switch {
	case hints.Policy == "anti-affinity" && here,
		hints.Policy == "affinity" && len(hints.Hosts) > 0 && !here:
		p.add("place-refused " + req.ServerID)
		return scheduler.Placement{}, scheduler.ErrNoValidHost
	}
	return p.Place(ctx, req)
}
