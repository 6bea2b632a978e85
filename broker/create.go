package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// NetworkRequest is one entry of a create's "networks": a network (with an
// optional fixed address) or an existing port.
type NetworkRequest struct {
	NetworkID string
	PortID    string
	FixedIP   string
}

// CreateRequest is a validated server create (the compute API has checked
// types, lengths and formats). The broker checks what needs the registry:
// flavor, image, networks, quota and placement.
type CreateRequest struct {
	Caller
	Name             string
	Description      *string
	ImageID          string
	FlavorID         string
	Networks         []NetworkRequest
	AutoNetwork      bool // "auto", or no networks given before 2.37
	KeyName          string
	PublicKey        string
	UserData         string // base64, as received
	Metadata         map[string]string
	AvailabilityZone string
	ForceHost        string
	AccessIPv4       string
	AccessIPv6       string
	DiskConfig       string
	ConfigDrive      bool
	SecurityGroups   []string
	Tags             []string
	ServerGroupID    string
	MinCount         int
	MaxCount         int
	// IDs, when set, are the top ids to use (one per server, in order): a
	// retried command with the same ids finds the servers it already made.
	IDs []string
	// BootVolume, when set, is the volume the server boots from (ImageID
	// is then empty).
	BootVolume *BootVolume
	// SchedulerHints are the create's os:scheduler_hints besides "group"
	// (which is ServerGroupID).
	SchedulerHints SchedulerHints
}

// SchedulerHints are the scheduler hints a create may give: Nova's
// same_host and different_host (server ids) and Canopy's cloud.
type SchedulerHints struct {
	// SameHost: place on the host of one of these servers.
	SameHost []string
	// DifferentHost: place on a host running none of these servers.
	DifferentHost []string
	// Cloud: place on this cloud only (an unknown cloud is refused, 400).
	Cloud string
}

// CreateServers boots between MinCount and MaxCount servers. It returns once
// each is recorded in BUILD with its ports; the backend builds run in
// goroutines the broker owns and end in ACTIVE or in ERROR with a fault.
// On an error nothing of this request is left in the registry or the pool.
func (b *Broker) CreateServers(ctx context.Context, req CreateRequest) ([]*registry.Server, error) {
	const op = "CreateServers"
	req.MinCount, req.MaxCount = max(req.MinCount, 1), max(req.MaxCount, req.MinCount, 1)
	flavor, err := b.flavors.Get(ctx, registry.Global, req.FlavorID)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && !flavorUsable(flavor, req.Caller)) {
		return nil, invalid(op, "Flavor %s could not be found.", req.FlavorID)
	}
	if err != nil {
		return nil, err
	}
	var imageProps map[string]string
	if req.BootVolume != nil {
		err = b.checkBootVolume(ctx, req, flavor)
	} else {
		imageProps, err = b.checkImage(ctx, req, flavor)
	}
	if err != nil {
		return nil, err
	}
	nets, err := b.resolveNetworks(ctx, req)
	if err != nil {
		return nil, err
	}
	hints, err := b.groupHints(ctx, req)
	if err != nil {
		return nil, err
	}
	preq, err := b.placeRequest(ctx, req, flavor)
	if err != nil {
		return nil, err
	}
	preq.req.ImageProperties = imageProps // for the scheduler's ImagePropertiesFilter

	// Retries: servers that already exist under the requested ids are
	// returned as they are and take no new quota.
	ids := make([]string, req.MaxCount)
	var existing []*registry.Server
	for i := range ids {
		if i < len(req.IDs) {
			ids[i] = req.IDs[i]
			if s, err := b.servers.Get(ctx, req.ProjectID, ids[i]); err == nil {
				existing = append(existing, s)
				continue
			}
		} else {
			ids[i] = b.opts.NewID()
		}
	}
	if len(existing) > 0 && len(existing) >= req.MinCount {
		return existing, nil
	}

	n, err := b.reserve(ctx, req.ProjectID, req.MinCount, req.MaxCount, flavor.VCPUs, flavor.RAMMB)
	if err != nil {
		return nil, err
	}
	made := make([]*registry.Server, 0, n)
	specs := make([]proxies.ServerSpec, 0, n)
	placing := make([]placeRequest, 0, n)
	for i := 0; i < n; i++ {
		name := req.Name
		if n > 1 {
			name = fmt.Sprintf("%s-%d", req.Name, i+1)
		}
		pr := preq.forServer(ids[i], hints)
		s, spec, err := b.createOne(ctx, req, flavor, nets, ids[i], name, pr)
		if err != nil {
			// Undo the servers already made by this request, and the quota
			// of those not made.
			for _, m := range made {
				b.rollback(context.WithoutCancel(ctx), m, true)
			}
			for j := i; j < n; j++ {
				b.unreserve(context.WithoutCancel(ctx), req.ProjectID, flavor.VCPUs, flavor.RAMMB)
			}
			return nil, err
		}
		made = append(made, s)
		specs = append(specs, spec)
		placing = append(placing, pr)
		if hints != nil && s.Routing.Host != "" { // later members of this request see this one
			hints.Hosts = append(hints.Hosts, s.Routing.Cloud+"/"+s.Routing.Host)
		}
	}
	// Servers with no valid host are already ERROR; the others build, in
	// one batch call where their cloud has one (batchbuild.go).
	b.startCreateBuilds(ctx, req.Caller, made, specs, placing)
	return made, nil
}

