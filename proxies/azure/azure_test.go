package azure

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/azure/armsim"
)

var tiny = proxies.Flavor{ID: "1", Name: "m1.tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1}

func serverSpec(id string) proxies.ServerSpec {
	return proxies.ServerSpec{ID: id, ProjectID: "p1", Name: "vm " + id[:8], Flavor: tiny, ImageID: contractImage,
		AvailabilityZone: "azure-weu-2", PublicKey: contractKey, UserData: []byte("#cloud-config\n")}
}

const contractKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKVx9Dz6aXEvZ2Gw8ZbyN3m0nVxN6qXbLr3Zp2YqB1dC contract@canopy"

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", SubscriptionID: "0b1f6471-1bf0-4dda-aec3-cb9272f09590",
			Credential: CredentialConfig{ClientID: "app", ClientSecretFrom: "env:AZ_SECRET"},
			Locations:  []Location{{Name: "westeurope", Zones: map[string]string{"1": "weu-1"}}}}
	}
	cases := []struct {
		name  string
		edit  func(*Config)
		field string // "" means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"managed identity", func(c *Config) { c.Credential = CredentialConfig{ManagedIdentity: true} }, ""},
		{"bad tenant", func(c *Config) { c.TenantID = "contoso" }, "azure.tenant_id"},
		{"bad subscription", func(c *Config) { c.SubscriptionID = "" }, "azure.subscription_id"},
		{"inline secret", func(c *Config) { c.Credential.ClientSecretFrom = "hunter2" }, "azure.credential.client_secret_from"},
		{"two credentials", func(c *Config) { c.Credential.ManagedIdentity = true }, "azure.credential"},
		{"no credential", func(c *Config) { c.Credential = CredentialConfig{} }, "azure.credential"},
		{"secret without client id", func(c *Config) { c.Credential.ClientID = "" }, "azure.credential.client_id"},
		{"no locations", func(c *Config) { c.Locations = nil }, "azure.locations"},
		{"bad zone", func(c *Config) { c.Locations[0].Zones = map[string]string{"4": "weu-4"} }, "azure.locations[0].zones"},
		{"duplicate az", func(c *Config) { c.Locations[0].Zones = map[string]string{"1": "a", "2": "a"} }, "azure.locations[0].zones"},
		{"http endpoint", func(c *Config) { c.Endpoint, c.AuthorityHost = "http://arm", "https://login" }, "azure.endpoint"},
		{"endpoint without authority", func(c *Config) { c.Endpoint = "https://arm.local" }, "azure.endpoint"},
		{"bad cloud", func(c *Config) { c.Cloud = "AzureMars" }, "azure.cloud"},
		{"bad image", func(c *Config) { c.ImageMap = map[string]string{"i": "Canonical:ubuntu"} }, "azure.image_map"},
		{"bad size", func(c *Config) { c.SizeMap = map[string]string{"1": "t3.micro"} }, "azure.size_map"},
		{"bad disk sku", func(c *Config) { c.VolumeTypeMap = map[string]string{"fast": "gp3"} }, "azure.volume_type_map"},
		{"bad rg prefix", func(c *Config) { c.ResourceGroupPrefix = "canopy/" }, "azure.resource_group_prefix"},
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
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.field+":") {
				t.Fatalf("Validate = %v; want an error naming %s", err, c.field)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestParseImageRef(t *testing.T) {
	cases := []struct {
		ref     string
		wantID  bool
		wantErr bool
	}{
		{"Canonical:ubuntu-24_04-lts:server:latest", false, false},
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0", true, false},
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/img", true, false},
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d", false, true},
		{"Canonical::server:latest", false, true},
		{"ubuntu", false, true},
	}
	for _, c := range cases {
		ref, err := parseImageRef(c.ref)
		if (err != nil) != c.wantErr {
			t.Errorf("parseImageRef(%q) error = %v; want error %v", c.ref, err, c.wantErr)
			continue
		}
		if err == nil && (ref.ID != nil) != c.wantID {
			t.Errorf("parseImageRef(%q) = %+v; want an id reference %v", c.ref, ref, c.wantID)
		}
	}
}

func TestChooseSize(t *testing.T) {
	b, sim := newSimBackend(t, armsim.Options{}, func(c *Config) { c.SizeMap = map[string]string{"big": "Standard_D8s_v5"} })
	ctx := t.Context()
	cases := []struct {
		name string
		f    proxies.Flavor
		want string
		kind error
	}{
		{"smallest that fits", proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512}, "Standard_B1ls", nil},
		{"memory decides", proxies.Flavor{ID: "2", VCPUs: 1, RAMMB: 2048}, "Standard_B1ms", nil},
		// Standard_E2s_v5 (2 vCPU, 16 GB) is restricted in the location.
		{"restricted size skipped", proxies.Flavor{ID: "3", VCPUs: 2, RAMMB: 16384}, "Standard_D4s_v5", nil},
		{"size_map wins", proxies.Flavor{ID: "big", VCPUs: 1, RAMMB: 512}, "Standard_D8s_v5", nil},
		{"nothing fits", proxies.Flavor{ID: "4", VCPUs: 64, RAMMB: 1 << 20}, "", proxies.ErrCapacity},
	}
	for _, c := range cases {
		got, err := b.chooseSize(ctx, "test", c.f, "westeurope", "2")
		if c.kind != nil {
			if !errors.Is(err, c.kind) {
				t.Errorf("%s: chooseSize = %q, %v; want %v", c.name, got, err, c.kind)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: chooseSize = %q, %v; want %s", c.name, got, err, c.want)
		}
	}
	if n := sim.Calls("ResourceSKUsClient.NewListPager"); n != 1 {
		t.Errorf("the SKU list was fetched %d times for %d choices; want 1 (cached)", n, len(cases))
	}
	// Through a real create: the VM gets the chosen size.
	id := "5a1f2b3c-0000-4000-8000-000000000001"
	if _, err := b.Servers().CreateServer(ctx, serverSpec(id)); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	if got := sim.VMSize(vmName(id)); got != "Standard_B1ls" {
		t.Errorf("the VM's size is %q; want Standard_B1ls for m1.tiny", got)
	}
}

func TestCreateServerIsIdempotent(t *testing.T) {
	b, sim := newSimBackend(t, armsim.Options{}, nil)
	ctx := t.Context()
	id := "5a1f2b3c-0000-4000-8000-000000000002"
	first, err := b.Servers().CreateServer(ctx, serverSpec(id))
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	before := sim.Counts()
	second, err := b.Servers().CreateServer(ctx, serverSpec(id))
	if err != nil || second.BottomID != first.BottomID {
		t.Fatalf("CreateServer retried = %+v, %v; want the same VM %s", second, err, first.BottomID)
	}
	after := sim.Counts()
	for _, kind := range []string{"virtualMachines", "networkInterfaces", "disks", "virtualNetworks", "resourceGroups"} {
		if after[kind] != before[kind] {
			t.Errorf("a retried create changed the number of %s from %d to %d", kind, before[kind], after[kind])
		}
	}
	if after["virtualMachines"] != 1 || after["resourceGroups"] != 1 {
		t.Errorf("counts = %v; want one VM in one resource group", after)
	}
	tags := sim.VMTags()[vmName(id)]
	if tags[tagID] != id || tags[tagProject] != "p1" || tags[tagCloud] != "azure-test" {
		t.Errorf("VM tags = %v; want canopy-id, canopy-project and canopy-cloud", tags)
	}
	if first.Host != "azure-westeurope-2" || first.State != proxies.StateActive {
		t.Errorf("CreateServer = %+v; want active on host azure-westeurope-2 (AZ azure-weu-2)", first)
	}
	// Delete removes the VM with its NIC and OS disk.
	if err := b.Servers().DeleteServer(ctx, id); err != nil {
		t.Fatalf("DeleteServer: %v", err)
	}
	if c := sim.Counts(); c["virtualMachines"] != 0 || c["networkInterfaces"] != 0 || c["disks"] != 0 {
		t.Errorf("after delete counts = %v; want no VM, NIC or disk left", c)
	}
}

func TestErrorMapping(t *testing.T) {
	table := []struct {
		name string
		err  error
		kind error
	}{
		{"not found", &azcore.ResponseError{StatusCode: 404, ErrorCode: "ResourceNotFound"}, proxies.ErrNotFound},
		{"rg not found", &azcore.ResponseError{StatusCode: 404, ErrorCode: "ResourceGroupNotFound"}, proxies.ErrNotFound},
		{"quota", &azcore.ResponseError{StatusCode: 409, ErrorCode: "QuotaExceeded"}, proxies.ErrQuota},
		{"sku", &azcore.ResponseError{StatusCode: 409, ErrorCode: "SkuNotAvailable"}, proxies.ErrCapacity},
		{"allocation", &azcore.ResponseError{StatusCode: 200, ErrorCode: "AllocationFailed"}, proxies.ErrCapacity},
		{"in use", &azcore.ResponseError{StatusCode: 400, ErrorCode: "InUseSubnetCannotBeDeleted"}, proxies.ErrConflict},
		{"invalid", &azcore.ResponseError{StatusCode: 400, ErrorCode: "InvalidParameter"}, proxies.ErrInvalid},
		{"throttled", &azcore.ResponseError{StatusCode: 429, ErrorCode: "TooManyRequests"}, proxies.ErrUnavailable},
		{"server error", &azcore.ResponseError{StatusCode: 503, ErrorCode: "ServiceUnavailable"}, proxies.ErrUnavailable},
		{"auth", &azcore.ResponseError{StatusCode: 401, ErrorCode: "AuthenticationFailed"}, proxies.ErrUnavailable},
		{"deadline", context.DeadlineExceeded, proxies.ErrUnavailable},
		{"other", errors.New("dial tcp: refused"), proxies.ErrUnavailable},
	}
	for _, c := range table {
		err := mapErr("Op", "it failed", c.err)
		var pe *proxies.Error
		if !errors.Is(err, c.kind) || !errors.As(err, &pe) || pe.Cause != c.err {
			t.Errorf("%s: mapErr = %v; want kind %v with the raw error as Cause", c.name, err, c.kind)
		}
	}

	// The same kinds, end to end through the simulator.
	b, sim := newSimBackend(t, armsim.Options{}, nil)
	ctx := t.Context()
	if _, err := b.Servers().GetServer(ctx, "5a1f2b3c-0000-4000-8000-00000000dead"); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetServer(unknown) = %v; want ErrNotFound", err)
	}
	sim.SetCoreLimit(1)
	big := serverSpec("5a1f2b3c-0000-4000-8000-000000000003")
	big.Flavor = proxies.Flavor{ID: "2", VCPUs: 2, RAMMB: 4096}
	if _, err := b.Servers().CreateServer(ctx, big); !errors.Is(err, proxies.ErrQuota) {
		t.Errorf("CreateServer over the core quota = %v; want ErrQuota", err)
	}
	sim.SetCoreLimit(100)
	bad := serverSpec("5a1f2b3c-0000-4000-8000-000000000004")
	bad.AvailabilityZone = "mars-1"
	if _, err := b.Servers().CreateServer(ctx, bad); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateServer in an unknown AZ = %v; want ErrInvalid", err)
	}
	noimg := serverSpec("5a1f2b3c-0000-4000-8000-000000000005")
	noimg.ImageID = "not-mapped"
	if _, err := b.Servers().CreateServer(ctx, noimg); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateServer of an unmapped image = %v; want ErrInvalid", err)
	}
	// Throttling: a few 429s are retried (Retry-After honoured); more than
	// the retries allow is ErrUnavailable.
	sim.Throttle(2, 0)
	if _, err := b.Inventory().Hosts(ctx); err != nil {
		t.Errorf("Hosts after two 429s = %v; want the SDK to retry them", err)
	}
	sim.Throttle(50, 0)
	_, err := b.Inventory().Hosts(ctx)
	if !errors.Is(err, proxies.ErrUnavailable) {
		t.Errorf("Hosts while throttled = %v; want ErrUnavailable", err)
	}
	if err != nil && strings.Contains(proxies.SafeMessage(err), "armsim-client-secret") {
		t.Errorf("the safe message leaks the secret: %s", proxies.SafeMessage(err))
	}
	sim.Throttle(0, 0)
}

