package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// Realise on use (Tricircle's model): the registry holds every network,
// security group, router, floating IP and image; a cloud is given one when
// a server there first needs it, and from then on every change is pushed to
// the clouds where it is realised. Which clouds those are is a small set
// per resource in the registry (realisedKey); a push that failed is kept in
// a per-cloud pending set that the sync loop re-pushes (realisepush.go).

// NetworkSpecs is the part of the network service the broker realises
// network resources from. gateway/network implements it (the broker finds
// it on its Ports); without it the broker realises no network resources.
// An unknown id reads as registry.ErrNotFound.
type NetworkSpecs interface {
	// NetworkSpec is a network with its subnets.
	NetworkSpec(ctx context.Context, networkID string) (proxies.NetworkSpec, error)
	// SecurityGroupSpec is a group with all its rules, and whether it is
	// its project's default group.
	SecurityGroupSpec(ctx context.Context, groupID string) (spec proxies.SecurityGroupSpec, isDefault bool, err error)
	// RouterSpec is a router with its gateway, interfaces and routes.
	RouterSpec(ctx context.Context, routerID string) (proxies.RouterSpec, error)
	// FloatingIPSpec is a floating IP with its association (ServerID is
	// the associated port's device).
	FloatingIPSpec(ctx context.Context, fipID string) (proxies.FloatingIPSpec, error)
	// PortBinding is the server a port of projectID is bound to ("" for
	// none) and the groups the port uses.
	PortBinding(ctx context.Context, projectID, portID string) (serverID string, groupIDs []string, err error)
	// DefaultSecurityGroupID is the id of projectID's default group
	// (whether or not it exists yet).
	DefaultSecurityGroupID(projectID string) string
	// PortFloatingIPs is the ids of the floating IPs associated with a
	// port of projectID.
	PortFloatingIPs(ctx context.Context, projectID, portID string) ([]string, error)
}

// ImageStore opens the bytes of an image in the gateway's image store
// (imagestore.FS implements it).
type ImageStore interface {
	Open(ctx context.Context, id string) (io.ReadSeekCloser, int64, error)
}

// SetImageStore wires the image store in: images are then imported into a
// backend that declares Images before a server there boots from them.
// Without it the broker imports no images.
func (b *Broker) SetImageStore(st ImageStore) { b.imageStore = st }

// Kinds of realised resources, as they appear in realised and pending keys.
const (
	realNetwork  = "network"
	realSecGroup = "secgroup"
	realPortSG   = "portsg" // a port's groups on its server's NIC
	realRouter   = "router"
	realFIP      = "floatingip"
)

// realisedKey is the set of clouds resource id of kind is realised in.
func realisedKey(project, kind, id string) string {
	return registry.Key(project, "realised", kind, id)
}

// Realised returns the clouds a network resource is realised in (kind is
// network, secgroup, router or floatingip), for tests and the admin API.
func (b *Broker) Realised(ctx context.Context, project, kind, id string) ([]string, error) {
	out, err := b.reg.Client().SMembers(ctx, realisedKey(project, kind, id)).Result()
	slices.Sort(out)
	return out, err
}

func (b *Broker) markRealised(ctx context.Context, project, kind, id, cloud string) error {
	if err := b.indexRealised(ctx, project, kind, id, cloud); err != nil {
		return err
	}
	return b.reg.Client().SAdd(ctx, realisedKey(project, kind, id), cloud).Err()
}

// cloudRealisedKey indexes the realised sets that name cloud, so that a
// cloud removed while the gateway runs is taken out of every one of them
// (forgetCloud) without scanning the keyspace.
func cloudRealisedKey(cloud string) string {
	return registry.Key("", "cloud-realised", cloud)
}

func (b *Broker) indexRealised(ctx context.Context, project, kind, id, cloud string) error {
	return b.reg.Client().SAdd(ctx, cloudRealisedKey(cloud), realisedKey(project, kind, id)).Err()
}

