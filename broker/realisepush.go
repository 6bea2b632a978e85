package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/prometheus/client_golang/prometheus"
)

// RealisePending is how many pushes of network resources to clouds failed
// and wait for the sync loop to push them again.
var RealisePending = prometheus.NewGauge(prometheus.GaugeOpts{
	Namespace: "canopy",
	Subsystem: "broker",
	Name:      "realise_pending",
	Help:      "Network resource changes not yet pushed to a cloud where the resource is realised (re-pushed by the sync loop).",
})

// pushTimeout bounds one push of one resource to one cloud.
const pushTimeout = 30 * time.Second

// pendingKey is the set of "kind|project|id" a cloud still has to be given.
func pendingKey(cloud string) string {
	return registry.Key(registry.Global, "realise", "pending", cloud)
}

func pendingMember(kind, project, id string) string { return kind + "|" + project + "|" + id }

// The hooks the network service calls after each successful registry write
// (gateway/network's Realiser). Each pushes the new state to the clouds
// concerned and never fails the user's change: a push that fails is logged
// and left pending for the sync loop.

// SecurityGroupChanged pushes group id (rules, name) to every cloud it is
// realised in.
func (b *Broker) SecurityGroupChanged(ctx context.Context, project, id string) {
	b.pushRealised(ctx, realSecGroup, project, id)
}

// SecurityGroupDeleted deletes group id where it is realised.
func (b *Broker) SecurityGroupDeleted(ctx context.Context, project, id string) {
	b.pushRealised(ctx, realSecGroup, project, id)
}

// PortSecurityGroupsChanged sets a bound port's groups on its server's NIC.
func (b *Broker) PortSecurityGroupsChanged(ctx context.Context, project, portID string) {
	cloud, ok := b.portCloud(ctx, project, portID)
	if ok {
		b.pushTo(ctx, cloud, realPortSG, project, portID)
	}
}

// FloatingIPChanged pushes a floating IP's association to the cloud of the
// server it points at, and disassociates it in the clouds it left.
func (b *Broker) FloatingIPChanged(ctx context.Context, project, id string) {
	clouds := b.realisedIn(ctx, realFIP, project, id)
	if ns, ok := b.networkSpecs(); ok {
		if spec, err := ns.FloatingIPSpec(ctx, id); err == nil && spec.ServerID != "" {
			if c := b.serverCloud(ctx, spec.ServerID); c != "" && !slices.Contains(clouds, c) {
				clouds = append(clouds, c)
			}
		}
	}
	for _, c := range clouds {
		b.pushTo(ctx, c, realFIP, project, id)
	}
}

// FloatingIPDeleted releases a floating IP where it is realised.
func (b *Broker) FloatingIPDeleted(ctx context.Context, project, id string) {
	b.pushRealised(ctx, realFIP, project, id)
}

// RouterChanged pushes a router to the clouds where it is realised or where
// one of its networks is.
func (b *Broker) RouterChanged(ctx context.Context, project, id string) {
	clouds := b.realisedIn(ctx, realRouter, project, id)
	if ns, ok := b.networkSpecs(); ok {
		if spec, err := ns.RouterSpec(ctx, id); err == nil {
			for _, itf := range spec.Interfaces {
				for _, c := range b.realisedIn(ctx, realNetwork, projectOfNetwork(ctx, ns, itf.NetworkID, project), itf.NetworkID) {
					if !slices.Contains(clouds, c) {
						clouds = append(clouds, c)
					}
				}
			}
		}
	}
	for _, c := range clouds {
		b.pushTo(ctx, c, realRouter, project, id)
	}
}

// RouterDeleted deletes a router where it is realised.
func (b *Broker) RouterDeleted(ctx context.Context, project, id string) {
	b.pushRealised(ctx, realRouter, project, id)
}

// CheckPortSecurityGroups refuses groups (other than the default one) on a
// port bound to a server in a cloud without security groups.
func (b *Broker) CheckPortSecurityGroups(ctx context.Context, project, portID string, groupIDs []string) error {
	cloud, ok := b.portCloud(ctx, project, portID)
	ns, has := b.networkSpecs()
	if !ok || !has {
		return nil
	}
	be, err := b.backend(cloud, "SetNICSecurityGroups")
	if err != nil {
		return nil // a cloud no longer configured has nothing to enforce
	}
	return b.checkGroupsSupported(be, ns, project, portID, groupIDs)
}

// CheckFloatingIPPort refuses to associate a floating IP with a port bound
// to a server in a cloud without floating IPs.
func (b *Broker) CheckFloatingIPPort(ctx context.Context, project, portID string) error {
	cloud, ok := b.portCloud(ctx, project, portID)
	if !ok {
		return nil
	}
	be, err := b.backend(cloud, "EnsureFloatingIP")
	if err != nil {
		return nil
	}
	if _, ok := proxies.FloatingIPsOf(be); !ok {
		return conflict("EnsureFloatingIP", "Cloud %s does not support floating IPs; port %s cannot have one.", be.Name(), portID)
	}
	return nil
}