func flavorUsable(f *registry.Flavor, c Caller) bool {
	if f.IsPublic || c.IsAdmin {
		return true
	}
	for _, p := range f.Projects {
		if p == c.ProjectID {
			return true
		}
	}
	return false
}

// checkImage checks the image against the flavor and returns its
// properties (the scheduler matches them against the hosts).
func (b *Broker) checkImage(ctx context.Context, req CreateRequest, f *registry.Flavor) (map[string]string, error) {
	const op = "CreateServers"
	img, err := b.images.VisibleImage(ctx, req.ProjectID, req.IsAdmin, req.ImageID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, invalid(op, "Image %s could not be found.", req.ImageID)
	}
	if err != nil {
		return nil, err
	}
	if img.Status != "active" {
		return nil, invalid(op, "Image %s is not active.", req.ImageID)
	}
	if f.DiskGB > 0 && img.MinDisk > f.DiskGB {
		return nil, invalid(op, "Flavor's disk is too small for requested image. Flavor disk is %d bytes, image is %d bytes.",
			int64(f.DiskGB)<<30, int64(img.MinDisk)<<30)
	}
	if img.MinRAM > f.RAMMB {
		return nil, invalid(op, "Flavor's memory is too small for requested image.")
	}
	return img.Properties, nil
}

// resolveNetworks turns "auto" into the project's one network (Nova's
// behaviour when several would fit is a 409 asking for a choice).
func (b *Broker) resolveNetworks(ctx context.Context, req CreateRequest) ([]NetworkRequest, error) {
	if !req.AutoNetwork {
		return req.Networks, nil
	}
	nets, err := b.ports.ProjectNetworks(ctx, req.ProjectID)
	if err != nil {
		return nil, err
	}
	switch len(nets) {
	case 0:
		return nil, nil
	case 1:
		return []NetworkRequest{{NetworkID: nets[0].ID}}, nil
	}
	return nil, conflict("CreateServers", "Multiple possible networks found, use a Network ID to be more specific.")
}

// createOne places, records and wires one server. A placement failure is
// recorded as an ERROR server with Nova's fault (as Nova does); any other
// failure undoes every step and returns the error.
func (b *Broker) createOne(ctx context.Context, req CreateRequest, f *registry.Flavor, nets []NetworkRequest, id, name string, pr placeRequest) (*registry.Server, proxies.ServerSpec, error) {
	now := b.opts.Now()
	pf := pr.req.Flavor
	s := &registry.Server{
		ID: id, ProjectID: req.ProjectID, UserID: req.UserID, Name: name, Description: req.Description,
		PowerState: int(proxies.PowerNoState), Flavor: pf, ImageID: req.ImageID, KeyName: req.KeyName,
		UserData: req.UserData, Metadata: req.Metadata, Tags: req.Tags, AvailabilityZone: req.AvailabilityZone,
		SecurityGroups: req.SecurityGroups, AccessIPv4: req.AccessIPv4, AccessIPv6: req.AccessIPv6,
		DiskConfig: req.DiskConfig, ServerGroupID: req.ServerGroupID, Created: now,
	}
	if s.Metadata == nil {
		s.Metadata = map[string]string{}
	}
	if req.ConfigDrive {
		s.ConfigDrive = "True"
	}
	spec := proxies.ServerSpec{
		ID: id, ProjectID: req.ProjectID, Name: name, Flavor: pf, ImageID: req.ImageID,
		KeyName: req.KeyName, PublicKey: req.PublicKey, Metadata: s.Metadata,
	}
	if req.UserData != "" {
		spec.UserData = []byte(req.UserData)
	}

	place, perr := pr.place(ctx, b)
	if perr != nil {
		if !errors.Is(perr, scheduler.ErrNoValidHost) && !errors.Is(perr, proxies.ErrCapacity) {
			b.unreserve(context.WithoutCancel(ctx), req.ProjectID, f.VCPUs, f.RAMMB)
			return nil, spec, perr
		}
		setState(s, "error", "", now)
		s.Fault = &registry.Fault{Code: 500, Message: noValidHost, Details: pr.unmet, Created: now}
		s.Routing = registry.Routing{State: registry.RoutingError}
		if err := b.servers.Create(ctx, req.ProjectID, id, now, s); err != nil {
			b.unreserve(context.WithoutCancel(ctx), req.ProjectID, f.VCPUs, f.RAMMB)
			return nil, spec, err
		}
		return s, spec, nil
	}
	if s.AvailabilityZone == "" {
		s.AvailabilityZone = place.AvailabilityZone
	}
	spec.Host, spec.AvailabilityZone = place.Host, s.AvailabilityZone
	setState(s, "building", "networking", now)
	s.Routing = registry.Routing{State: registry.RoutingBuilding, Cloud: place.Cloud, Host: place.Host}
	if err := b.servers.Create(ctx, req.ProjectID, id, now, s); err != nil {
		b.placer.Release(context.WithoutCancel(ctx), id)
		b.unreserve(context.WithoutCancel(ctx), req.ProjectID, f.VCPUs, f.RAMMB)
		return nil, spec, err
	}

	if req.BootVolume != nil {
		if err := b.attachBootVolume(ctx, req, s, &spec); err != nil {
			b.rollback(context.WithoutCancel(ctx), s, true)
			return nil, spec, err
		}
	}
	addrs, nics, err := b.allocatePorts(ctx, req.ProjectID, id, nets)
	if err != nil {
		b.rollback(context.WithoutCancel(ctx), s, true)
		return nil, spec, err
	}
	spec.NICs = nics
	if err := b.checkServerNICs(ctx, place.Cloud, req.ProjectID, nics); err != nil {
		b.rollback(context.WithoutCancel(ctx), s, true)
		return nil, spec, err
	}
	s, err = b.servers.Update(ctx, req.ProjectID, id, func(cur *registry.Server) error {
		cur.Addresses = addrs
		setState(cur, cur.VMState, "spawning", cur.Updated)
		return nil
	})
	if err != nil {
		b.rollback(context.WithoutCancel(ctx), &registry.Server{ID: id, ProjectID: req.ProjectID, Flavor: pf}, true)
		return nil, spec, err
	}
	return s, spec, nil
}

