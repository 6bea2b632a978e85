package vmware

import (
	"context"
	"errors"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// TestZonesAndDatastoreCluster: a cluster and a resource pool are two
// zones (servers land in the pool of their zone), and a datastore cluster
// resolves to its datastore.
func TestZonesAndDatastoreCluster(t *testing.T) {
	s := newSimWith(t, func(m *simulator.Model) { m.Pool, m.Pod = 1, 1 })
	ctx := t.Context()
	probe := s.backend(t, nil)
	pod, err := find.NewFinder(probe.vc).SetDatacenter(probe.dc).DatastoreCluster(ctx, "DC0_POD0")
	if err != nil {
		t.Fatalf("the simulator has no datastore cluster: %v", err)
	}
	if err := runTask(ctx, "test", func(ctx context.Context) (*object.Task, error) {
		return pod.MoveInto(ctx, []types.ManagedObjectReference{probe.ds.Reference()})
	}); err != nil {
		t.Fatalf("move LocalDS_0 into DC0_POD0: %v", err)
	}
	b := s.backend(t, func(c *Config) {
		c.Datastore = "DC0_POD0"
		c.Clusters = []Cluster{{Path: "DC0_C0", AvailabilityZone: "az-a"}, {Path: "/DC0/host/DC0_C0/Resources/DC0_C0_RP1", AvailabilityZone: "az-b"}}
	})
	if b.ds.Reference() != probe.ds.Reference() {
		t.Errorf("datastore cluster resolved to %v; want its datastore %v", b.ds.Reference(), probe.ds.Reference())
	}
	hosts, err := b.Inventory().Hosts(ctx)
	if err != nil || len(hosts) != 2 || hosts[0].AvailabilityZone != "az-a" || hosts[1].AvailabilityZone != "az-b" || hosts[0].Name == hosts[1].Name {
		t.Fatalf("Hosts = %+v, %v; want one per zone", hosts, err)
	}
	withImage(t, b)
	spec := serverSpec("77777777-0000-4000-8000-000000000001")
	spec.AvailabilityZone = "az-b"
	st, err := b.Servers().CreateServer(ctx, spec)
	if err != nil {
		t.Fatalf("CreateServer in az-b: %v", err)
	}
	if st.Host != hosts[1].Name {
		t.Errorf("server host = %q; want zone az-b's %q", st.Host, hosts[1].Name)
	}
	_, m, _ := b.findVM(ctx, "test", spec.ID)
	if m.ResourcePool == nil || *m.ResourcePool != b.zones[1].pool.Reference() {
		t.Errorf("VM is in pool %v; want az-b's pool %v", m.ResourcePool, b.zones[1].pool.Reference())
	}
	spec.ID, spec.AvailabilityZone = "77777777-0000-4000-8000-000000000002", "mars"
	if _, err := b.Servers().CreateServer(ctx, spec); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateServer in an unknown zone = %v; want ErrInvalid", err)
	}
}

// TestVLANs gives each created port group its own VLAN of the range and
// answers ErrCapacity when the range is used up.
func TestVLANs(t *testing.T) {
	s := newSim(t)
	b := s.backend(t, func(c *Config) { c.VLANs = &VLANRange{Min: 100, Max: 101} })
	ctx := t.Context()
	vlans := map[int32]bool{}
	for _, id := range []string{"88888888-0000-4000-8000-00000000000a", "88888888-0000-4000-8000-00000000000b"} {
		if _, err := b.Networks().EnsureNetwork(ctx, proxies.NetworkSpec{ID: id}); err != nil {
			t.Fatalf("EnsureNetwork: %v", err)
		}
		net, err := b.portGroup(ctx, "test", id)
		if err != nil {
			t.Fatal(err)
		}
		var pg mo.DistributedVirtualPortgroup
		if err := net.(*object.DistributedVirtualPortgroup).Properties(ctx, net.Reference(), []string{"config.defaultPortConfig"}, &pg); err != nil {
			t.Fatal(err)
		}
		v := pg.Config.DefaultPortConfig.(*types.VMwareDVSPortSetting).Vlan.(*types.VmwareDistributedVirtualSwitchVlanIdSpec).VlanId
		if v < 100 || v > 101 || vlans[v] {
			t.Errorf("network %s got VLAN %d; want a free one of 100-101 (taken: %v)", id, v, vlans)
		}
		vlans[v] = true
	}
	if _, err := b.Networks().EnsureNetwork(ctx, proxies.NetworkSpec{ID: "88888888-0000-4000-8000-00000000000c"}); !errors.Is(err, proxies.ErrCapacity) {
		t.Errorf("EnsureNetwork with the VLAN range used up = %v; want ErrCapacity", err)
	}
	if err := b.Networks().DeleteNetwork(ctx, "88888888-0000-4000-8000-00000000000a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Networks().EnsureNetwork(ctx, proxies.NetworkSpec{ID: "88888888-0000-4000-8000-00000000000c"}); err != nil {
		t.Errorf("EnsureNetwork after a network freed its VLAN = %v", err)
	}
}