// projectOfNetwork is the project that owns network id (shared and
// external networks belong to another project than the router).
func projectOfNetwork(ctx context.Context, ns NetworkSpecs, id, fallback string) string {
	if spec, err := ns.NetworkSpec(ctx, id); err == nil {
		return spec.ProjectID
	}
	return fallback
}

// portCloud is the cloud of the server port portID is bound to.
func (b *Broker) portCloud(ctx context.Context, project, portID string) (string, bool) {
	ns, ok := b.networkSpecs()
	if !ok {
		return "", false
	}
	serverID, _, err := ns.PortBinding(ctx, project, portID)
	if err != nil || serverID == "" {
		return "", false
	}
	c := b.serverCloud(ctx, serverID)
	return c, c != ""
}

// serverCloud is the cloud server id is placed in ("" when unknown).
func (b *Broker) serverCloud(ctx context.Context, id string) string {
	v, err := b.servers.Lookup(ctx, id)
	if err != nil {
		return ""
	}
	return v.Value.Routing.Cloud
}

func (b *Broker) realisedIn(ctx context.Context, kind, project, id string) []string {
	clouds, err := b.reg.Client().SMembers(ctx, realisedKey(project, kind, id)).Result()
	if err != nil {
		b.log.Warn("read where a resource is realised", "kind", kind, "id", id, "request_id", wire.RequestID(ctx), "err", err)
	}
	slices.Sort(clouds)
	return clouds
}

func (b *Broker) pushRealised(ctx context.Context, kind, project, id string) {
	for _, c := range b.realisedIn(ctx, kind, project, id) {
		b.pushTo(ctx, c, kind, project, id)
	}
}

// pushTo pushes one resource to one cloud; a failure is logged with the
// request's id and left pending.
func (b *Broker) pushTo(ctx context.Context, cloud, kind, project, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	err := b.push(ctx, cloud, kind, project, id)
	rdb := b.reg.Client()
	if err == nil {
		rdb.SRem(ctx, pendingKey(cloud), pendingMember(kind, project, id))
	} else {
		b.log.Warn("push to cloud failed; left pending for the sync loop", "cloud", cloud, "kind", kind, "id", id,
			"request_id", wire.RequestID(ctx), "err", err)
		if perr := rdb.SAdd(ctx, pendingKey(cloud), pendingMember(kind, project, id)).Err(); perr != nil {
			b.log.Error("record pending push", "cloud", cloud, "kind", kind, "id", id, "err", perr)
		}
	}
	b.refreshPendingGauge(ctx)
}

// refreshPendingGauge sets RealisePending from the registry.
func (b *Broker) refreshPendingGauge(ctx context.Context) {
	total := 0
	for name := range b.backends.All() {
		n, err := b.reg.Client().SCard(ctx, pendingKey(name)).Result()
		if err != nil {
			return
		}
		total += int(n)
	}
	RealisePending.Set(float64(total))
}

// Pending returns the pushes waiting for cloud, as "kind|project|id".
func (b *Broker) Pending(ctx context.Context, cloud string) ([]string, error) {
	out, err := b.reg.Client().SMembers(ctx, pendingKey(cloud)).Result()
	slices.Sort(out)
	return out, err
}

// RepushPending pushes again every change cloud is still waiting for and
// returns how many went through. The pushes are declarative, so a push
// that had in fact arrived is harmless.
func (b *Broker) RepushPending(ctx context.Context, cloud string) (int, error) {
	members, err := b.reg.Client().SMembers(ctx, pendingKey(cloud)).Result()
	if err != nil {
		return 0, err
	}
	done := 0
	var errs []error
	for _, m := range members {
		parts := strings.SplitN(m, "|", 3)
		if len(parts) != 3 {
			b.reg.Client().SRem(ctx, pendingKey(cloud), m)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, pushTimeout)
		err := b.push(pctx, cloud, parts[0], parts[1], parts[2])
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m, err))
			continue
		}
		b.reg.Client().SRem(ctx, pendingKey(cloud), m)
		done++
	}
	b.refreshPendingGauge(ctx)
	return done, errors.Join(errs...)
}

// push makes cloud's copy of one resource match the registry: ensured as
// the registry has it, or deleted when the registry no longer has it.
func (b *Broker) push(ctx context.Context, cloud, kind, project, id string) error {
	be, err := b.backend(cloud, "push")
	if err != nil {
		return err
	}
	ns, ok := b.networkSpecs()
	if !ok {
		return nil
	}
	switch kind {
	case realNetwork:
		return b.pushNetwork(ctx, be, ns, project, id)
	case realSecGroup:
		return b.pushGroup(ctx, be, ns, project, id)
	case realPortSG:
		return b.pushPortGroups(ctx, be, ns, project, id)
	case realRouter:
		return b.pushRouter(ctx, be, ns, project, id)
	case realFIP:
		return b.pushFloatingIP(ctx, be, ns, project, id)
	}
	return fmt.Errorf("unknown kind %q", kind)
}

