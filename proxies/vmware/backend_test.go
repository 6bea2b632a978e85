package vmware

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"gopkg.in/yaml.v3"

	"github.com/canopy-cloud/canopy/proxies"
)

const testImageID = "7e0d0000-0000-4000-8000-0000000000aa"

// withImage imports the test image into b.
func withImage(t *testing.T, b *Backend) {
	t.Helper()
	if _, err := b.Images().ImportImage(t.Context(), imageSpec(testImageID, testImage), imageReader(testImage)); err != nil {
		t.Fatalf("ImportImage: %v", err)
	}
}

func serverSpec(id string) proxies.ServerSpec {
	return proxies.ServerSpec{ID: id, ProjectID: "p", Name: "web 1", ImageID: testImageID,
		Flavor: proxies.Flavor{ID: "f", VCPUs: 1, RAMMB: 512, DiskGB: 1}}
}

func TestConfigValidate(t *testing.T) {
	t.Setenv("CANOPY_TEST_VC_PW", "x")
	good := func() Config {
		return Config{URL: "https://vc.example.com/sdk", Username: "u", PasswordFrom: "env:CANOPY_TEST_VC_PW",
			Datacenter: "DC0", Clusters: []Cluster{{Path: "C0", AvailabilityZone: "a"}}, Datastore: "ds"}
	}
	cases := []struct {
		name  string
		edit  func(*Config)
		field string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no url", func(c *Config) { c.URL = "" }, "vsphere.url"},
		{"credentials in url", func(c *Config) { c.URL = "https://u:p@vc/sdk" }, "vsphere.url"},
		{"inline password", func(c *Config) { c.PasswordFrom = "hunter2" }, "vsphere.password_from"},
		{"unset env", func(c *Config) { c.PasswordFrom = "env:CANOPY_NOT_SET_VC" }, "vsphere.password_from"},
		{"insecure and ca", func(c *Config) {
			c.Insecure, c.CAFile = true, filepath.Join(t.TempDir(), "ca.pem")
			_ = os.WriteFile(c.CAFile, []byte("x"), 0o600)
		}, "vsphere.insecure"},
		{"missing ca", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, "vsphere.ca_file"},
		{"no clusters", func(c *Config) { c.Clusters = nil }, "vsphere.clusters"},
		{"zone twice", func(c *Config) { c.Clusters = append(c.Clusters, Cluster{Path: "C1", AvailabilityZone: "a"}) }, "availability_zone"},
		{"no datastore", func(c *Config) { c.Datastore = "" }, "vsphere.datastore"},
		{"vlans without dvs", func(c *Config) { c.VLANs = &VLANRange{Min: 1, Max: 2} }, "vsphere.vlans"},
		{"vlans upside down", func(c *Config) { c.DVS, c.VLANs = "DVS0", &VLANRange{Min: 200, Max: 100} }, "vsphere.vlans"},
		{"vlans in range", func(c *Config) { c.DVS, c.VLANs = "DVS0", &VLANRange{Min: 100, Max: 199} }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good()
			c.edit(&cfg)
			err := cfg.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v; want nil", err)
				}
				if cfg.Folder != "canopy" || cfg.CallTimeout <= 0 {
					t.Errorf("defaults not set: folder %q timeout %v", cfg.Folder, cfg.CallTimeout)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("Validate = %v; want an error naming %s", err, c.field)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error prints the inline secret: %v", err)
			}
		})
	}
}

