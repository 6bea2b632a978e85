package vmware_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/aggregates"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/app/apptest"
	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/proxies/vmware"
)

// benchServers is how many servers BenchmarkGatewayVsGovmomi makes each way.
const benchServers = 100

// BenchmarkGatewayVsGovmomi (issue 5) makes 100 servers on the vCenter
// simulator two ways and reports the seconds of each and their ratio:
//
//   - gateway: 100 creates through the Nova API (gophercloud, 8 clients) of
//     a whole gateway over the vSphere backend, waiting until all are
//     ACTIVE, then 100 deletes, waiting until none is listed;
//   - govmomi: the same 100 VMs with govmomi directly, all at once, as the
//     broker builds them: clone the same template with the same placement,
//     power on; then power off and destroy.
//
// The gateway path does more than the bare clone (find-by-tag before the
// clone, disk and NIC reconfiguration, a port group per network, the
// canopy.built marker, polling until ACTIVE, the registry), so the ratio is
// the whole cost of the federation layer on this cloud.
func BenchmarkGatewayVsGovmomi(b *testing.B) {
	ctx := b.Context()
	cfg, stop, err := vmware.DevSim(ctx, apptest.DevImageIDs()...)
	if err != nil {
		b.Fatalf("DevSim: %v", err)
	}
	b.Cleanup(stop)
	be, err := vmware.New(ctx, "vsphere", cfg, apptest.Log())
	if err != nil {
		b.Fatalf("vmware.New: %v", err)
	}
	b.Cleanup(func() { _ = be.Close() })
	hosts, err := be.Inventory().Hosts(ctx)
	if err != nil || len(hosts) == 0 {
		b.Fatalf("Hosts = %v, %v", hosts, err)
	}
	zone := hosts[0].AvailabilityZone
	g := apptest.StartWith(b, apptest.Options{ComputeQuota: apptest.UnlimitedQuota}, be)
	overcommit(b, g, hosts[0].Name)
	pw, err := config.Secret(cfg.PasswordFrom)
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		b.Fatal(err)
	}
	u.User = url.UserPassword(cfg.Username, pw)
	vc, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		b.Fatalf("govmomi client: %v", err)
	}
	finder := find.NewFinder(vc.Client, true)
	tmpl, err := finder.VirtualMachine(ctx, cfg.Templates[apptest.DevImageIDs()[0]])
	if err != nil {
		b.Fatalf("template: %v", err)
	}
	pool, err := finder.ResourcePool(ctx, "/DC0/host/"+cfg.Clusters[0].Path+"/Resources")
	if err != nil {
		b.Fatalf("resource pool: %v", err)
	}
	ds, err := finder.Datastore(ctx, "/DC0/datastore/"+cfg.Datastore)
	if err != nil {
		b.Fatalf("datastore: %v", err)
	}
	folder, err := finder.Folder(ctx, "/DC0/vm")
	if err != nil {
		b.Fatalf("folder: %v", err)
	}

	// [0] the creates (until all are ACTIVE or powered on), [1] the deletes.
	var viaGateway, direct [2]time.Duration
	for b.Loop() {
		t0 := time.Now()
		ids := g.CreateServers(b, benchServers, 8, "bench", zone)
		g.WaitActive(b, ids, 3*time.Minute)
		t1 := time.Now()
		g.DeleteServers(b, ids, 3*time.Minute)
		t2 := time.Now()
		vms := cloneMany(b, tmpl, folder, pool.Reference(), ds.Reference())
		t3 := time.Now()
		destroyAll(b, vms)
		t4 := time.Now()
		viaGateway[0], viaGateway[1] = viaGateway[0]+t1.Sub(t0), viaGateway[1]+t2.Sub(t1)
		direct[0], direct[1] = direct[0]+t3.Sub(t2), direct[1]+t4.Sub(t3)
	}
	n := float64(b.N)
	gw, dir := (viaGateway[0] + viaGateway[1]).Seconds(), (direct[0] + direct[1]).Seconds()
	b.ReportMetric(gw/n, "gateway-s")
	b.ReportMetric(dir/n, "govmomi-s")
	b.ReportMetric(gw/dir, "gateway/govmomi")
	b.ReportMetric(viaGateway[0].Seconds()/n, "gateway-create-s")
	b.ReportMetric(direct[0].Seconds()/n, "govmomi-create-s")
	if left, err := finder.VirtualMachineList(ctx, "/DC0/vm/"+cfg.Folder+"/canopy-*"); err == nil && len(left) > 0 {
		b.Errorf("%d canopy VMs left in the simulator after the deletes", len(left))
	}
}

// overcommit puts host in an aggregate whose allocation ratios let 100
// m1.tiny servers fit: the simulator's cluster has 6 threads and 12 GB,
// room for 36 at Nova's default ratios (16 vCPU and 1.5 RAM per unit).
func overcommit(b *testing.B, g *apptest.Gateway, host string) {
	b.Helper()
	ctx := b.Context()
	admin := g.AdminNova(b)
	agg, err := aggregates.Create(ctx, admin, aggregates.CreateOpts{Name: "bench-overcommit"}).Extract()
	if err != nil {
		b.Fatalf("create aggregate: %v", err)
	}
	if _, err := aggregates.AddHost(ctx, admin, agg.ID, aggregates.AddHostOpts{Host: host}).Extract(); err != nil {
		b.Fatalf("add host %s to the aggregate: %v", host, err)
	}
	if _, err := aggregates.SetMetadata(ctx, admin, agg.ID, aggregates.SetMetadataOpts{Metadata: map[string]any{
		"cpu_allocation_ratio": "32", "ram_allocation_ratio": "8"}}).Extract(); err != nil {
		b.Fatalf("set the aggregate's allocation ratios: %v", err)
	}
}

// cloneMany clones tmpl benchServers times at once, powers each clone on
// and returns them, failing b on any error.
func cloneMany(b *testing.B, tmpl *object.VirtualMachine, folder *object.Folder, pool, ds types.ManagedObjectReference) []*object.VirtualMachine {
	b.Helper()
	ctx := b.Context()
	vms := make([]*object.VirtualMachine, benchServers)
	each(b, func(i int) error {
		task, err := tmpl.Clone(ctx, folder, fmt.Sprintf("direct-%d", i), types.VirtualMachineCloneSpec{
			Location: types.VirtualMachineRelocateSpec{Pool: &pool, Datastore: &ds},
			Config:   &types.VirtualMachineConfigSpec{NumCPUs: 1, MemoryMB: 512},
		})
		if err != nil {
			return err
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return err
		}
		vms[i] = object.NewVirtualMachine(tmpl.Client(), info.Result.(types.ManagedObjectReference))
		return waitTask(ctx, vms[i].PowerOn)
	})
	return vms
}

// destroyAll powers off and destroys every one of vms at once.
func destroyAll(b *testing.B, vms []*object.VirtualMachine) {
	b.Helper()
	ctx := b.Context()
	each(b, func(i int) error {
		if err := waitTask(ctx, vms[i].PowerOff); err != nil {
			return err
		}
		return waitTask(ctx, vms[i].Destroy)
	})
}

// each runs f(0…benchServers-1) concurrently and fails b with the errors.
func each(b *testing.B, f func(i int) error) {
	b.Helper()
	errs := make([]error, benchServers)
	var wg sync.WaitGroup
	for i := range benchServers {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			b.Fatalf("VM %d: %v", i, err)
		}
	}
}

func waitTask(ctx context.Context, start func(context.Context) (*object.Task, error)) error {
	task, err := start(ctx)
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}