func TestSlowAndDownEndpoint(t *testing.T) {
	b, sim := newSimBackend(t, armsim.Options{}, func(c *Config) {
		c.CallTimeout, c.MaxRetries, c.OperationTimeout = 200*time.Millisecond, 1, 2*time.Second
	})
	ctx := t.Context()
	if _, err := b.Inventory().Hosts(ctx); err != nil { // warm the token
		t.Fatalf("Hosts: %v", err)
	}
	sim.SetLatency(10 * time.Second)
	start := time.Now()
	_, err := b.Inventory().Hosts(ctx)
	if !errors.Is(err, proxies.ErrUnavailable) {
		t.Errorf("Hosts against a slow endpoint = %v; want ErrUnavailable", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Hosts took %v against a slow endpoint; want the per-try deadline (200ms x 2 tries) to end it", el)
	}
	start = time.Now()
	if _, err := b.Servers().CreateServer(ctx, serverSpec("5a1f2b3c-0000-4000-8000-000000000006")); !errors.Is(err, proxies.ErrUnavailable) {
		t.Errorf("CreateServer against a slow endpoint = %v; want ErrUnavailable", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("CreateServer took %v; want it bounded", el)
	}
	sim.SetLatency(0)
	sim.SetDown(true)
	if _, err := b.Servers().ListServers(ctx); !errors.Is(err, proxies.ErrUnavailable) {
		t.Errorf("ListServers against a down region = %v; want ErrUnavailable", err)
	}
	sim.SetDown(false)
	if _, err := b.Servers().ListServers(ctx); err != nil {
		t.Errorf("ListServers after the region came back = %v", err)
	}
}

// TestResumeAfterRestart abandons a deallocate mid-way (its poller is not
// stepped to the end), builds a new Backend over the same TokenStore and
// checks that it resumes the stored operation instead of starting another.
func TestResumeAfterRestart(t *testing.T) {
	store := NewMemoryTokenStore()
	b1, sim := newSimBackend(t, armsim.Options{Polls: 3}, nil, WithTokenStore(store))
	ctx := t.Context()
	id := "5a1f2b3c-0000-4000-8000-000000000007"
	if _, err := b1.Servers().CreateServer(ctx, serverSpec(id)); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	// A backend that would wait an hour between polls: its call is cut off
	// after the operation started, as a gateway that dies mid-wait.
	slowCfg := b1.cfg
	slowCfg.PollInterval = time.Hour
	slow, err := New(ctx, "azure-test", slowCfg, nil, WithTokenStore(store))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = slow.Servers().StopServer(cctx, id)
	cancel()
	if err == nil {
		t.Fatal("StopServer returned before its operation ended; the test needs it cut off")
	}
	keys, _ := store.List(ctx, "lro/"+id+"/")
	if len(keys) != 1 || keys[0] != "lro/"+id+"/stop" {
		t.Fatalf("stored operations = %v; want the abandoned stop's resume token", keys)
	}
	if n := sim.PendingOperations(); n != 1 {
		t.Fatalf("the simulator has %d operations in flight; want the abandoned deallocate", n)
	}
	// The VM is still deallocating: nobody polled it to the end.
	b2, err := New(ctx, "azure-test", b1.cfg, nil, WithTokenStore(store))
	if err != nil {
		t.Fatal(err)
	}
	st, err := b2.Servers().GetServer(ctx, id)
	if err != nil {
		t.Fatalf("GetServer on the new backend: %v", err)
	}
	if st.State != proxies.StateStopped || st.PowerState != proxies.PowerShutdown || st.TaskState != "" {
		t.Errorf("after resuming, the server is %+v; want stopped", st)
	}
	if n := sim.Calls("VirtualMachinesClient.BeginDeallocate"); n != 1 {
		t.Errorf("BeginDeallocate was sent %d times; want 1 (the new backend resumed, it did not start again)", n)
	}
	if n := sim.Calls("VirtualMachinesClient.BeginDeallocate/poll"); n < 4 {
		t.Errorf("the deallocate was polled %d times; want its 3 non-terminal polls and the terminal one", n)
	}
	if keys, _ := store.List(ctx, "lro/"); len(keys) != 0 {
		t.Errorf("stored operations after the resume = %v; want none", keys)
	}
	if n := sim.PendingOperations(); n != 0 {
		t.Errorf("the simulator still has %d operations in flight", n)
	}
}

func TestInventory(t *testing.T) {
	b, _ := newSimBackend(t, armsim.Options{CoreLimit: 90}, nil)
	hosts, err := b.Inventory().Hosts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 3 {
		t.Fatalf("Hosts = %+v; want one pseudo-host per zone", hosts)
	}
	for i, h := range hosts {
		wantAZ := []string{"azure-weu-1", "azure-weu-2", "azure-weu-3"}[i]
		if h.AvailabilityZone != wantAZ || h.VCPUs != 30 || !h.Up {
			t.Errorf("host %d = %+v; want AZ %s with 30 vCPUs (90-core quota over 3 zones)", i, h, wantAZ)
		}
	}
}

func TestNSGRules(t *testing.T) {
	rules, err := nsgRules("t", []proxies.SecurityGroupRule{
		{ID: "b", Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortMin: 22, PortMax: 22, RemoteIPPrefix: "192.0.2.0/24"},
		{ID: "a", Direction: "ingress", EtherType: "IPv6", Protocol: "udp", PortMin: 1000, PortMax: 2000},
		{ID: "c", Direction: "egress", EtherType: "IPv4"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		name, proto, src, dst, ports string
		prio                         int32
	}
	wants := []want{
		{"canopy-a", "Udp", "::/0", "*", "1000-2000", 100},
		{"canopy-b", "Tcp", "192.0.2.0/24", "*", "22", 101},
		{"canopy-c", "*", "*", "0.0.0.0/0", "*", 100},
		{"canopy-deny-all-inbound", "*", "*", "*", "*", 4096},
		{"canopy-deny-all-outbound", "*", "*", "*", "*", 4096},
	}
	if len(rules) != len(wants) {
		t.Fatalf("got %d rules; want %d", len(rules), len(wants))
	}
	for i, w := range wants {
		r := rules[i]
		p := r.Properties
		if *r.Name != w.name || string(*p.Protocol) != w.proto || *p.SourceAddressPrefix != w.src ||
			*p.DestinationAddressPrefix != w.dst || *p.DestinationPortRange != w.ports || *p.Priority != w.prio {
			t.Errorf("rule %d = %s %s %s->%s ports %s prio %d; want %+v", i, *r.Name, *p.Protocol, *p.SourceAddressPrefix,
				*p.DestinationAddressPrefix, *p.DestinationPortRange, *p.Priority, w)
		}
	}
	grouped, err := nsgRules("t", []proxies.SecurityGroupRule{{ID: "g", Direction: "ingress", Protocol: "tcp", RemoteGroupID: "sg-2"}},
		func(id string) (string, error) { return "/asg/" + id, nil })
	if err != nil || grouped[0].Properties.SourceAddressPrefix != nil || len(grouped[0].Properties.SourceApplicationSecurityGroups) != 1 ||
		*grouped[0].Properties.SourceApplicationSecurityGroups[0].ID != "/asg/sg-2" {
		t.Errorf("a remote-group rule = %+v, %v; want its source to be the group's application security group only", grouped[0].Properties, err)
	}
	for _, bad := range []proxies.SecurityGroupRule{
		{ID: "x", Direction: "ingress", Protocol: "sctp"},
		{ID: "y", Direction: "ingress", Protocol: "icmp", PortMin: 8, PortMax: 0},
	} {
		if _, err := nsgRules("t", []proxies.SecurityGroupRule{bad}, nil); !errors.Is(err, proxies.ErrNotSupported) {
			t.Errorf("nsgRules(%+v) = %v; want ErrNotSupported (never a rule silently dropped)", bad, err)
		}
	}
}

// TestVolumes covers contracttest.RunVolumes' checks with a server that
// exists: Azure attaches a disk only to a VM it has.
func TestVolumes(t *testing.T) {
	b, sim := newSimBackend(t, armsim.Options{}, func(c *Config) { c.VolumeTypeMap = map[string]string{"premium": "Premium_LRS"} })
	ctx := t.Context()
	d := b.Volumes()
	srv := "5a1f2b3c-0000-4000-8000-000000000008"
	if _, err := b.Servers().CreateServer(ctx, serverSpec(srv)); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	mk := func(id string, size int) proxies.VolumeStatus {
		spec := proxies.VolumeSpec{ID: id, ProjectID: "p1", SizeGB: size, AvailabilityZone: "azure-weu-2", VolumeType: "premium"}
		st, err := d.CreateVolume(ctx, spec)
		if err != nil {
			t.Fatalf("CreateVolume(%s): %v", id, err)
		}
		again, err := d.CreateVolume(ctx, spec)
		if err != nil || again.BottomID != st.BottomID {
			t.Fatalf("CreateVolume retried = %+v, %v", again, err)
		}
		return st
	}
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "v0", SizeGB: 0}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateVolume size 0 = %v; want ErrInvalid", err)
	}
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "v00", SizeGB: 1, VolumeType: "gold"}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateVolume of an unmapped type = %v; want ErrInvalid", err)
	}
	disksBefore := sim.Counts()["disks"]
	a, c := mk("5a1f2b3c-0000-4000-8000-0000000000a1", 1), mk("5a1f2b3c-0000-4000-8000-0000000000a2", 2)
	if n := sim.Counts()["disks"] - disksBefore; n != 2 {
		t.Errorf("two volumes (each created twice) made %d disks; want 2", n)
	}
	devA, err := d.AttachVolume(ctx, a.ID, srv)
	if err != nil {
		t.Fatalf("AttachVolume: %v", err)
	}
	devC, err := d.AttachVolume(ctx, c.ID, srv)
	if err != nil {
		t.Fatalf("AttachVolume: %v", err)
	}
	if devA != "/dev/disk/azure/scsi1/lun0" || devC != "/dev/disk/azure/scsi1/lun1" {
		t.Errorf("devices %q, %q; want LUNs 0 and 1", devA, devC)
	}
	if again, err := d.AttachVolume(ctx, a.ID, srv); err != nil || again != devA {
		t.Errorf("a repeated AttachVolume = %q, %v; want %q", again, err, devA)
	}
	if _, err := d.AttachVolume(ctx, a.ID, "5a1f2b3c-0000-4000-8000-00000000beef"); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("AttachVolume to a server Azure does not have = %v; want ErrNotFound", err)
	}
	if st, _ := d.GetVolume(ctx, a.ID); st.State != proxies.VolumeInUse || st.AttachedTo != srv || st.Device != devA {
		t.Errorf("attached volume = %+v; want in-use on %s at %s", st, srv, devA)
	}
	if err := d.DeleteVolume(ctx, a.ID); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("DeleteVolume of an attached volume = %v; want ErrConflict", err)
	}
	if _, err := d.ExtendVolume(ctx, a.ID, 5); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("ExtendVolume of an attached volume = %v; want ErrConflict", err)
	}
	for _, id := range []string{a.ID, a.ID, c.ID} {
		if err := d.DetachVolume(ctx, id); err != nil {
			t.Errorf("DetachVolume(%s) = %v", id, err)
		}
	}
	if st, _ := d.GetVolume(ctx, a.ID); st.State != proxies.VolumeAvailable || st.AttachedTo != "" {
		t.Errorf("detached volume = %+v; want available", st)
	}
	if st, err := d.ExtendVolume(ctx, a.ID, 5); err != nil || st.SizeGB != 5 {
		t.Errorf("ExtendVolume = %+v, %v; want 5 GB", st, err)
	}
	if _, err := d.ExtendVolume(ctx, a.ID, 4); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("ExtendVolume smaller = %v; want ErrInvalid", err)
	}
	snap := proxies.SnapshotSpec{ID: "5a1f2b3c-0000-4000-8000-0000000000b1", ProjectID: "p1", VolumeID: c.ID}
	if st, err := d.CreateSnapshot(ctx, snap); err != nil || st.SizeGB != 2 || st.VolumeID != c.ID {
		t.Fatalf("CreateSnapshot = %+v, %v", st, err)
	}
	if err := d.DeleteVolume(ctx, c.ID); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("DeleteVolume with a snapshot = %v; want ErrConflict", err)
	}
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "5a1f2b3c-0000-4000-8000-0000000000a3", SizeGB: 1, SnapshotID: snap.ID}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateVolume smaller than its snapshot = %v; want ErrInvalid", err)
	}
	if _, err := d.CreateVolume(ctx, proxies.VolumeSpec{ID: "5a1f2b3c-0000-4000-8000-0000000000a4", SizeGB: 2, SnapshotID: snap.ID}); err != nil {
		t.Errorf("CreateVolume from the snapshot = %v", err)
	}
	for range 2 {
		if err := d.DeleteSnapshot(ctx, snap.ID); err != nil {
			t.Errorf("DeleteSnapshot = %v", err)
		}
	}
	if _, err := d.GetSnapshot(ctx, snap.ID); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetSnapshot after delete = %v; want ErrNotFound", err)
	}
	for range 2 {
		if err := d.DeleteVolume(ctx, c.ID); err != nil {
			t.Errorf("DeleteVolume = %v; want nil (idempotent)", err)
		}
	}
	if _, err := d.GetVolume(ctx, c.ID); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetVolume after delete = %v; want ErrNotFound", err)
	}
}

