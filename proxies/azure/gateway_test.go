package azure_test

import (
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/app/apptest"
	"github.com/canopy-cloud/canopy/proxies/azure"
	"github.com/canopy-cloud/canopy/proxies/azure/armsim"
)

// TestGatewayBootsOnAzure runs the gateway itself (app.New with the Azure
// backend over the ARM simulator), creates a server through the Nova API
// with gophercloud in one of the backend's zones, and checks the VM in the
// simulator: tagged with the top id, its NIC on the private network's
// virtual network. Then it deletes it through the API and checks the VM is
// gone.
func TestGatewayBootsOnAzure(t *testing.T) {
	ctx := t.Context()
	cfg, sim, stop, err := azure.DevSim(ctx, armsim.Options{})
	if err != nil {
		t.Fatalf("DevSim: %v", err)
	}
	t.Cleanup(stop)
	be, err := azure.New(ctx, "azure", cfg, apptest.Log())
	if err != nil {
		t.Fatalf("azure.New: %v", err)
	}
	hosts, err := be.Inventory().Hosts(ctx)
	if err != nil || len(hosts) == 0 {
		t.Fatalf("Hosts = %v, %v", hosts, err)
	}
	zone := hosts[1].AvailabilityZone
	g := apptest.Start(t, be)
	srv := g.BootServer(t, "vm-on-azure", zone)

	vm := "canopy-" + srv.ID
	tags, ok := sim.VMTags()[vm]
	if !ok || tags["canopy-id"] != srv.ID {
		t.Fatalf("the simulator has no VM %s tagged canopy-id=%s (VMs: %v)", vm, srv.ID, sim.VMTags())
	}
	subnets := sim.VMSubnets(vm)
	if len(subnets) != 1 || !strings.Contains(subnets[0], "/virtualNetworks/canopy-net-"+g.PrivateNetwork+"/") {
		t.Errorf("the VM's NICs are on subnets %v; want one on the private network's virtual network", subnets)
	}

	g.DeleteServer(t, srv.ID)
	if _, ok := sim.VMTags()[vm]; ok {
		t.Errorf("after delete the simulator still has VM %s", vm)
	}
}
