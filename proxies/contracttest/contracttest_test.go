package contracttest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/contracttest"
)

// brokenEnv selects, in the helper process, which breakage to run the suite
// against.
const brokenEnv = "CONTRACTTEST_BROKEN"

// breakages are backends that each violate one rule of the contract, with
// the sub-test that must catch it. "none" is the control: the healthy local
// pool, which must pass.
var breakages = map[string]struct {
	wrap    func(proxies.Backend) proxies.Backend
	failing string // sub-test of the suite expected to fail ("" = none)
}{
	"none": {wrap: func(b proxies.Backend) proxies.Backend { return b }},
	"retried_create_duplicates": {
		wrap: func(b proxies.Backend) proxies.Backend {
			return &broken{Backend: b, srv: &dupCreate{ServerDriver: b.Servers()}}
		},
		failing: "servers/create_retry_is_idempotent",
	},
	"stop_of_stopped_succeeds": {
		wrap:    func(b proxies.Backend) proxies.Backend { return &broken{Backend: b, srv: lenientStop{b.Servers()}} },
		failing: "servers/stop_stopped_conflicts",
	},
	"second_delete_not_found": {
		wrap:    func(b proxies.Backend) proxies.Backend { return &broken{Backend: b, srv: strictDelete{b.Servers()}} },
		failing: "servers/delete_is_idempotent",
	},
	"undeclared_snapshot_succeeds": {
		wrap: func(b proxies.Backend) proxies.Backend {
			c := b.Capabilities()
			c.Snapshot = false
			return &broken{Backend: b, caps: &c}
		},
		failing: "servers/unsupported/snapshot",
	},
	"no_hosts": {
		wrap:    func(b proxies.Backend) proxies.Backend { return &broken{Backend: b, inv: noHosts{}} },
		failing: "inventory",
	},
	"ensure_network_remakes": {
		wrap: func(b proxies.Backend) proxies.Backend {
			return &broken{Backend: b, nets: &remakeNetwork{NetworkDriver: b.Networks()}}
		},
		failing: "networks",
	},
	"sg_delete_in_use_succeeds": {
		wrap:    func(b proxies.Backend) proxies.Backend { return &lenientGroups{broken: &broken{Backend: b}} },
		failing: "securitygroups/nic",
	},
	"fip_port_not_reported": {
		wrap:    func(b proxies.Backend) proxies.Backend { return &forgetfulFIPs{broken: &broken{Backend: b}} },
		failing: "floatingips",
	},
	"routers_declared_without_driver": {
		wrap:    func(b proxies.Backend) proxies.Backend { return &broken{Backend: b, hide: true} },
		failing: "routers",
	},
	"attach_needs_a_live_server": {
		// A healthy backend that, like every real cloud, attaches volumes
		// only to servers it has: the volume groups must pass against it.
		wrap: func(b proxies.Backend) proxies.Backend {
			d, _ := proxies.VolumesOf(b)
			return &broken{Backend: b, vols: strictAttach{VolumeDriver: d, servers: b.Servers()}}
		},
	},
	"attached_volume_deletes": {
		wrap: func(b proxies.Backend) proxies.Backend {
			d, _ := proxies.VolumesOf(b)
			return &broken{Backend: b, vols: forceDelete{d}}
		},
		failing: "volumes/attach",
	},
	"get_unknown_wrong_error": {
		wrap:    func(b proxies.Backend) proxies.Backend { return &broken{Backend: b, srv: vagueGet{b.Servers()}} },
		failing: "servers/get_unknown_is_not_found",
	},
}