// forgetCloud takes cloud out of every realised set and image location it
// appears in: a cloud of the same name registered later starts empty.
func (b *Broker) forgetCloud(ctx context.Context, cloud string) error {
	rdb := b.reg.Client()
	keys, err := rdb.SMembers(ctx, cloudRealisedKey(cloud)).Result()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := rdb.SRem(ctx, k, cloud).Err(); err != nil {
			return err
		}
	}
	if err := rdb.Del(ctx, cloudRealisedKey(cloud)).Err(); err != nil {
		return err
	}
	imgs, err := b.imageRecords.List(ctx, "*", registry.Page{})
	if err != nil {
		return err
	}
	for _, img := range imgs {
		if !slices.ContainsFunc(img.Locations, func(l registry.ImageLocation) bool { return l.Cloud == cloud }) {
			continue
		}
		v, err := b.imageRecords.Lookup(ctx, img.ID)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		_, err = b.imageRecords.Update(ctx, v.Project, img.ID, func(cur *registry.Image) error {
			cur.Locations = slices.DeleteFunc(slices.Clone(cur.Locations), func(l registry.ImageLocation) bool { return l.Cloud == cloud })
			return nil
		})
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
	}
	return nil
}

func (b *Broker) unmarkRealised(ctx context.Context, project, kind, id, cloud string) error {
	return b.reg.Client().SRem(ctx, realisedKey(project, kind, id), cloud).Err()
}

// networkSpecs is the network service's specs, when it provides them.
func (b *Broker) networkSpecs() (NetworkSpecs, bool) {
	ns, ok := b.ports.(NetworkSpecs)
	return ns, ok
}

// realiseForServer makes everything spec needs exist in backend be before
// the server is created (or a NIC attached): the image, each NIC's network
// and each NIC's security groups, whose ids it fills into the NICs. A cloud
// that does not filter traffic refuses a NIC with groups other than its
// project's default one.
func (b *Broker) realiseForServer(ctx context.Context, be proxies.Backend, spec *proxies.ServerSpec) error {
	if spec.ImageID != "" {
		if err := b.ensureImage(ctx, be, spec.ProjectID, spec.ImageID); err != nil {
			return err
		}
	}
	ns, ok := b.networkSpecs()
	if !ok {
		return nil
	}
	nics := slices.Clone(spec.NICs)
	for i := range nics {
		if err := b.realiseNIC(ctx, be, ns, spec.ProjectID, &nics[i]); err != nil {
			return err
		}
	}
	spec.NICs = nics
	return nil
}

// checkServerNICs refuses, before anything is built, NICs that cloud could
// not honour: groups other than the default one where the cloud has no
// security groups, floating IPs where it has none.
func (b *Broker) checkServerNICs(ctx context.Context, cloud, project string, nics []proxies.NIC) error {
	ns, ok := b.networkSpecs()
	if !ok {
		return nil
	}
	be, err := b.backend(cloud, "CreateServers")
	if err != nil {
		return err
	}
	_, hasGroups := proxies.SecurityGroupsOf(be)
	_, hasFIPs := proxies.FloatingIPsOf(be)
	if hasGroups && hasFIPs {
		return nil
	}
	for _, nic := range nics {
		if !hasGroups {
			_, groups, err := ns.PortBinding(ctx, project, nic.PortID)
			if err != nil {
				return err
			}
			if err := b.checkGroupsSupported(be, ns, project, nic.PortID, groups); err != nil {
				return err
			}
		}
		if !hasFIPs {
			fips, err := ns.PortFloatingIPs(ctx, project, nic.PortID)
			if err != nil {
				return err
			}
			if len(fips) > 0 {
				return conflict("FloatingIPs", "Cloud %s does not support floating IPs; port %s has one.", be.Name(), nic.PortID)
			}
		}
	}
	return nil
}

// pushServerFloatingIPs pushes the floating IPs already associated with
// the ports of a server that has just been built (associated while the
// port was unbound, or before the build ended).
func (b *Broker) pushServerFloatingIPs(ctx context.Context, cloud, project string, nics []proxies.NIC) {
	ns, ok := b.networkSpecs()
	if !ok {
		return
	}
	for _, nic := range nics {
		fips, err := ns.PortFloatingIPs(ctx, project, nic.PortID)
		if err != nil {
			b.log.Warn("read a port's floating IPs", "port", nic.PortID, "err", err)
			continue
		}
		for _, id := range fips {
			b.pushTo(ctx, cloud, realFIP, project, id)
		}
	}
}