// TestCreateIsIdempotent creates the same top id twice in a row and twice
// at once, and counts the VMs in the simulator.
func TestCreateIsIdempotent(t *testing.T) {
	s := newSim(t)
	b := s.backend(t, nil)
	withImage(t, b)
	ctx := t.Context()
	id := "11111111-0000-4000-8000-000000000001"
	first, err := b.Servers().CreateServer(ctx, serverSpec(id))
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	again, err := b.Servers().CreateServer(ctx, serverSpec(id))
	if err != nil || again.BottomID != first.BottomID {
		t.Fatalf("retried CreateServer = %+v, %v; want %s", again, err, first.BottomID)
	}
	// A second backend (another gateway process) retries too.
	other := s.backend(t, nil)
	if st, err := other.Servers().CreateServer(ctx, serverSpec(id)); err != nil || st.BottomID != first.BottomID {
		t.Fatalf("CreateServer from a second backend = %+v, %v; want %s", st, err, first.BottomID)
	}
	if n := s.countVMs(vmName(id)); n != 1 {
		t.Errorf("the simulator has %d VMs named %s; want 1", n, vmName(id))
	}

	id2 := "11111111-0000-4000-8000-000000000002"
	var wg sync.WaitGroup
	bottoms := make([]string, 4)
	errs := make([]error, 4)
	for i := range 4 {
		wg.Go(func() {
			be := b
			if i%2 == 1 {
				be = other
			}
			st, err := be.Servers().CreateServer(ctx, serverSpec(id2))
			bottoms[i], errs[i] = st.BottomID, err
		})
	}
	wg.Wait()
	for i := range 4 {
		if errs[i] != nil || bottoms[i] != bottoms[0] {
			t.Errorf("concurrent create #%d = %s, %v; want %s", i, bottoms[i], errs[i], bottoms[0])
		}
	}
	if n := s.countVMs(vmName(id2)); n != 1 {
		t.Errorf("after concurrent creates the simulator has %d VMs named %s; want 1", n, vmName(id2))
	}
	if n := s.countVMs(imagePrefix + testImageID); n != 1 {
		t.Errorf("the simulator has %d templates of the image; want 1", n)
	}
}