func (b *Broker) pushNetwork(ctx context.Context, be proxies.Backend, ns NetworkSpecs, project, id string) error {
	if _, err := ns.NetworkSpec(ctx, id); errors.Is(err, registry.ErrNotFound) {
		if err := be.Networks().DeleteNetwork(ctx, id); err != nil {
			return err
		}
		return b.unmarkRealised(ctx, project, realNetwork, id, be.Name())
	}
	return b.ensureNetwork(ctx, be, ns, id)
}

func (b *Broker) pushGroup(ctx context.Context, be proxies.Backend, ns NetworkSpecs, project, id string) error {
	sg, ok := proxies.SecurityGroupsOf(be)
	if !ok {
		return b.unmarkRealised(ctx, project, realSecGroup, id, be.Name())
	}
	if _, _, err := ns.SecurityGroupSpec(ctx, id); errors.Is(err, registry.ErrNotFound) {
		if err := sg.DeleteSecurityGroup(ctx, id); err != nil {
			return err
		}
		return b.unmarkRealised(ctx, project, realSecGroup, id, be.Name())
	}
	return b.ensureGroup(ctx, be, ns, id, map[string]bool{})
}

func (b *Broker) pushPortGroups(ctx context.Context, be proxies.Backend, ns NetworkSpecs, project, portID string) error {
	serverID, groups, err := ns.PortBinding(ctx, project, portID)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && serverID == "") {
		return nil // the port is gone or unbound: its NIC went with it
	}
	if err != nil {
		return err
	}
	if b.serverCloud(ctx, serverID) != be.Name() {
		return nil // the server moved or is gone
	}
	sg, ok := proxies.SecurityGroupsOf(be)
	if !ok {
		return b.checkGroupsSupported(be, ns, project, portID, groups)
	}
	seen := map[string]bool{}
	for _, g := range groups {
		if err := b.ensureGroup(ctx, be, ns, g, seen); err != nil {
			return err
		}
	}
	return sg.SetNICSecurityGroups(ctx, serverID, portID, groups)
}

func (b *Broker) pushRouter(ctx context.Context, be proxies.Backend, ns NetworkSpecs, project, id string) error {
	rd, ok := proxies.RoutersOf(be)
	if !ok {
		return nil // routing in that cloud is its own (a VPC's implicit router)
	}
	spec, err := ns.RouterSpec(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		if err := rd.DeleteRouter(ctx, id); err != nil {
			return err
		}
		return b.unmarkRealised(ctx, project, realRouter, id, be.Name())
	}
	if err != nil {
		return err
	}
	// The cloud's router has the interfaces on networks realised there.
	var local []proxies.RouterInterface
	for _, itf := range spec.Interfaces {
		if slices.Contains(b.realisedIn(ctx, realNetwork, projectOfNetwork(ctx, ns, itf.NetworkID, project), itf.NetworkID), be.Name()) {
			local = append(local, itf)
		}
	}
	spec.Interfaces = local
	if spec.ExternalNetworkID != "" && be.Capabilities().Networks {
		if err := b.ensureNetwork(ctx, be, ns, spec.ExternalNetworkID); err != nil {
			return err
		}
	}
	if _, err := rd.EnsureRouter(ctx, spec); err != nil {
		return err
	}
	return b.markRealised(ctx, project, realRouter, id, be.Name())
}

func (b *Broker) pushFloatingIP(ctx context.Context, be proxies.Backend, ns NetworkSpecs, project, id string) error {
	fd, ok := proxies.FloatingIPsOf(be)
	spec, err := ns.FloatingIPSpec(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		if ok {
			if err := fd.ReleaseFloatingIP(ctx, id); err != nil {
				return err
			}
		}
		return b.unmarkRealised(ctx, project, realFIP, id, be.Name())
	}
	if err != nil {
		return err
	}
	if spec.ServerID == "" || b.serverCloud(ctx, spec.ServerID) != be.Name() {
		// Not (or no longer) pointing at a server here: disassociate.
		spec.PortID, spec.ServerID, spec.FixedIP = "", "", ""
	}
	if !ok {
		if spec.PortID != "" {
			return proxies.Errorf(proxies.ErrNotSupported, "EnsureFloatingIP", "Cloud %s does not support floating IPs.", be.Name())
		}
		return b.unmarkRealised(ctx, project, realFIP, id, be.Name())
	}
	if _, err := fd.EnsureFloatingIP(ctx, spec); err != nil {
		return err
	}
	return b.markRealised(ctx, project, realFIP, id, be.Name())
}