// TestResizeAndCapture resizes a VM, captures it to an image and boots a
// second server from the captured image.
func TestResizeAndCapture(t *testing.T) {
	b, sim := newSimBackend(t, armsim.Options{}, nil)
	ctx := t.Context()
	id := "5a1f2b3c-0000-4000-8000-000000000009"
	if _, err := b.Servers().CreateServer(ctx, serverSpec(id)); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	st, err := b.ResizeServer(ctx, id, proxies.Flavor{ID: "2", VCPUs: 2, RAMMB: 4096})
	if err != nil || st.State != proxies.StateActive {
		t.Fatalf("ResizeServer = %+v, %v", st, err)
	}
	if got := sim.VMSize(vmName(id)); got != "Standard_B2s" {
		t.Errorf("after resize the VM is %q; want Standard_B2s", got)
	}
	n := sim.Calls("VirtualMachinesClient.BeginUpdate")
	if _, err := b.ResizeServer(ctx, id, proxies.Flavor{ID: "2", VCPUs: 2, RAMMB: 4096}); err != nil || sim.Calls("VirtualMachinesClient.BeginUpdate") != n {
		t.Errorf("resizing to the same size = %v and %d updates; want a no-op", err, sim.Calls("VirtualMachinesClient.BeginUpdate")-n)
	}
	img := "5a1f2b3c-0000-4000-8000-0000000000c1"
	is, err := b.Servers().SnapshotServer(ctx, id, img)
	if err != nil || !is.Ready || !strings.Contains(is.BottomID, "/images/canopy-img-"+img) {
		t.Fatalf("SnapshotServer = %+v, %v", is, err)
	}
	from := serverSpec("5a1f2b3c-0000-4000-8000-00000000000a")
	from.ImageID = img
	if _, err := b.Servers().CreateServer(ctx, from); err != nil {
		t.Errorf("CreateServer from the captured image: %v", err)
	}
}

