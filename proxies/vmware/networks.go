package vmware

import (
	"context"
	"errors"
	"net/netip"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// networks is the Backend's NetworkDriver: a network is a port group.
type networks Backend

// portGroupName is the port group of network id: mapped, or the one Canopy
// creates on the distributed switch.
func (b *Backend) portGroupName(id string) (name string, mapped bool) {
	if pg, ok := b.cfg.NetworkMap[id]; ok {
		return pg, true
	}
	return b.cfg.PortGroupPrefix + id, false
}

// portGroup finds network id's port group.
func (b *Backend) portGroup(ctx context.Context, op, id string) (object.NetworkReference, error) {
	name, mapped := b.portGroupName(id)
	net, err := b.finder.Network(ctx, name)
	var nf *find.NotFoundError
	switch {
	case errors.As(err, &nf) && mapped:
		return nil, errorf(proxies.ErrInvalid, op, err, "network %s is mapped to port group %q, which vCenter does not have; fix vsphere.network_map", id, name)
	case errors.As(err, &nf):
		return nil, errorf(proxies.ErrNotFound, op, err, "network %s has no port group in cloud %s", id, b.name)
	case err != nil:
		return nil, wrapErr(op, err)
	}
	return net, nil
}

// EnsureNetwork finds the mapped port group or creates
// "<port_group_prefix><id>" on the configured distributed switch.
func (d *networks) EnsureNetwork(ctx context.Context, spec proxies.NetworkSpec) (proxies.NetworkStatus, error) {
	const op = "EnsureNetwork"
	b := (*Backend)(d)
	if err := validNetwork(op, spec); err != nil {
		return proxies.NetworkStatus{}, err
	}
	defer b.lockID(spec.ID)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	net, err := b.portGroup(ctx, op, spec.ID)
	if errors.Is(err, proxies.ErrNotFound) {
		if b.cfg.DVS == "" {
			return proxies.NetworkStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "network %s is not in vsphere.network_map and no vsphere.dvs is set to create its port group on", spec.ID)
		}
		if err = b.createPortGroup(ctx, op, spec); err != nil {
			return proxies.NetworkStatus{}, err
		}
		net, err = b.portGroup(ctx, op, spec.ID)
	}
	if err != nil {
		return proxies.NetworkStatus{}, err
	}
	return proxies.NetworkStatus{ID: spec.ID, BottomID: net.Reference().Value, Ready: true}, nil
}

func (b *Backend) createPortGroup(ctx context.Context, op string, spec proxies.NetworkSpec) error {
	sw, err := b.finder.Network(ctx, b.cfg.DVS)
	if err != nil {
		return inventoryErr(op, "dvs", b.cfg.DVS, err)
	}
	dvs, ok := sw.(*object.DistributedVirtualSwitch)
	if !ok {
		return proxies.Errorf(proxies.ErrInvalid, op, "vsphere.dvs: %q is not a distributed switch", b.cfg.DVS)
	}
	name, _ := b.portGroupName(spec.ID)
	pg := types.DVPortgroupConfigSpec{
		Name: name, Type: string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding), NumPorts: 8,
		Description: "Canopy network " + spec.ID + " (" + spec.Name + ")",
		AutoExpand:  types.NewBool(true),
	}
	b.vlanMu.Lock() // one allocation at a time in this process
	defer b.vlanMu.Unlock()
	if b.cfg.VLANs != nil {
		vlan, err := b.freeVLAN(ctx, op, dvs)
		if err != nil {
			return err
		}
		pg.DefaultPortConfig = &types.VMwareDVSPortSetting{Vlan: &types.VmwareDistributedVirtualSwitchVlanIdSpec{VlanId: vlan}}
	}
	err = runTask(ctx, op, func(ctx context.Context) (*object.Task, error) {
		return dvs.AddPortgroup(ctx, []types.DVPortgroupConfigSpec{pg})
	})
	if errors.Is(err, proxies.ErrConflict) { // made meanwhile
		return nil
	}
	return err
}

// DeleteNetwork removes a port group Canopy created; nil when it is gone or
// mapped (a mapped port group is not Canopy's). ErrConflict while VMs use it.
func (d *networks) DeleteNetwork(ctx context.Context, id string) error {
	const op = "DeleteNetwork"
	b := (*Backend)(d)
	if _, mapped := b.portGroupName(id); mapped {
		return nil
	}
	defer b.lockID(id)()
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	net, err := b.portGroup(ctx, op, id)
	if errors.Is(err, proxies.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	pg, ok := net.(*object.DistributedVirtualPortgroup)
	if !ok {
		return proxies.Errorf(proxies.ErrConflict, op, "port group of network %s is not a distributed port group Canopy made", id)
	}
	var m mo.DistributedVirtualPortgroup
	if err := pg.Properties(ctx, pg.Reference(), []string{"vm"}, &m); err != nil {
		return wrapErr(op, err)
	}
	if len(m.Vm) > 0 {
		return proxies.Errorf(proxies.ErrConflict, op, "network %s still has %d servers on it in cloud %s", id, len(m.Vm), b.name)
	}
	if err := runTask(ctx, op, pg.Destroy); err != nil && !errors.Is(err, proxies.ErrNotFound) {
		return err
	}
	return nil
}

// validNetwork refuses a spec no port group can realise.
func validNetwork(op string, spec proxies.NetworkSpec) error {
	if spec.ID == "" {
		return proxies.Errorf(proxies.ErrInvalid, op, "a network needs an id")
	}
	for _, sn := range spec.Subnets {
		if _, err := netip.ParsePrefix(sn.CIDR); err != nil {
			return errorf(proxies.ErrInvalid, op, err, "subnet %s has an invalid cidr %q", sn.ID, sn.CIDR)
		}
	}
	return nil
}

// freeVLAN is the lowest VLAN id of the configured range that no port group
// on the switch uses. Two gateways creating networks at the same instant
// can pick the same id; serialise network creation or give each gateway
// its own range.
func (b *Backend) freeVLAN(ctx context.Context, op string, dvs *object.DistributedVirtualSwitch) (int32, error) {
	var sw mo.DistributedVirtualSwitch
	if err := dvs.Properties(ctx, dvs.Reference(), []string{"portgroup"}, &sw); err != nil {
		return 0, wrapErr(op, err)
	}
	used := map[int32]bool{}
	if len(sw.Portgroup) > 0 {
		var pgs []mo.DistributedVirtualPortgroup
		if err := property.DefaultCollector(b.vc).Retrieve(ctx, sw.Portgroup, []string{"config.defaultPortConfig"}, &pgs); err != nil {
			return 0, wrapErr(op, err)
		}
		for _, pg := range pgs {
			if s, ok := pg.Config.DefaultPortConfig.(*types.VMwareDVSPortSetting); ok {
				if v, ok := s.Vlan.(*types.VmwareDistributedVirtualSwitchVlanIdSpec); ok {
					used[v.VlanId] = true
				}
			}
		}
	}
	for v := int32(b.cfg.VLANs.Min); v <= int32(b.cfg.VLANs.Max); v++ {
		if !used[v] {
			return v, nil
		}
	}
	return 0, proxies.Errorf(proxies.ErrCapacity, op, "every VLAN of vsphere.vlans (%d-%d) is in use on %s", b.cfg.VLANs.Min, b.cfg.VLANs.Max, b.cfg.DVS)
}
