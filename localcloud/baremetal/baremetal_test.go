package baremetal_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bougou/go-ipmi/pkg/bmc"
	"github.com/bougou/go-ipmi/pkg/clock"
	"github.com/bougou/go-ipmi/pkg/hal/mock"
	"github.com/bougou/go-ipmi/pkg/server"
	"github.com/bougou/go-ipmi/pkg/transport/udp"
	"github.com/bougou/go-ipmi/pkg/types"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/localcloud/baremetal"
	"github.com/canopy-cloud/canopy/proxies"
)

// testPassword is the BMC password, given to the driver by reference.
const testPassword = "bmc-secret-7f3a"

// startBMC serves go-ipmi's reference BMC (in-process, over loopback UDP)
// and returns its address and mock chassis.
func startBMC(t *testing.T) (string, *mock.Chassis) {
	t.Helper()
	h := mock.New()
	b := bmc.New(bmc.DeviceInfo{DeviceID: 32, IPMIVersion: 0x20, ManufacturerID: 0x157, ProductID: 1}, [16]byte{'c', 'a', 'n', 'o', 'p', 'y'}, h, bmc.WithClock(clock.Real))
	u, err := b.Users.Add(2, "admin")
	if err != nil {
		t.Fatal(err)
	}
	u.SetPassword([]byte(testPassword))
	u.Enabled = true
	u.ChannelAccess[1] = bmc.UserChannelAccess{MaxPrivilege: bmc.PrivilegeLevelAdministrator, Enabled: true}
	conn, err := udp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.NewServer(b, conn)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); _ = srv.Close(); _ = conn.Close(); <-done })
	return conn.LocalAddr().String(), h.Chassis().(*mock.Chassis)
}

func secrets(m map[string]string) func(string) (string, error) {
	return func(ref string) (string, error) {
		if v, ok := m[ref]; ok {
			return v, nil
		}
		return "", fmt.Errorf("no secret %s", ref)
	}
}