// TestRateLimitHeaders checks that a low x-ms-ratelimit-remaining budget
// spaces out the next calls.
func TestRateLimitHeaders(t *testing.T) {
	b, sim := newSimBackend(t, armsim.Options{}, func(c *Config) { c.RateLimitPause = 300 * time.Millisecond })
	ctx := t.Context()
	id := "5a1f2b3c-0000-4000-8000-00000000000b"
	if _, err := b.Servers().CreateServer(ctx, serverSpec(id)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := b.Servers().GetServer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 250*time.Millisecond {
		t.Fatalf("GetServer with a full budget took %v", el)
	}
	sim.SetRemaining(10)
	if _, err := b.Servers().GetServer(ctx, id); err != nil { // learns the low budget
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := b.Servers().GetServer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("GetServer with 9 reads left took %v; want a pause of at least 300ms", el)
	}
}

// TestCertificateCredential signs in to the simulator's token endpoint
// with a client certificate (azidentity's client assertion).
func TestCertificateCredential(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "canopy-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "client.pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := newSimBackend(t, armsim.Options{}, func(c *Config) {
		c.Credential = CredentialConfig{ClientID: "canopy-cert", CertificateFile: file}
	})
	if _, err := b.Inventory().Hosts(t.Context()); err != nil {
		t.Fatalf("Hosts with a certificate credential: %v", err)
	}
}