// TestServerMapping checks what a server becomes: flavor, disk, NICs with
// their MACs on the right port groups, guestinfo for cloud-init.
func TestServerMapping(t *testing.T) {
	s := newSim(t)
	mappedNet, dvsNet := "22222222-0000-4000-8000-00000000000a", "22222222-0000-4000-8000-00000000000b"
	b := s.backend(t, func(c *Config) { c.NetworkMap = map[string]string{mappedNet: "VM Network"} })
	withImage(t, b)
	ctx := t.Context()
	for _, n := range []string{mappedNet, dvsNet} {
		if _, err := b.Networks().EnsureNetwork(ctx, proxies.NetworkSpec{ID: n, Name: "n"}); err != nil {
			t.Fatalf("EnsureNetwork(%s): %v", n, err)
		}
	}
	spec := serverSpec("22222222-0000-4000-8000-000000000001")
	spec.Flavor = proxies.Flavor{ID: "m", VCPUs: 2, RAMMB: 2048, DiskGB: 10}
	spec.UserData = []byte("#cloud-config\nhostname: x\n")
	spec.PublicKey = "ssh-ed25519 AAAA test@canopy"
	spec.NICs = []proxies.NIC{
		{PortID: "port-a", NetworkID: mappedNet, MACAddress: "fa:16:3e:00:00:0a"},
		{PortID: "port-b", NetworkID: dvsNet, MACAddress: "fa:16:3e:00:00:0b"},
	}
	if _, err := b.Servers().CreateServer(ctx, spec); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	vm, m, err := b.findVM(ctx, "test", spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Hardware.NumCPU != 2 || m.Config.Hardware.MemoryMB != 2048 {
		t.Errorf("VM has %d CPUs, %d MB; want 2, 2048", m.Config.Hardware.NumCPU, m.Config.Hardware.MemoryMB)
	}
	devices, _ := vm.Device(ctx)
	disks := devices.SelectByType((*types.VirtualDisk)(nil))
	if len(disks) == 0 || disks[0].(*types.VirtualDisk).CapacityInKB < 10<<20 {
		t.Errorf("root disk = %v; want at least 10 GB", disks)
	}
	cards := devices.SelectByType((*types.VirtualEthernetCard)(nil))
	macs := map[string]string{}
	for _, c := range cards {
		card := c.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		macs[card.MacAddress] = devices.Name(c)
		if card.AddressType != string(types.VirtualEthernetCardMacTypeManual) {
			t.Errorf("card %s has MAC type %s; want manual", card.MacAddress, card.AddressType)
		}
		switch bk := card.Backing.(type) {
		case *types.VirtualEthernetCardNetworkBackingInfo:
			if card.MacAddress != "fa:16:3e:00:00:0a" || bk.DeviceName != "VM Network" {
				t.Errorf("card %s is on %q; want the mapped VM Network", card.MacAddress, bk.DeviceName)
			}
		case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
			if card.MacAddress != "fa:16:3e:00:00:0b" {
				t.Errorf("card %s is on the DVS; want only the created port group's NIC there", card.MacAddress)
			}
		}
	}
	if len(cards) != 2 || macs["fa:16:3e:00:00:0a"] == "" || macs["fa:16:3e:00:00:0b"] == "" {
		t.Errorf("VM cards = %v; want exactly the two NICs with their MACs (the template's NICs removed)", macs)
	}
	ud, _ := base64.StdEncoding.DecodeString(extra(m, "guestinfo.userdata"))
	if string(ud) != string(spec.UserData) || extra(m, "guestinfo.userdata.encoding") != "base64" {
		t.Errorf("guestinfo.userdata = %q; want the user data, base64", ud)
	}
	var md map[string]any
	raw, _ := base64.StdEncoding.DecodeString(extra(m, "guestinfo.metadata"))
	if err := json.Unmarshal(raw, &md); err != nil || md["instance-id"] != spec.ID || md["local-hostname"] != "web-1" {
		t.Errorf("guestinfo.metadata = %s, %v; want instance-id and hostname web-1", raw, err)
	}
	if keys, _ := md["public-keys"].([]any); len(keys) != 1 || keys[0] != spec.PublicKey {
		t.Errorf("metadata public-keys = %v; want the key", md["public-keys"])
	}
	if extra(m, keyID) != spec.ID || extra(m, keyNICPrefix+"port-b") != "fa:16:3e:00:00:0b" {
		t.Errorf("extraConfig lacks the top id or the port's MAC")
	}
}

// TestImportImage checks the raw disk upload and the refusal of qcow2.
func TestImportImage(t *testing.T) {
	s := newSim(t)
	b := s.backend(t, nil)
	ctx := t.Context()
	withImage(t, b)
	_, m, err := b.template(ctx, "test", testImageID)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Config.Template {
		t.Error("the imported image's VM is not a template")
	}
	f, err := b.ds.Stat(ctx, imageDir+"/"+imagePrefix+testImageID+"-flat.vmdk")
	if err != nil {
		t.Fatalf("the flat extent is not on the datastore: %v", err)
	}
	if size := f.GetFileInfo().FileSize; size != int64((len(testImage)+511)/512*512) {
		t.Errorf("flat extent is %d bytes; want the image padded to 512: %d", size, (len(testImage)+511)/512*512)
	}
	spec := imageSpec("7e0d0000-0000-4000-8000-0000000000bb", testImage)
	spec.DiskFormat = "iso"
	if _, err := b.Images().ImportImage(ctx, spec, imageReader(testImage)); !errors.Is(err, proxies.ErrNotSupported) {
		t.Errorf("ImportImage(iso) = %v; want ErrNotSupported", err)
	}
	if err := b.Images().DeleteImage(ctx, testImageID); err != nil {
		t.Fatalf("DeleteImage: %v", err)
	}
	if _, err := b.Images().GetImage(ctx, testImageID); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetImage after delete = %v; want ErrNotFound", err)
	}
}