// realiseNIC realises one NIC's network and groups in be. What is already
// realised there is not ensured again (later changes are pushed by the
// hooks), so a create costs a set lookup per network and group.
func (b *Broker) realiseNIC(ctx context.Context, be proxies.Backend, ns NetworkSpecs, project string, nic *proxies.NIC) error {
	if be.Capabilities().Networks && !b.isRealised(ctx, project, realNetwork, nic.NetworkID, be.Name()) {
		if err := b.ensureNetwork(ctx, be, ns, nic.NetworkID); err != nil {
			return err
		}
	}
	_, groups, err := ns.PortBinding(ctx, project, nic.PortID)
	if err != nil {
		return err
	}
	if err := b.checkGroupsSupported(be, ns, project, nic.PortID, groups); err != nil {
		return err
	}
	if _, ok := proxies.SecurityGroupsOf(be); !ok {
		return nil
	}
	seen := map[string]bool{}
	for _, g := range groups {
		if b.isRealised(ctx, project, realSecGroup, g, be.Name()) {
			continue
		}
		if err := b.ensureGroup(ctx, be, ns, g, seen); err != nil {
			return err
		}
	}
	nic.SecurityGroupIDs = slices.Clone(groups)
	return nil
}

// checkGroupsSupported refuses a port (of project) with groups other than
// the default one on a cloud without security groups: their rules would
// not be enforced.
func (b *Broker) checkGroupsSupported(be proxies.Backend, ns NetworkSpecs, project, portID string, groups []string) error {
	if _, ok := proxies.SecurityGroupsOf(be); ok {
		return nil
	}
	def := ns.DefaultSecurityGroupID(project)
	for _, g := range groups {
		if g != def {
			return conflict("SecurityGroups", "Cloud %s does not support security groups; port %s uses security group %s.", be.Name(), portID, g)
		}
	}
	return nil
}

// isRealised reports whether resource id (of project) is realised in cloud.
func (b *Broker) isRealised(ctx context.Context, project, kind, id, cloud string) bool {
	ok, err := b.reg.Client().SIsMember(ctx, realisedKey(project, kind, id), cloud).Result()
	return err == nil && ok
}

// ensureNetwork realises network id (with its subnets) in be.
func (b *Broker) ensureNetwork(ctx context.Context, be proxies.Backend, ns NetworkSpecs, id string) error {
	spec, err := ns.NetworkSpec(ctx, id)
	if err != nil {
		return fmt.Errorf("network %s: %w", id, err)
	}
	if _, err := be.Networks().EnsureNetwork(ctx, spec); err != nil {
		return err
	}
	if err := b.indexRealised(ctx, spec.ProjectID, realNetwork, id, be.Name()); err != nil {
		return err
	}
	added, err := b.reg.Client().SAdd(ctx, realisedKey(spec.ProjectID, realNetwork, id), be.Name()).Result()
	if err != nil {
		return err
	}
	if added == 1 {
		b.realiseRouters(ctx, be, spec)
	}
	return nil
}

// kindRouter is the registry kind of gateway/network's router records.
const kindRouter registry.Kind = "router"

// routerLinks is the part of gateway/network's router record that names
// the networks a router touches: its gateway's network, and the subnets of
// its interfaces.
type routerLinks struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Gateway   *struct {
		NetworkID string `json:"network_id"`
	} `json:"external_gateway_info"`
	Interfaces []routerItf `json:"interfaces"`
}

// routerItf is one interface of a router record.
type routerItf struct {
	SubnetID string `json:"subnet_id"`
}

// on reports whether the router has its gateway on network id or an
// interface on one of its subnets.
func (r *routerLinks) on(id string, subnets map[string]bool) bool {
	if r.Gateway != nil && r.Gateway.NetworkID == id {
		return true
	}
	return slices.ContainsFunc(r.Interfaces, func(i routerItf) bool { return subnets[i.SubnetID] })
}

