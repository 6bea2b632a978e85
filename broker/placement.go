package broker

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// maxCandidates is how many placements one server's build tries when
// backends refuse it (out of capacity or quota) before it goes ERROR.
const maxCandidates = 3

// noValidHost is Nova's fault message when nothing could take a server.
const noValidHost = "No valid host was found. "

// placeRequest is what the broker asks the scheduler for one server. The
// build keeps it, so that a backend's refusal can place the server again
// elsewhere with the same request.
type placeRequest struct {
	req scheduler.Request
	// group is the server group's policy and members (nil: none).
	group *scheduler.GroupHints
	// unmet, when set, is a hint no host can satisfy (same_host naming
	// servers that run nowhere): the placement fails with it as the reason.
	unmet string
}

// placeRequest resolves the create's placement inputs that are the same for
// every server it makes: flavor, zone, forced host and scheduler hints (the
// named servers' hosts; an unknown cloud is refused).
func (b *Broker) placeRequest(ctx context.Context, req CreateRequest, f *registry.Flavor) (placeRequest, error) {
	const op = "CreateServers"
	pr := placeRequest{req: scheduler.Request{
		ProjectID: req.ProjectID, AvailabilityZone: req.AvailabilityZone, ForceHost: req.ForceHost,
		Flavor: proxies.Flavor{ID: f.ID, Name: f.Name, VCPUs: f.VCPUs, RAMMB: f.RAMMB, DiskGB: f.DiskGB, ExtraSpecs: f.ExtraSpecs},
	}}
	h := req.SchedulerHints
	if h.Cloud != "" {
		if !b.backends.Has(h.Cloud) {
			return placeRequest{}, invalid(op, "Cloud %s in the scheduler hint 'cloud' could not be found.", h.Cloud)
		}
		pr.req.Hints.Cloud = h.Cloud
	}
	var err error
	if pr.req.Hints.DifferentHost, err = b.serverHosts(ctx, req.ProjectID, h.DifferentHost); err != nil {
		return placeRequest{}, err
	}
	if pr.req.Hints.SameHost, err = b.serverHosts(ctx, req.ProjectID, h.SameHost); err != nil {
		return placeRequest{}, err
	}
	if len(h.SameHost) > 0 && len(pr.req.Hints.SameHost) == 0 {
		// Nova's SameHostFilter passes no host then.
		pr.unmet = "same_host: none of the servers " + strings.Join(h.SameHost, ", ") + " runs on a host."
	}
	return pr, nil
}

// serverHosts are the hosts ("cloud/host") the project's servers ids run
// on; ids that name no server of the project, or one without a host, are
// left out (as Nova's filters ignore instances they do not find).
func (b *Broker) serverHosts(ctx context.Context, project string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	servers, err := b.servers.GetMany(ctx, project, ids)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range servers {
		if s != nil && s.Routing.Host != "" {
			if h := s.Routing.Cloud + "/" + s.Routing.Host; !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
	}
	return out, nil
}

// forServer is pr for server id in the group described by hints (nil: no
// group), with its own copy of the group's hosts.
func (pr placeRequest) forServer(id string, hints *scheduler.GroupHints) placeRequest {
	pr.req.ServerID = id
	if hints != nil {
		g := scheduler.GroupHints{Policy: hints.Policy, Hosts: slices.Clone(hints.Hosts)}
		pr.group = &g
		pr.req.Group = g
	}
	return pr
}

// place asks the scheduler for a placement.
func (pr placeRequest) place(ctx context.Context, b *Broker) (scheduler.Placement, error) {
	if pr.unmet != "" {
		return scheduler.Placement{}, scheduler.ErrNoValidHost
	}
	return b.place(ctx, pr.req, pr.group)
}

// refused reports whether err is a backend's refusal that another
// candidate may not share: out of capacity (that host, or that zone of a
// public cloud) or out of quota (that whole cloud).
func refused(err error) bool {
	return errors.Is(err, proxies.ErrCapacity) || errors.Is(err, proxies.ErrQuota)
}

// errStopped says a re-placement stopped because the server is being
// deleted: the delete takes it from there.
var errStopped = errors.New("the server is being deleted")

// replace moves server s, refused by its cloud with err, to the next
// candidate: it removes whatever the refusing cloud made, releases the
// claim, excludes the host (the cloud, for a quota refusal) and places
// again, then records the new placement. It returns the updated record and
// spec; scheduler.ErrNoValidHost when no other candidate is left.
func (b *Broker) replace(ctx context.Context, s *registry.Server, spec proxies.ServerSpec, pr *placeRequest, err error) (*registry.Server, proxies.ServerSpec, error) {
	cloud, host := s.Routing.Cloud, s.Routing.Host
	if be, berr := b.backend(cloud, "DeleteServer"); berr == nil {
		if derr := be.Servers().DeleteServer(ctx, s.ID); derr != nil && !errors.Is(derr, proxies.ErrNotFound) {
			b.log.Error("clean up refused build", "server", s.ID, "cloud", cloud, "err", derr)
		}
	}
	if rerr := b.placer.Release(ctx, s.ID); rerr != nil {
		return s, spec, rerr
	}
	if errors.Is(err, proxies.ErrQuota) {
		pr.req.Hints.RefusedClouds = append(pr.req.Hints.RefusedClouds, cloud)
	} else {
		pr.req.Hints.RefusedHosts = append(pr.req.Hints.RefusedHosts, cloud+"/"+host)
	}
	for {
		p, perr := pr.place(ctx, b)
		if perr != nil {
			return s, spec, perr
		}
		// The new cloud must honour the server's NICs as the first had to.
		if nerr := b.checkServerNICs(ctx, p.Cloud, s.ProjectID, spec.NICs); nerr != nil {
			if rerr := b.placer.Release(ctx, s.ID); rerr != nil {
				return s, spec, rerr
			}
			pr.req.Hints.RefusedClouds = append(pr.req.Hints.RefusedClouds, p.Cloud)
			continue
		}
		now := b.opts.Now()
		cur, uerr := b.servers.Update(ctx, s.ProjectID, s.ID, func(cur *registry.Server) error {
			if cur.TaskState == "deleting" {
				return errDeleting
			}
			if pr.req.AvailabilityZone == "" {
				cur.AvailabilityZone = p.AvailabilityZone
			}
			cur.Routing.Cloud, cur.Routing.Host = p.Cloud, p.Host
			cur.Updated = now
			return nil
		})
		if uerr != nil {
			_ = b.placer.Release(ctx, s.ID)
			if errors.Is(uerr, errDeleting) || errors.Is(uerr, registry.ErrNotFound) {
				return s, spec, errStopped
			}
			return s, spec, uerr
		}
		spec.Host, spec.AvailabilityZone = p.Host, cur.AvailabilityZone
		return cur, spec, nil
	}
}

// refusal is one backend's refusal of a server, as the fault details tell it.
func refusal(s *registry.Server, err error) string {
	return "cloud " + s.Routing.Cloud + " host " + s.Routing.Host + ": " + proxies.SafeMessage(err)
}