// TestPowerAndResize covers the soft reboot without Tools, resize and NICs.
func TestPowerAndResize(t *testing.T) {
	s := newSim(t)
	b := s.backend(t, nil)
	withImage(t, b)
	ctx := t.Context()
	spec := serverSpec("33333333-0000-4000-8000-000000000001")
	if _, err := b.Servers().CreateServer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Servers().RebootServer(ctx, spec.ID, proxies.RebootSoft); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("SOFT reboot without VMware Tools = %v; want ErrConflict", err)
	}
	if _, err := b.Servers().RebootServer(ctx, spec.ID, proxies.RebootHard); err != nil {
		t.Errorf("HARD reboot = %v", err)
	}
	st, err := b.ResizeServer(ctx, spec.ID, proxies.Flavor{ID: "big", VCPUs: 4, RAMMB: 4096, DiskGB: 20})
	if err != nil || st.State != proxies.StateActive {
		t.Fatalf("ResizeServer = %+v, %v; want active", st, err)
	}
	_, m, _ := b.findVM(ctx, "test", spec.ID)
	if m.Config.Hardware.NumCPU != 4 || m.Config.Hardware.MemoryMB != 4096 {
		t.Errorf("after resize %d CPUs %d MB; want 4, 4096", m.Config.Hardware.NumCPU, m.Config.Hardware.MemoryMB)
	}
	disk := object.VirtualDeviceList(m.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
	if disk.CapacityInKB < 20<<20 {
		t.Errorf("after resize the disk is %d KB; want 20 GB", disk.CapacityInKB)
	}
	if _, err := b.Servers().StopServer(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if st, err := b.ResizeServer(ctx, spec.ID, proxies.Flavor{ID: "small", VCPUs: 1, RAMMB: 512, DiskGB: 1}); err != nil || st.State != proxies.StateStopped {
		t.Errorf("resize of a stopped server = %+v, %v; want it stopped", st, err)
	}

	net := "33333333-0000-4000-8000-00000000000a"
	if _, err := b.Networks().EnsureNetwork(ctx, proxies.NetworkSpec{ID: net}); err != nil {
		t.Fatal(err)
	}
	nic := proxies.NIC{PortID: "p1", NetworkID: net, MACAddress: "fa:16:3e:00:01:01"}
	for range 2 {
		if _, err := b.AttachNIC(ctx, spec.ID, nic); err != nil {
			t.Fatalf("AttachNIC: %v", err)
		}
	}
	vm, _, _ := b.findVM(ctx, "test", spec.ID)
	if n := countCards(t, vm, nic.MACAddress); n != 1 {
		t.Errorf("after two attaches the VM has %d cards with the MAC; want 1", n)
	}
	for range 2 {
		if err := b.DetachNIC(ctx, spec.ID, nic.PortID); err != nil {
			t.Fatalf("DetachNIC: %v", err)
		}
	}
	if n := countCards(t, vm, nic.MACAddress); n != 0 {
		t.Errorf("after detach the VM has %d cards with the MAC; want 0", n)
	}
}

func countCards(t *testing.T, vm *object.VirtualMachine, mac string) int {
	devices, err := vm.Device(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range devices.SelectByType((*types.VirtualEthernetCard)(nil)) {
		if c.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress == mac {
			n++
		}
	}
	return n
}

// TestErrorMapping: vSphere faults, as the SDK returns them (SOAP faults,
// task errors, wrapped causes), become the typed kinds.
func TestErrorMapping(t *testing.T) {
	soapFault := func(f types.BaseMethodFault) error {
		return soap.WrapSoapFault(&soap.Fault{Code: "ServerFaultCode", String: "x", Detail: struct {
			//lint:ignore SA5008 typeattr is govmomi's own XML option (its soap.Fault declares the same field)
			Fault types.AnyType `xml:",any,typeattr"`
		}{Fault: f}})
	}
	taskErr := func(f types.BaseMethodFault) error {
		return task.Error{LocalizedMethodFault: &types.LocalizedMethodFault{Fault: f, LocalizedMessage: "x"}}
	}
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"object gone", soapFault(&types.ManagedObjectNotFound{}), proxies.ErrNotFound},
		{"file gone in a task", taskErr(&types.FileNotFound{}), proxies.ErrNotFound},
		{"wrong power state", taskErr(&types.InvalidPowerState{}), proxies.ErrConflict},
		{"no tools", soapFault(&types.ToolsUnavailable{}), proxies.ErrConflict},
		{"duplicate name", taskErr(&types.DuplicateName{}), proxies.ErrConflict},
		{"no cpu", taskErr(&types.InsufficientCpuResourcesFault{}), proxies.ErrCapacity},
		{"no host", taskErr(&types.InsufficientHostCapacityFault{}), proxies.ErrCapacity},
		{"datastore full", taskErr(&types.NoDiskSpace{}), proxies.ErrCapacity},
		{"licence limit", soapFault(&types.NotEnoughLicenses{}), proxies.ErrQuota},
		{"bad argument", soapFault(&types.InvalidArgument{}), proxies.ErrInvalid},
		{"bad device", taskErr(&types.InvalidDeviceSpec{}), proxies.ErrInvalid},
		{"not supported", soapFault(&types.NotSupported{}), proxies.ErrNotSupported},
		{"session lost", soapFault(&types.NotAuthenticated{}), proxies.ErrUnavailable},
		{"deadline", context.DeadlineExceeded, proxies.ErrUnavailable},
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("refused")}, proxies.ErrUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := wrapErr("Op", c.err)
			if !errors.Is(err, c.want) {
				t.Errorf("wrapErr(%v) = %v; want %v", c.err, err, c.want)
			}
			var pe *proxies.Error
			if !errors.As(err, &pe) || pe.Cause != c.err || pe.Message == "" {
				t.Errorf("wrapErr = %#v; want an *Error with the raw cause and a safe message", err)
			}
		})
	}
}

