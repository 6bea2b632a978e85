// Package contracttest is the contract suite every proxies.Backend runs: the
// AWS, Azure, vSphere and OpenStack proxies, the local pool, and each of them
// again through the mesh transport. It drives a backend only through the
// proxies interfaces, so a backend passes here exactly when the broker can
// rely on it: idempotent creates and deletes, Nova's lifecycle states and
// conflicts, typed errors, and declared capabilities that are honoured
// (what is declared false answers ErrNotSupported, never success). The
// network-resource groups (securitygroups, routers, floatingips, netres.go)
// run when the capability is declared and otherwise check that the *Of
// accessor finds no driver.
package contracttest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

// Harness is what a backend's test gives the suite.
type Harness struct {
	// New returns a fresh backend; the suite calls it once per group of
	// checks. The harness cleans it up (t.Cleanup).
	New func(t *testing.T) proxies.Backend
	// ImageID, Image and ImageData describe an image the backend can boot.
	// The suite imports it first when the backend declares Images.
	ImageID   string
	Image     proxies.ImageSpec
	ImageData func() io.ReadSeekCloser
	// Settle, when set, drives a simulated backend's clock until server id
	// has settled; nil means the suite polls GetServer.
	Settle func(ctx context.Context, b proxies.Backend, id string)
	// Flavor is the size of the servers the suite makes (default 1 vCPU,
	// 512 MB, 1 GB).
	Flavor proxies.Flavor
	// Timeout bounds each wait for a server to settle (default 60s).
	Timeout time.Duration
}

// Run runs the whole suite as named sub-tests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("contracttest: Harness.New is required")
	}
	if h.Flavor.ID == "" {
		h.Flavor = proxies.Flavor{ID: "contract-tiny", Name: "contract.tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1}
	}
	if h.Timeout <= 0 {
		h.Timeout = 60 * time.Second
	}
	if h.ImageID == "" {
		h.ImageID = h.Image.ID
	}
	s := &suite{h: h}
	t.Run("capabilities", s.capabilities)
	t.Run("inventory", s.inventory)
	t.Run("images", s.images)
	t.Run("networks", s.networks)
	t.Run("securitygroups", s.securityGroups)
	t.Run("routers", s.routers)
	t.Run("floatingips", s.floatingIPs)
	t.Run("servers", s.servers)
}

type suite struct{ h Harness }

// capabilities checks that what a backend declares is self-consistent.
func (s *suite) capabilities(t *testing.T) {
	b := s.h.New(t)
	if b.Name() == "" {
		t.Error("Name() is empty; a backend is named by its cloud in canopy.yaml")
	}
	c := b.Capabilities()
	if c != b.Capabilities() {
		t.Error("Capabilities() changed between two calls; it must be a constant declaration")
	}
	needServers := map[string]bool{
		"start_stop": c.StartStop, "reboot": c.Reboot, "hard_reboot": c.HardReboot, "snapshot": c.Snapshot,
		"console_output": c.ConsoleOutput, "resize": c.Resize, "user_data": c.UserData,
		"keypairs": c.Keypairs, "live_migration": c.LiveMigration,
	}
	for name, on := range needServers {
		if on && !c.Servers {
			t.Errorf("capability %s is declared but servers is not", name)
		}
	}
	if c.MaxServersBatch < 0 {
		t.Errorf("max_servers_batch is %d; it must be 0 (no batch call) or positive", c.MaxServersBatch)
	}
	if b.Servers() == nil || b.Images() == nil || b.Networks() == nil || b.Inventory() == nil {
		t.Error("a driver accessor returned nil; undeclared features still need a driver that answers ErrNotSupported")
	}
}

// inventory checks that the backend reports capacity for the scheduler.
func (s *suite) inventory(t *testing.T) {
	b := s.h.New(t)
	hosts, err := b.Inventory().Hosts(t.Context())
	if err != nil {
		t.Fatalf("Hosts: %v", err)
	}
	if len(hosts) == 0 {
		t.Fatal("Hosts() is empty; every backend reports at least one (pseudo-)host")
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		if h.Name == "" {
			t.Errorf("a host has no name: %+v", h)
		}
		if seen[h.Name] {
			t.Errorf("host %q is reported twice", h.Name)
		}
		seen[h.Name] = true
		if h.VCPUs <= 0 || h.RAMMB <= 0 || h.DiskGB <= 0 {
			t.Errorf("host %q has no positive capacity: vcpus=%d ram_mb=%d disk_gb=%d", h.Name, h.VCPUs, h.RAMMB, h.DiskGB)
		}
	}
}