func newMachine(t *testing.T, addr, password, iface string) *baremetal.Host {
	t.Helper()
	h, err := baremetal.New(localcloud.BareMetalConfig{
		Name: "bm-1", BMCAddress: addr, Username: "admin", PasswordFrom: "env:BMC_PASSWORD", Interface: iface,
		VCPUs: 16, RAMMB: 65536, DiskGB: 480, BootDevice: "pxe", CallTimeout: 2 * time.Second,
	}, baremetal.Options{Secret: secrets(map[string]string{"env:BMC_PASSWORD": password})})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestMachineLifecycleOverIPMI(t *testing.T) {
	for _, iface := range []string{"lanplus", "lan"} {
		t.Run(iface, func(t *testing.T) {
			addr, ch := startBMC(t)
			h := newMachine(t, addr, testPassword, iface)
			ctx := t.Context()
			inv, err := h.Inventory(ctx)
			if err != nil || !inv.Up || inv.HypervisorType != localcloud.HypervisorTypeIronic || inv.VCPUs != 16 {
				t.Fatalf("Inventory = %+v, %v; want an up ironic host of 16 vCPUs", inv, err)
			}
			spec := proxies.ServerSpec{ID: "11111111-2222-4333-8444-555555555555", ImageID: "img", Flavor: proxies.Flavor{ID: "bm", Name: "bm.large", VCPUs: 16, RAMMB: 65536, DiskGB: 480}}
			st, err := h.CreateDomain(ctx, spec)
			if err != nil || st.State != proxies.StateActive || !on(t, ch) {
				t.Fatalf("CreateDomain = %+v, %v (chassis on: %v); want active and powered on", st, err, on(t, ch))
			}
			if bf(t, ch) == nil || bf(t, ch).BootDeviceSelector != types.BootDeviceSelectorForcePXE || !bf(t, ch).Persist {
				t.Errorf("boot flags = %+v; want persistent PXE", bf(t, ch))
			}
			if again, err := h.CreateDomain(ctx, spec); err != nil || again.ID != st.ID {
				t.Errorf("CreateDomain retried = %+v, %v; want the same deployment", again, err)
			}
			other := spec
			other.ID = "99999999-2222-4333-8444-555555555555"
			if _, err := h.CreateDomain(ctx, other); !errors.Is(err, proxies.ErrCapacity) {
				t.Errorf("a second server on the machine = %v; want ErrCapacity", err)
			}
			if u, _ := h.Usage(ctx); u.VCPUs != 16 || u.RAMMB != 65536 {
				t.Errorf("Usage = %+v; want the whole machine", u)
			}
			if _, err := h.StartDomain(ctx, spec.ID); !errors.Is(err, proxies.ErrConflict) {
				t.Errorf("StartDomain of a running machine = %v; want ErrConflict", err)
			}
			if st, err := h.StopDomain(ctx, spec.ID); err != nil || st.State != proxies.StateStopped || on(t, ch) {
				t.Errorf("StopDomain = %+v, %v (chassis on: %v); want stopped and off", st, err, on(t, ch))
			}
			if st, err := h.RebootDomain(ctx, spec.ID, proxies.RebootHard); err != nil || st.State != proxies.StateActive || !on(t, ch) {
				t.Errorf("hard reboot of a stopped machine = %+v, %v; want it powered on", st, err)
			}
			if _, err := h.RebootDomain(ctx, spec.ID, proxies.RebootHard); err != nil || ch.ColdResets != 1 {
				t.Errorf("hard reboot of a running machine = %v, cold resets %d; want one reset", err, ch.ColdResets)
			}
			if _, err := h.ConsoleLog(ctx, spec.ID, 0); !errors.Is(err, proxies.ErrNotSupported) {
				t.Errorf("ConsoleLog = %v; want ErrNotSupported", err)
			}
			if _, err := h.SnapshotDomain(ctx, spec.ID, "snap"); !errors.Is(err, proxies.ErrNotSupported) {
				t.Errorf("SnapshotDomain = %v; want ErrNotSupported", err)
			}
			for i := range 2 {
				if err := h.DestroyDomain(ctx, spec.ID); err != nil {
					t.Fatalf("DestroyDomain #%d: %v", i+1, err)
				}
			}
			if on(t, ch) {
				t.Error("the machine is still powered on after delete")
			}
			if _, err := h.Domain(ctx, spec.ID); !errors.Is(err, proxies.ErrNotFound) {
				t.Errorf("Domain after delete = %v; want ErrNotFound", err)
			}
		})
	}
}

func TestWrongPasswordIsDownNotLeaked(t *testing.T) {
	addr, _ := startBMC(t)
	h := newMachine(t, addr, "wrong-password-x", "lanplus")
	inv, err := h.Inventory(t.Context())
	if err != nil || inv.Up {
		t.Fatalf("Inventory with a wrong password = %+v, %v; want the machine reported down", inv, err)
	}
	_, err = h.CreateDomain(t.Context(), proxies.ServerSpec{ID: "a", Flavor: proxies.Flavor{VCPUs: 1, RAMMB: 1, DiskGB: 1}})
	if !errors.Is(err, proxies.ErrUnavailable) {
		t.Fatalf("CreateDomain = %v; want ErrUnavailable", err)
	}
	for _, s := range []string{err.Error(), proxies.SafeMessage(err)} {
		if strings.Contains(s, "wrong-password-x") || strings.Contains(s, testPassword) {
			t.Errorf("an error shows the password: %q", s)
		}
	}
}

func TestEnrolmentErrors(t *testing.T) {
	_, err := baremetal.New(localcloud.BareMetalConfig{Name: "bm", BMCAddress: "127.0.0.1:623", Username: "u", PasswordFrom: "env:NOPE"},
		baremetal.Options{Secret: secrets(nil)})
	if err == nil {
		t.Error("an unresolvable password reference enrolled the machine")
	}
	if _, err := baremetal.New(localcloud.BareMetalConfig{Name: "bm", BMCAddress: "no-port"}, baremetal.Options{Secret: secrets(nil)}); err == nil {
		t.Error("a BMC address without a port enrolled the machine")
	}
}

// TestPoolWithMachine: a pool whose only host is the machine places a
// server on it and reports it as an ironic hypervisor.
func TestPoolWithMachine(t *testing.T) {
	addr, ch := startBMC(t)
	cfg := localcloud.DefaultConfig()
	cfg.SimulatedHosts = 0
	cfg.BareMetalHosts = []localcloud.BareMetalConfig{{Name: "bm-1", BMCAddress: addr, Username: "admin", PasswordFrom: "env:BMC_PASSWORD", VCPUs: 16, RAMMB: 65536, DiskGB: 480}}
	p, err := localcloud.New("local-bm", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sec := baremetal.Options{Secret: secrets(map[string]string{"env:BMC_PASSWORD": testPassword})}
	if ms, err := baremetal.AddToPool(p, cfg, sec); err != nil || len(ms) != 1 {
		t.Fatalf("AddToPool = %v, %v; want one machine", ms, err)
	}
	hosts, err := p.Inventory().Hosts(t.Context())
	if err != nil || len(hosts) != 1 || hosts[0].HypervisorType != "ironic" || !hosts[0].Up {
		t.Fatalf("Hosts = %+v, %v; want one up ironic host", hosts, err)
	}
	st, err := p.Servers().CreateServer(t.Context(), proxies.ServerSpec{ID: "33333333-2222-4333-8444-555555555555", ImageID: "img", Flavor: proxies.Flavor{ID: "bm", VCPUs: 8, RAMMB: 1024, DiskGB: 10}})
	if err != nil || st.Host != "bm-1" || !on(t, ch) {
		t.Fatalf("CreateServer = %+v, %v; want it on bm-1, powered on", st, err)
	}
	if err := p.Servers().DeleteServer(t.Context(), st.ID); err != nil || on(t, ch) {
		t.Fatalf("DeleteServer = %v (on: %v); want the machine off", err, on(t, ch))
	}
}

// on reads the mock chassis' power through its locked accessor (the BMC
// server writes it from its own goroutine).
func on(t *testing.T, ch *mock.Chassis) bool {
	v, _ := ch.PowerState(t.Context())
	return v
}

func bf(t *testing.T, ch *mock.Chassis) *types.BootOptionParam_BootFlags {
	f, _ := ch.GetBootFlags(t.Context())
	return f
}