// TestInjectedFaults: faults the simulator injects on the wire reach the
// caller as typed errors, and a slow vCenter hits the deadline.
func TestInjectedFaults(t *testing.T) {
	s := newSim(t)
	b := s.backend(t, func(c *Config) { c.CallTimeout = time.Second })
	withImage(t, b)
	ctx := t.Context()
	inject := func(method string, f types.BaseMethodFault, delay int) {
		s.model.Service.FaultInjector().ClearRules()
		s.model.Service.FaultInjector().AddRule(&simulator.FaultInjectionRule{MethodName: method, ObjectType: "*", ObjectName: "*",
			Probability: 1, FaultType: simulator.FaultTypeCustom, Fault: f, Delay: delay, MaxCount: 1, Enabled: true})
	}
	inject("PowerOnVM_Task", &types.InsufficientMemoryResourcesFault{}, 0)
	if _, err := b.Servers().CreateServer(ctx, serverSpec("44444444-0000-4000-8000-000000000001")); !errors.Is(err, proxies.ErrCapacity) {
		t.Errorf("CreateServer when the cluster has no memory = %v; want ErrCapacity", err)
	}
	// The clone was made before power-on failed: a retry finishes that VM.
	if st, err := b.Servers().CreateServer(ctx, serverSpec("44444444-0000-4000-8000-000000000001")); err != nil || st.State != proxies.StateActive {
		t.Errorf("retried CreateServer after a failed power-on = %+v, %v; want active", st, err)
	}
	if n := s.countVMs(vmName("44444444-0000-4000-8000-000000000001")); n != 1 {
		t.Errorf("after the retry there are %d VMs; want 1", n)
	}
	inject("CloneVM_Task", &types.NotEnoughLicenses{}, 0)
	if _, err := b.Servers().CreateServer(ctx, serverSpec("44444444-0000-4000-8000-000000000002")); !errors.Is(err, proxies.ErrQuota) {
		t.Errorf("CreateServer over the licence limit = %v; want ErrQuota", err)
	}
	// An administrator (or a vCenter restart) ends the backend's session:
	// the backend logs in again and the call goes through.
	s.model.Service.FaultInjector().ClearRules()
	us, err := b.sessions.UserSession(ctx)
	if err != nil || us == nil {
		t.Fatalf("UserSession = %v, %v", us, err)
	}
	if err := s.backend(t, nil).sessions.TerminateSession(ctx, []string{us.Key}); err != nil {
		t.Fatalf("TerminateSession: %v", err)
	}
	if _, err := b.Servers().GetServer(ctx, "44444444-0000-4000-8000-000000000001"); err != nil {
		t.Errorf("GetServer after vCenter ended the session = %v; want a fresh login and the server", err)
	}
	inject("FindChild", &types.SystemError{}, 2500)
	start := time.Now()
	_, err = b.Servers().GetServer(ctx, "44444444-0000-4000-8000-000000000003")
	if !errors.Is(err, proxies.ErrUnavailable) || time.Since(start) > 2*time.Second {
		t.Errorf("GetServer against a vCenter that answers in 2.5 s = %v after %v; want ErrUnavailable at the 1 s deadline", err, time.Since(start))
	}
	s.model.Service.FaultInjector().ClearRules()
}