// TestSuiteCatchesBrokenBackends runs the suite, in a child process, against
// each broken backend and checks that it fails in the expected sub-test (and
// that the healthy control passes): a suite that cannot fail is no suite.
func TestSuiteCatchesBrokenBackends(t *testing.T) {
	for name, b := range breakages {
		t.Run(name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenBackendHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if b.failing == "" {
				if err != nil {
					t.Fatalf("the suite failed against the healthy local pool: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("the suite passed against a backend whose %s; want a failure in %s\n%s", name, b.failing, out)
			}
			if want := "--- FAIL: TestBrokenBackendHelper/" + b.failing + " "; !strings.Contains(string(out), want) {
				t.Errorf("the suite failed, but not in %s:\n%s", b.failing, out)
			}
		})
	}
}

// TestBrokenBackendHelper is the child process of the test above.
func TestBrokenBackendHelper(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("run by TestSuiteCatchesBrokenBackends")
	}
	b, ok := breakages[name]
	if !ok {
		t.Fatalf("unknown breakage %q", name)
	}
	h := harness(b.wrap)
	contracttest.Run(t, h)
	contracttest.RunVolumes(t, h)
}

var image = bytes.Repeat([]byte("contract"), 512)

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func harness(wrap func(proxies.Backend) proxies.Backend) contracttest.Harness {
	return contracttest.Harness{
		New: func(t *testing.T) proxies.Backend {
			cfg := localcloud.DefaultConfig()
			cfg.ApplyBuildDelay(0)
			p, err := localcloud.New("local", cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			return wrap(p)
		},
		Image:     proxies.ImageSpec{ID: "6b1e0c7a-1111-4222-8333-444455556666", Name: "contract", Size: int64(len(image))},
		ImageData: func() io.ReadSeekCloser { return nopCloser{bytes.NewReader(image)} },
		// The pool is instant: a wait that runs long is a breakage caught,
		// and need not take the default minute to be reported.
		Timeout: 5 * time.Second,
	}
}

// broken overrides parts of a healthy backend.
type broken struct {
	proxies.Backend
	caps *proxies.Capabilities
	srv  proxies.ServerDriver
	nets proxies.NetworkDriver
	inv  proxies.InventoryDriver
	vols proxies.VolumeDriver
	// hide stops the optional drivers from being found through Unwrap.
	hide bool
}

// Unwrap exposes the healthy backend's optional drivers (unless hidden).
func (b *broken) Unwrap() proxies.Backend {
	if b.hide {
		return nil
	}
	return b.Backend
}

func (b *broken) Capabilities() proxies.Capabilities {
	if b.caps != nil {
		return *b.caps
	}
	return b.Backend.Capabilities()
}

func (b *broken) Servers() proxies.ServerDriver {
	if b.srv != nil {
		return b.srv
	}
	return b.Backend.Servers()
}

func (b *broken) Networks() proxies.NetworkDriver {
	if b.nets != nil {
		return b.nets
	}
	return b.Backend.Networks()
}

// Volumes is the overriding volume driver, else the healthy backend's.
func (b *broken) Volumes() proxies.VolumeDriver {
	if b.vols != nil {
		return b.vols
	}
	d, _ := proxies.VolumesOf(b.Backend)
	return d
}

func (b *broken) Inventory() proxies.InventoryDriver {
	if b.inv != nil {
		return b.inv
	}
	return b.Backend.Inventory()
}

// dupCreate makes a second server when a create is retried.
type dupCreate struct {
	proxies.ServerDriver
	mu   sync.Mutex
	seen map[string]int
}

func (d *dupCreate) CreateServer(ctx context.Context, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	d.mu.Lock()
	if d.seen == nil {
		d.seen = map[string]int{}
	}
	d.seen[spec.ID]++
	n := d.seen[spec.ID]
	d.mu.Unlock()
	if n > 1 {
		spec.ID += "-again"
	}
	return d.ServerDriver.CreateServer(ctx, spec)
}

// lenientStop answers success for a stop of a stopped server.
type lenientStop struct{ proxies.ServerDriver }

func (d lenientStop) StopServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	st, err := d.ServerDriver.StopServer(ctx, id)
	if errors.Is(err, proxies.ErrConflict) {
		return d.GetServer(ctx, id)
	}
	return st, err
}