// realiseRouters pushes to be, which has just been given network n, every
// router with an interface or its gateway on n (of any project: shared and
// external networks carry other projects' routers). A router made before
// any server used the cloud is otherwise never realised there, and the
// floating IPs behind it could not be associated. Called before the
// server that realised n is built, so before its floating IPs are pushed;
// a failed push is left pending for the sync loop like any other.
func (b *Broker) realiseRouters(ctx context.Context, be proxies.Backend, n proxies.NetworkSpec) {
	if _, ok := proxies.RoutersOf(be); !ok {
		return
	}
	subnets := make(map[string]bool, len(n.Subnets))
	for _, sn := range n.Subnets {
		subnets[sn.ID] = true
	}
	routers, err := registry.NewCollection[routerLinks](b.reg, kindRouter, nil).List(ctx, "*", registry.Page{})
	if err != nil {
		b.log.Warn("list routers to realise with a network", "network", n.ID, "cloud", be.Name(), "err", err)
		return
	}
	for _, r := range routers {
		if r.on(n.ID, subnets) {
			b.pushTo(ctx, be.Name(), realRouter, r.ProjectID, r.ID)
		}
	}
}

// ensureGroup realises group id in be, after the groups its rules name as
// remote groups (seen stops the recursion).
func (b *Broker) ensureGroup(ctx context.Context, be proxies.Backend, ns NetworkSpecs, id string, seen map[string]bool) error {
	if seen[id] {
		return nil
	}
	seen[id] = true
	sg, ok := proxies.SecurityGroupsOf(be)
	if !ok {
		return proxies.Errorf(proxies.ErrNotSupported, "EnsureSecurityGroup", "Cloud %s does not support security groups.", be.Name())
	}
	spec, _, err := ns.SecurityGroupSpec(ctx, id)
	if err != nil {
		return fmt.Errorf("security group %s: %w", id, err)
	}
	for _, r := range spec.Rules {
		if r.RemoteGroupID != "" {
			if err := b.ensureGroup(ctx, be, ns, r.RemoteGroupID, seen); err != nil {
				return err
			}
		}
	}
	if _, err := sg.EnsureSecurityGroup(ctx, spec); err != nil {
		return err
	}
	return b.markRealised(ctx, spec.ProjectID, realSecGroup, id, be.Name())
}

// ensureImage gives be a copy of image id when be holds images and the
// image store is wired: a copy the backend already has is not imported
// again. The copy is recorded as one more location of the Glance image.
func (b *Broker) ensureImage(ctx context.Context, be proxies.Backend, project, id string) error {
	if b.imageStore == nil || !be.Capabilities().Images {
		return nil
	}
	d := be.Images()
	st, err := d.GetImage(ctx, id)
	if errors.Is(err, proxies.ErrNotFound) {
		img, verr := b.images.VisibleImage(ctx, project, true, id)
		if verr != nil {
			return fmt.Errorf("image %s: %w", id, verr)
		}
		spec := proxies.ImageSpec{ID: id, Name: img.Name, DiskFormat: img.DiskFormat, ContainerFormat: img.ContainerFormat, Checksum: img.Checksum}
		if img.Size != nil {
			spec.Size = *img.Size
		}
		if img.HashAlgo == "sha512" {
			spec.SHA512 = img.HashValue
		}
		st, err = d.ImportImage(ctx, spec, func(ctx context.Context) (io.ReadSeekCloser, error) {
			rc, _, err := b.imageStore.Open(ctx, id)
			return rc, err
		})
	}
	if err != nil {
		return err
	}
	return b.recordImageLocation(ctx, be.Name(), st)
}

// recordImageLocation adds the backend copy st to the image's locations
// (once per cloud). An image the registry does not hold is left alone.
func (b *Broker) recordImageLocation(ctx context.Context, cloud string, st proxies.ImageStatus) error {
	v, err := b.imageRecords.Lookup(ctx, st.ID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if slices.ContainsFunc(v.Value.Locations, func(l registry.ImageLocation) bool { return l.Cloud == cloud }) {
		return nil
	}
	_, err = b.imageRecords.Update(ctx, v.Project, st.ID, func(cur *registry.Image) error {
		if !slices.ContainsFunc(cur.Locations, func(l registry.ImageLocation) bool { return l.Cloud == cloud }) {
			cur.Locations = append(slices.Clip(cur.Locations), registry.ImageLocation{Cloud: cloud, URL: st.Location, BottomID: st.BottomID})
		}
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	return err
}