// TestUnreachable: a vCenter that accepts connections and never answers,
// and one that is gone, are ErrUnavailable within the call timeout.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(accepted)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-accepted
		for _, c := range conns {
			c.Close()
		}
	})
	s := newSim(t)
	cfg := s.cfg
	cfg.URL, cfg.CallTimeout = "http://"+l.Addr().String()+"/sdk", 300*time.Millisecond
	start := time.Now()
	_, err = New(t.Context(), "vsphere", cfg, nil)
	if !errors.Is(err, proxies.ErrUnavailable) || time.Since(start) > 3*time.Second {
		t.Errorf("New against a silent vCenter = %v after %v; want ErrUnavailable at the deadline", err, time.Since(start))
	}
	pw, _ := os.ReadFile(strings.TrimPrefix(s.cfg.PasswordFrom, "file:"))
	if err != nil && strings.Contains(err.Error(), string(pw)) {
		t.Error("the error carries the password")
	}

	b := s.backend(t, func(c *Config) { c.CallTimeout = time.Second })
	s.server.Close()
	start = time.Now()
	if _, err := b.Servers().ListServers(t.Context()); !errors.Is(err, proxies.ErrUnavailable) || time.Since(start) > 3*time.Second {
		t.Errorf("ListServers after vCenter went away = %v after %v; want ErrUnavailable", err, time.Since(start))
	}
}

// TestInventory reports the cluster's capacity and leaves out a host in
// maintenance.
func TestInventory(t *testing.T) {
	s := newSim(t)
	b := s.backend(t, nil)
	ctx := t.Context()
	hosts, err := b.Inventory().Hosts(ctx)
	if err != nil || len(hosts) != 1 {
		t.Fatalf("Hosts = %+v, %v; want one pseudo-host for the one cluster", hosts, err)
	}
	before := hosts[0]
	if before.AvailabilityZone != devSimZone || before.VCPUs <= 0 || before.RAMMB <= 0 || before.DiskGB <= 0 || !before.Up {
		t.Fatalf("host = %+v; want zone %s, up, positive capacity", before, devSimZone)
	}
	var cr mo.ClusterComputeResource
	if err := object.NewCommon(b.vc, b.zones[0].compute).Properties(ctx, b.zones[0].compute, []string{"host"}, &cr); err != nil {
		t.Fatal(err)
	}
	h := object.NewHostSystem(b.vc, cr.Host[0])
	tk, err := h.EnterMaintenanceMode(ctx, 0, false, nil)
	if err == nil {
		err = tk.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("EnterMaintenanceMode: %v", err)
	}
	hosts, err = b.Inventory().Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hosts[0].VCPUs >= before.VCPUs || hosts[0].RAMMB >= before.RAMMB {
		t.Errorf("with a host in maintenance capacity = %d vCPUs %d MB; want less than %d/%d", hosts[0].VCPUs, hosts[0].RAMMB, before.VCPUs, before.RAMMB)
	}
}

