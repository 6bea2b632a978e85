package vmware

import (
	"context"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// inventory is the Backend's InventoryDriver.
type inventory Backend

// Hosts reports one pseudo-host per configured cluster: CPU threads and
// memory of its connected hosts that are not in maintenance, and the
// datastore's capacity.
func (d *inventory) Hosts(ctx context.Context) ([]proxies.Host, error) {
	const op = "Hosts"
	b := (*Backend)(d)
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	pc := property.DefaultCollector(b.vc)
	var ds mo.Datastore
	if err := pc.RetrieveOne(ctx, b.ds.Reference(), []string{"summary"}, &ds); err != nil {
		return nil, wrapErr(op, err)
	}
	out := make([]proxies.Host, 0, len(b.zones))
	for _, z := range b.zones {
		var cr mo.ComputeResource
		if err := pc.RetrieveOne(ctx, z.compute, []string{"host"}, &cr); err != nil {
			return nil, wrapErr(op, err)
		}
		var hosts []mo.HostSystem
		if len(cr.Host) > 0 {
			if err := pc.Retrieve(ctx, cr.Host, []string{"summary.hardware", "runtime"}, &hosts); err != nil {
				return nil, wrapErr(op, err)
			}
		}
		out = append(out, zoneHost(z, hosts, ds.Summary, b.cfg.Datastore))
	}
	return out, nil
}

// zoneHost sums a zone's usable hosts into its pseudo-host.
func zoneHost(z zone, hosts []mo.HostSystem, ds types.DatastoreSummary, dsName string) proxies.Host {
	h := proxies.Host{
		Name: z.host, AvailabilityZone: z.az, HypervisorType: "VMware vCenter Server", Enabled: true,
		DiskGB: int(ds.Capacity >> 30),
		Labels: map[string]string{"vsphere.datastore": dsName},
	}
	for _, hs := range hosts {
		if hs.Runtime.InMaintenanceMode || hs.Runtime.ConnectionState != types.HostSystemConnectionStateConnected || hs.Summary.Hardware == nil {
			continue
		}
		h.Up = true
		h.VCPUs += int(hs.Summary.Hardware.NumCpuThreads)
		h.RAMMB += int(hs.Summary.Hardware.MemorySize >> 20)
	}
	if !ds.Accessible {
		h.Up = false
	}
	return h
}
