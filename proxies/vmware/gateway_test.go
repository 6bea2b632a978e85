package vmware_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/mo"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/app/apptest"
	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/proxies/vmware"
)

// TestGatewayBootsOnVSphere runs the gateway itself (app.New with the
// vSphere backend over the simulator), creates a server through the Nova API
// with gophercloud in the backend's availability zone, and checks the VM in
// the simulator: named and tagged with the top id. Then it deletes it.
func TestGatewayBootsOnVSphere(t *testing.T) {
	// mapped: the dev images are mapped to simulator VMs as templates;
	// imported: nothing is mapped and the broker imports the image bytes.
	for _, mapped := range []bool{true, false} {
		name := "imported_by_broker"
		if mapped {
			name = "mapped_templates"
		}
		t.Run(name, func(t *testing.T) { bootOnVSphere(t, mapped) })
	}
}

func bootOnVSphere(t *testing.T, mapped bool) {
	ctx := t.Context()
	var ids []string
	if mapped {
		ids = apptest.DevImageIDs()
	}
	cfg, stop, err := vmware.DevSim(ctx, ids...)
	if err != nil {
		t.Fatalf("DevSim: %v", err)
	}
	t.Cleanup(stop)
	be, err := vmware.New(ctx, "vsphere", cfg, apptest.Log())
	if err != nil {
		t.Fatalf("vmware.New: %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	hosts, err := be.Inventory().Hosts(ctx)
	if err != nil || len(hosts) == 0 {
		t.Fatalf("Hosts = %v, %v", hosts, err)
	}
	zone := hosts[0].AvailabilityZone
	g := apptest.Start(t, be)
	srv := g.BootServer(t, "vm-on-vsphere", zone)

	vc := simClient(t, cfg)
	if !mapped {
		if _, err := find.NewFinder(vc.Client, true).VirtualMachine(ctx, "/DC0/vm/"+cfg.Folder+"/canopy-img-"+app.DevImages[0].ID); err != nil {
			t.Errorf("the broker did not import the image as a template: %v", err)
		}
	}
	vm, err := find.NewFinder(vc.Client, true).VirtualMachine(ctx, "/DC0/vm/"+cfg.Folder+"/canopy-"+srv.ID)
	if err != nil {
		t.Fatalf("the server's VM is not in the simulator: %v", err)
	}
	var m mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"config.extraConfig", "runtime.powerState", "config.hardware"}, &m); err != nil {
		t.Fatal(err)
	}
	if tag := extraValue(&m, "canopy.id"); tag != srv.ID {
		t.Errorf("VM extraConfig canopy.id = %q; want the top id %s", tag, srv.ID)
	}
	if m.Runtime.PowerState != "poweredOn" || m.Config.Hardware.NumCPU != 1 || m.Config.Hardware.MemoryMB != 512 {
		t.Errorf("VM power=%s cpus=%d mem=%d; want poweredOn, 1 CPU, 512 MB (m1.tiny)", m.Runtime.PowerState, m.Config.Hardware.NumCPU, m.Config.Hardware.MemoryMB)
	}

	g.DeleteServer(t, srv.ID)
	var nf *find.NotFoundError
	if _, err := find.NewFinder(vc.Client, true).VirtualMachine(ctx, "/DC0/vm/"+cfg.Folder+"/canopy-"+srv.ID); !errors.As(err, &nf) {
		t.Errorf("after delete the VM lookup = %v; want not found", err)
	}
}

// simClient is a govmomi client of its own on the simulator, to look at
// what the backend made.
func simClient(t *testing.T, cfg vmware.Config) *govmomi.Client {
	t.Helper()
	pw, err := config.Secret(cfg.PasswordFrom)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(cfg.Username, pw)
	c, err := govmomi.NewClient(t.Context(), u, true)
	if err != nil {
		t.Fatalf("govmomi client: %v", err)
	}
	t.Cleanup(func() { _ = c.Logout(context.WithoutCancel(t.Context())) })
	return c
}

func extraValue(m *mo.VirtualMachine, key string) string {
	for _, o := range m.Config.ExtraConfig {
		if ov := o.GetOptionValue(); ov.Key == key {
			s, _ := ov.Value.(string)
			return s
		}
	}
	return ""
}