// TestWatch sees a server appear, stop and go through one
// WaitForUpdatesEx filter.
func TestWatch(t *testing.T) {
	s := newSim(t)
	b := s.backend(t, nil)
	withImage(t, b)
	ctx, cancel := context.WithCancel(t.Context())
	updates := make(chan proxies.ServerStatus, 64)
	done := make(chan error, 1)
	go func() { done <- b.Watch(ctx, func(st proxies.ServerStatus) { updates <- st }) }()
	id := "55555555-0000-4000-8000-000000000001"
	want := func(state proxies.ServerState) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case st := <-updates:
				if st.ID == id && st.State == state {
					return
				}
			case <-timeout:
				t.Fatalf("Watch did not report server %s as %s", id, state)
			}
		}
	}
	if _, err := b.Servers().CreateServer(t.Context(), serverSpec(id)); err != nil {
		t.Fatal(err)
	}
	want(proxies.StateActive)
	if _, err := b.Servers().StopServer(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	want(proxies.StateStopped)
	if err := b.Servers().DeleteServer(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	want(proxies.StateDeleted)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch after cancel = %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
	for {
		select {
		case u := <-updates:
			if strings.HasPrefix(u.ID, "img-") {
				t.Errorf("Watch reported a template as a server: %+v", u)
			}
		default:
			return
		}
	}
}

// TestImportQcow2 converts a qcow2 image with qemu-img and refuses one with
// a backing file (it would read the gateway's files into the image).
func TestImportQcow2(t *testing.T) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("qemu-img is missing: apt-get install -y qemu-utils")
		}
		t.Skip("qemu-img is missing (apt-get install -y qemu-utils)")
	}
	dir := t.TempDir()
	raw, qcow, evil := filepath.Join(dir, "d.raw"), filepath.Join(dir, "d.qcow2"), filepath.Join(dir, "evil.qcow2")
	if err := os.WriteFile(raw, testImage, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"convert", "-f", "raw", "-O", "qcow2", raw, qcow},
		{"create", "-f", "qcow2", "-F", "raw", "-b", raw, evil},
	} {
		if out, err := exec.Command(qemuImg, args...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img %v: %v: %s", args, err, out)
		}
	}
	s := newSim(t)
	b := s.backend(t, nil)
	ctx := t.Context()
	data, _ := os.ReadFile(qcow)
	spec := imageSpec("7e0d0000-0000-4000-8000-0000000000cc", data)
	spec.DiskFormat = "qcow2"
	if _, err := b.Images().ImportImage(ctx, spec, imageReader(data)); err != nil {
		t.Fatalf("ImportImage(qcow2): %v", err)
	}
	f, err := b.ds.Stat(ctx, imageDir+"/"+imagePrefix+spec.ID+"-flat.vmdk")
	if err != nil {
		t.Fatalf("the converted extent is not on the datastore: %v", err)
	}
	if size := f.GetFileInfo().FileSize; size < int64(len(testImage)) || size%512 != 0 || size == int64(len(data)) {
		t.Errorf("extent is %d bytes; want the raw disk (>= %d, sector multiple), not the qcow2 file (%d)", size, len(testImage), len(data))
	}
	evilData, _ := os.ReadFile(evil)
	bad := imageSpec("7e0d0000-0000-4000-8000-0000000000dd", evilData)
	bad.DiskFormat = "qcow2"
	if _, err := b.Images().ImportImage(ctx, bad, imageReader(evilData)); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("ImportImage(qcow2 with a backing file) = %v; want ErrInvalid", err)
	}
}

func TestDecodeConfig(t *testing.T) {
	t.Setenv("CANOPY_TEST_VC_PW", "x")
	const doc = `
url: https://vcenter.example.com/sdk
username: canopy@vsphere.local
password_from: env:CANOPY_TEST_VC_PW
datacenter: DC0
clusters:
  - {path: DC0_C0, availability_zone: vsphere-a}
datastore: LocalDS_0
templates: {img-1: /DC0/vm/templates/ubuntu}
network_map: {net-1: VM Network}
dvs: DVS0
call_timeout: 45s
`
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &node); err != nil {
		t.Fatal(err)
	}
	cfg, err := DecodeConfig(node.Content[0])
	if err != nil {
		t.Fatalf("DecodeConfig: %v", err)
	}
	if cfg.CallTimeout != 45*time.Second || cfg.Clusters[0].AvailabilityZone != "vsphere-a" || cfg.NetworkMap["net-1"] != "VM Network" || cfg.Folder != "canopy" {
		t.Errorf("DecodeConfig = %+v", cfg)
	}
	if err := yaml.Unmarshal([]byte(doc+"datastor: typo\n"), &node); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeConfig(node.Content[0]); err == nil || !strings.Contains(err.Error(), "datastor") {
		t.Errorf("DecodeConfig with an unknown field = %v; want an error naming it", err)
	}
}