// strictDelete answers ErrNotFound for a server already gone.
type strictDelete struct{ proxies.ServerDriver }

func (d strictDelete) DeleteServer(ctx context.Context, id string) error {
	if _, err := d.GetServer(ctx, id); err != nil {
		return err
	}
	return d.ServerDriver.DeleteServer(ctx, id)
}

// vagueGet answers an untyped error for an unknown server.
type vagueGet struct{ proxies.ServerDriver }

func (d vagueGet) GetServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	st, err := d.ServerDriver.GetServer(ctx, id)
	if errors.Is(err, proxies.ErrNotFound) {
		return st, errors.New("no such thing")
	}
	return st, err
}

type noHosts struct{}

func (noHosts) Hosts(context.Context) ([]proxies.Host, error) { return nil, nil }

// remakeNetwork realises a network anew on every call.
type remakeNetwork struct {
	proxies.NetworkDriver
	mu sync.Mutex
	n  int
}

func (d *remakeNetwork) EnsureNetwork(ctx context.Context, spec proxies.NetworkSpec) (proxies.NetworkStatus, error) {
	st, err := d.NetworkDriver.EnsureNetwork(ctx, spec)
	d.mu.Lock()
	d.n++
	st.BottomID += strings.Repeat("x", d.n)
	d.mu.Unlock()
	return st, err
}

// lenientGroups deletes a security group even while a NIC uses it.
type lenientGroups struct{ *broken }

func (g *lenientGroups) driver() proxies.SecurityGroupDriver {
	d, _ := proxies.SecurityGroupsOf(g.Backend)
	return d
}

func (g *lenientGroups) EnsureSecurityGroup(ctx context.Context, spec proxies.SecurityGroupSpec) (proxies.SecurityGroupStatus, error) {
	return g.driver().EnsureSecurityGroup(ctx, spec)
}

func (g *lenientGroups) DeleteSecurityGroup(ctx context.Context, id string) error {
	if err := g.driver().DeleteSecurityGroup(ctx, id); !errors.Is(err, proxies.ErrConflict) {
		return err
	}
	return nil
}

func (g *lenientGroups) SetNICSecurityGroups(ctx context.Context, serverID, portID string, groupIDs []string) error {
	return g.driver().SetNICSecurityGroups(ctx, serverID, portID, groupIDs)
}

// strictAttach refuses to attach a volume to a server the backend does not
// have, as EC2, Nova and every real cloud do.
type strictAttach struct {
	proxies.VolumeDriver
	servers proxies.ServerDriver
}

func (d strictAttach) AttachVolume(ctx context.Context, volumeID, serverID string) (string, error) {
	if _, err := d.servers.GetServer(ctx, serverID); err != nil {
		return "", err
	}
	return d.VolumeDriver.AttachVolume(ctx, volumeID, serverID)
}

// forceDelete deletes a volume even while it is attached.
type forceDelete struct{ proxies.VolumeDriver }

func (d forceDelete) DeleteVolume(ctx context.Context, id string) error {
	if err := d.VolumeDriver.DeleteVolume(ctx, id); !errors.Is(err, proxies.ErrConflict) {
		return err
	}
	if err := d.DetachVolume(ctx, id); err != nil {
		return err
	}
	return d.VolumeDriver.DeleteVolume(ctx, id)
}

// forgetfulFIPs does not report the port a floating IP is associated with.
type forgetfulFIPs struct{ *broken }

func (f *forgetfulFIPs) EnsureFloatingIP(ctx context.Context, spec proxies.FloatingIPSpec) (proxies.FloatingIPStatus, error) {
	d, _ := proxies.FloatingIPsOf(f.Backend)
	st, err := d.EnsureFloatingIP(ctx, spec)
	st.PortID = ""
	return st, err
}

func (f *forgetfulFIPs) ReleaseFloatingIP(ctx context.Context, id string) error {
	d, _ := proxies.FloatingIPsOf(f.Backend)
	return d.ReleaseFloatingIP(ctx, id)
}