// allocatePorts creates or binds one port per network request.
func (b *Broker) allocatePorts(ctx context.Context, project, serverID string, nets []NetworkRequest) ([]registry.ServerAddress, []proxies.NIC, error) {
	var addrs []registry.ServerAddress
	var nics []proxies.NIC
	for _, nr := range nets {
		var pt *registry.Port
		var nw *registry.Network
		var err error
		if nr.PortID != "" {
			pt, nw, err = b.ports.BindPort(ctx, project, nr.PortID, serverID)
			if errors.Is(err, registry.ErrNotFound) {
				return nil, nil, invalid("CreateServers", "Port %s could not be found.", nr.PortID)
			}
		} else {
			pt, nw, err = b.ports.CreateServerPort(ctx, project, nr.NetworkID, nr.FixedIP, serverID)
			if errors.Is(err, registry.ErrNotFound) {
				return nil, nil, invalid("CreateServers", "Network %s could not be found.", nr.NetworkID)
			}
		}
		if err != nil {
			return nil, nil, err
		}
		nic := proxies.NIC{PortID: pt.ID, NetworkID: nw.ID, MACAddress: pt.MACAddress}
		for _, ip := range pt.FixedIPs {
			v := 4
			if strings.Contains(ip.IPAddress, ":") {
				v = 6
			}
			addrs = append(addrs, registry.ServerAddress{
				NetworkID: nw.ID, NetworkName: nw.Name, PortID: pt.ID, Addr: ip.IPAddress, Version: v, MAC: pt.MACAddress, Type: "fixed",
			})
			nic.FixedIPs = append(nic.FixedIPs, ip.IPAddress)
		}
		nics = append(nics, nic)
	}
	return addrs, nics, nil
}

// rollback undoes a server that never reached its backend: ports, claim,
// quota and (with drop) the record itself. Every step is idempotent.
func (b *Broker) rollback(ctx context.Context, s *registry.Server, drop bool) {
	b.releaseVolumes(ctx, s)
	if err := b.ports.ReleaseServerPorts(ctx, s.ProjectID, s.ID); err != nil {
		b.log.Error("release ports", "server", s.ID, "err", err)
	}
	if err := b.placer.Release(ctx, s.ID); err != nil {
		b.log.Error("release claim", "server", s.ID, "err", err)
	}
	if drop {
		if err := b.unreserve(ctx, s.ProjectID, s.Flavor.VCPUs, s.Flavor.RAMMB); err != nil {
			b.log.Error("release quota", "server", s.ID, "err", err)
		}
		if err := b.servers.Delete(ctx, s.ProjectID, s.ID); err != nil && !errors.Is(err, registry.ErrNotFound) {
			b.log.Error("drop record", "server", s.ID, "err", err)
		}
	}
}