// images checks import (idempotent), get and delete, or ErrNotSupported.
func (s *suite) images(t *testing.T) {
	b := s.h.New(t)
	ctx := t.Context()
	d := b.Images()
	if !b.Capabilities().Images {
		wantNotSupported(t, "ImportImage", func() error {
			_, err := d.ImportImage(ctx, proxies.ImageSpec{ID: newID()}, s.reader())
			return err
		})
		wantNotSupported(t, "GetImage", func() error { _, err := d.GetImage(ctx, newID()); return err })
		wantNotSupported(t, "DeleteImage", func() error { return d.DeleteImage(ctx, newID()) })
		return
	}
	spec := s.imageSpec()
	st := s.importImage(t, b)
	if st.ID != spec.ID || !st.Ready {
		t.Errorf("ImportImage = %+v; want id %s and ready", st, spec.ID)
	}
	again, err := d.ImportImage(ctx, spec, s.reader())
	if err != nil || again.ID != st.ID || again.BottomID != st.BottomID {
		t.Errorf("ImportImage retried = %+v, %v; want the same copy %+v", again, err, st)
	}
	if got, err := d.GetImage(ctx, spec.ID); err != nil || got.BottomID != st.BottomID {
		t.Errorf("GetImage = %+v, %v; want %+v", got, err, st)
	}
	if _, err := d.GetImage(ctx, newID()); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetImage(unknown) error = %v; want ErrNotFound", err)
	}
}

// networks checks that EnsureNetwork is idempotent and delete too.
func (s *suite) networks(t *testing.T) {
	b := s.h.New(t)
	ctx := t.Context()
	d := b.Networks()
	spec := proxies.NetworkSpec{ID: newID(), ProjectID: "contract", Name: "contract-net", MTU: 1450,
		Subnets: []proxies.SubnetSpec{{ID: newID(), CIDR: "10.77.0.0/24", GatewayIP: "10.77.0.1", IPVersion: 4}}}
	if !b.Capabilities().Networks {
		wantNotSupported(t, "EnsureNetwork", func() error { _, err := d.EnsureNetwork(ctx, spec); return err })
		wantNotSupported(t, "DeleteNetwork", func() error { return d.DeleteNetwork(ctx, spec.ID) })
		return
	}
	first, err := d.EnsureNetwork(ctx, spec)
	if err != nil {
		t.Fatalf("EnsureNetwork: %v", err)
	}
	if first.ID != spec.ID || first.BottomID == "" {
		t.Errorf("EnsureNetwork = %+v; want id %s and a bottom id", first, spec.ID)
	}
	second, err := d.EnsureNetwork(ctx, spec)
	if err != nil || second != first {
		t.Errorf("EnsureNetwork retried = %+v, %v; want the same network %+v", second, err, first)
	}
	for i := range 2 {
		if err := d.DeleteNetwork(ctx, spec.ID); err != nil {
			t.Errorf("DeleteNetwork #%d = %v; want nil (idempotent)", i+1, err)
		}
	}
	t.Run("external_and_invalid", s.networkResources)
}

func (s *suite) imageSpec() proxies.ImageSpec {
	spec := s.h.Image
	if spec.ID == "" {
		spec.ID = s.h.ImageID
	}
	return spec
}

func (s *suite) reader() proxies.ImageReader {
	return func(ctx context.Context) (io.ReadSeekCloser, error) {
		if s.h.ImageData == nil {
			return nil, errors.New("contracttest: Harness.ImageData is not set")
		}
		return s.h.ImageData(), nil
	}
}

// importImage gives b the harness image when b declares images.
func (s *suite) importImage(t *testing.T, b proxies.Backend) proxies.ImageStatus {
	t.Helper()
	if !b.Capabilities().Images {
		return proxies.ImageStatus{}
	}
	st, err := b.Images().ImportImage(t.Context(), s.imageSpec(), s.reader())
	if err != nil {
		t.Fatalf("ImportImage(%s): %v", s.imageSpec().ID, err)
	}
	return st
}

// wantNotSupported fails unless call returns an error matching ErrNotSupported.
func wantNotSupported(t *testing.T, op string, call func() error) {
	t.Helper()
	if err := call(); !errors.Is(err, proxies.ErrNotSupported) {
		t.Errorf("%s on a backend that declares it unsupported = %v; want ErrNotSupported", op, err)
	}
}

// newID is a random UUID, as Canopy mints top ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// shortID is the first block of an id, for readable names.
func shortID(id string) string {
	head, _, _ := strings.Cut(id, "-")
	return head
}
