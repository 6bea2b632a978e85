package libvirt_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/imagestore"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/localcloud/bootdisk"
	"github.com/canopy-cloud/canopy/localcloud/libvirt"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/contracttest"
)

// needs is what CI must install and start for these tests (.ci/run).
const needs = "apt-get install -y --no-install-recommends libvirt-daemon-system qemu-system-x86 qemu-utils genisoimage; " +
	"mkdir -p /run/libvirt; virtlogd -d; libvirtd -d; [ -e /dev/kvm ] && chgrp kvm /dev/kvm && chmod 0660 /dev/kvm"

// requireLibvirt skips (or, under CI=true, fails) when libvirtd, qemu-img or
// an ISO writer is missing.
func requireLibvirt(t *testing.T) {
	t.Helper()
	missing := func(what string, err error) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v; CI must run: %s", what, err, needs)
		}
		t.Skipf("%s: %v (to run: %s)", what, err, needs)
	}
	for _, bin := range []string{"qemu-img", "genisoimage"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing(bin+" is not installed", err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := libvirt.Probe(ctx, ""); err != nil {
		missing("libvirtd does not answer on "+libvirt.DefaultSocket, err)
	}
}

// The gateway's image store is what the wiring gives hosts as their source.
var _ libvirt.ImageSource = (*imagestore.FS)(nil)

// imageMap is an ImageSource over bytes held in memory.
type imageMap map[string][]byte

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func (m imageMap) Open(ctx context.Context, id string) (io.ReadSeekCloser, int64, error) {
	b, ok := m[id]
	if !ok {
		return nil, 0, fmt.Errorf("image %s: %w", id, os.ErrNotExist)
	}
	return nopCloser{bytes.NewReader(b)}, int64(len(b)), nil
}

// stateDir is a state directory QEMU (running as libvirt-qemu) can enter.
func stateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// newHost starts a TCG host on the local libvirtd whose domains are cleaned
// up with the test.
func newHost(t *testing.T, images imageMap) *libvirt.Host {
	t.Helper()
	requireLibvirt(t)
	h, err := libvirt.New(localcloud.KVMHostConfig{
		Name: "kvm-test", DomainType: localcloud.HypervisorTypeQEMU, StateDir: stateDir(t),
		ShutdownTimeout: time.Second, CallTimeout: 30 * time.Second,
	}, libvirt.Options{Images: images})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if doms, err := h.Domains(ctx); err == nil {
			for _, d := range doms {
				if owned[d.ID] {
					_ = h.DestroyDomain(ctx, d.ID)
				}
			}
		}
		h.Close()
	})
	return h
}

// owned are the servers these tests made (the host may hold others).
var owned = map[string]bool{}

func newID() string {
	b := make([]byte, 16)
	f, _ := os.Open("/dev/urandom")
	defer f.Close()
	_, _ = io.ReadFull(f, b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	owned[id] = true
	return id
}

func bootImage(t *testing.T, tag string) []byte {
	t.Helper()
	disk, err := bootdisk.Build(tag, bootdisk.DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	return disk
}

func imageSpec(id string, data []byte) proxies.ImageSpec {
	md, sh := md5.Sum(data), sha512.Sum512(data)
	return proxies.ImageSpec{ID: id, Name: "contract", DiskFormat: "raw", ContainerFormat: "bare",
		Size: int64(len(data)), Checksum: hex.EncodeToString(md[:]), SHA512: hex.EncodeToString(sh[:])}
}

// waitConsole polls the console until it holds want.
func waitConsole(t *testing.T, read func(context.Context) (string, error), want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for {
		out, err := read(ctx)
		if err == nil && strings.Contains(out, want) {
			return out
		}
		select {
		case <-ctx.Done():
			t.Fatalf("console never showed %q: last %q, %v", want, out, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestContract runs the contract suite against a pool whose only host is a
// real libvirt host running TCG guests.
func TestContract(t *testing.T) {
	removeNewBridges(t)
	imageID := "7c1f0a52-1b1e-4c55-9a55-00000000b007"
	img := bootImage(t, "contract")
	images := imageMap{imageID: img}
	contracttest.Run(t, contracttest.Harness{
		New: func(t *testing.T) proxies.Backend {
			h := newHost(t, images)
			cfg := localcloud.DefaultConfig()
			cfg.SimulatedHosts = 0
			cfg.KVMHosts = []localcloud.KVMHostConfig{{Name: h.Name()}}
			p, err := localcloud.New("local-kvm", cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AddHost(h); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			return &ownedPool{p}
		},
		Image:     imageSpec(imageID, img),
		ImageData: func() io.ReadSeekCloser { return nopCloser{bytes.NewReader(img)} },
		Flavor:    proxies.Flavor{ID: "kvm-tiny", Name: "kvm.tiny", VCPUs: 1, RAMMB: 64, DiskGB: 1},
		Timeout:   90 * time.Second,
	})
}

// ownedPool marks the servers the suite creates as the tests' own, so
// cleanup removes them. The pool declares security groups: its KVM host
// enforces them with nwfilters, so the securitygroups group runs for real.
type ownedPool struct{ *localcloud.Pool }

func (p *ownedPool) Servers() proxies.ServerDriver { return ownedServers{p.Pool.Servers()} }

type ownedServers struct{ proxies.ServerDriver }

func (s ownedServers) CreateServer(ctx context.Context, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	owned[spec.ID] = true
	return s.ServerDriver.CreateServer(ctx, spec)
}

// TestBootsRealGuest boots the bootdisk image as a TCG guest and reads the
// line its boot sector prints through the pool's ConsoleOutput: proof that
// guest code ran, which no simulated host can fake.
func TestBootsRealGuest(t *testing.T) {
	requireLibvirt(t)
	imageID := newID()
	cfg := localcloud.DefaultConfig()
	cfg.SimulatedHosts = 0
	cfg.KVMHosts = []localcloud.KVMHostConfig{{Name: "kvm-boot", DomainType: "qemu", StateDir: stateDir(t), ShutdownTimeout: time.Second}}
	p, err := localcloud.New("local-kvm", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hosts, err := libvirt.AddToPool(t.Context(), p, cfg, libvirt.Options{Images: imageMap{imageID: bootImage(t, "kvm-boot")}})
	if err != nil || len(hosts) != 1 {
		t.Fatalf("AddToPool = %v, %v; want one host", hosts, err)
	}
	h := hosts[0]
	id := newID()
	st, err := p.Servers().CreateServer(t.Context(), proxies.ServerSpec{ID: id, ProjectID: "p", Name: "boot", ImageID: imageID,
		Flavor: proxies.Flavor{ID: "t", Name: "tiny", VCPUs: 1, RAMMB: 64, DiskGB: 1}})
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	defer h.DestroyDomain(context.WithoutCancel(t.Context()), id)
	if st.State != proxies.StateActive || st.PowerState != proxies.PowerRunning || st.Host != h.Name() {
		t.Errorf("CreateServer = %+v; want active, running, on %s", st, h.Name())
	}
	read := func(ctx context.Context) (string, error) { return p.Servers().ConsoleOutput(ctx, id, 0) }
	out := waitConsole(t, read, bootdisk.Line("kvm-boot"))
	t.Logf("console: %q", out)
	if err := p.Servers().DeleteServer(t.Context(), id); err != nil {
		t.Fatalf("DeleteServer: %v", err)
	}
	if _, err := h.Domain(t.Context(), id); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("Domain after delete = %v; want ErrNotFound", err)
	}
}

func tinyFlavor() proxies.Flavor {
	return proxies.Flavor{ID: "t", Name: "tiny", VCPUs: 1, RAMMB: 64, DiskGB: 1}
}

// create makes a server on h and fails the test on an error.
func create(t *testing.T, h *libvirt.Host, spec proxies.ServerSpec) proxies.ServerStatus {
	t.Helper()
	if spec.ID == "" {
		spec.ID = newID()
	}
	if spec.Flavor.ID == "" {
		spec.Flavor = tinyFlavor()
	}
	st, err := h.CreateDomain(t.Context(), spec)
	if err != nil {
		t.Fatalf("CreateDomain: %v", err)
	}
	return st
}

func console(h *libvirt.Host, id string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) { return h.ConsoleLog(ctx, id, 0) }
}

func TestInventoryAndCapacity(t *testing.T) {
	h := newHost(t, imageMap{})
	inv, err := h.Inventory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !inv.Up || inv.HypervisorType != localcloud.HypervisorTypeQEMU || inv.VCPUs < 1 || inv.RAMMB < 1 || inv.DiskGB < 1 {
		t.Errorf("Inventory = %+v; want an up qemu host with positive capacity", inv)
	}
	if !slices.ContainsFunc(inv.Traits, func(s string) bool { return strings.HasPrefix(s, "HW_CPU_X86_") }) {
		t.Errorf("traits %v; want the host CPU's features as HW_CPU_X86_*", inv.Traits)
	}
	huge := proxies.Flavor{ID: "huge", Name: "huge", VCPUs: 1, RAMMB: inv.RAMMB * 2, DiskGB: 1}
	_, err = h.CreateDomain(t.Context(), proxies.ServerSpec{ID: newID(), ImageID: "none", Flavor: huge})
	if !errors.Is(err, proxies.ErrCapacity) {
		t.Errorf("CreateDomain of twice the host's RAM (x1.5 ratio) = %v; want ErrCapacity", err)
	}
	_, err = h.CreateDomain(t.Context(), proxies.ServerSpec{ID: newID(), ImageID: "missing", Flavor: tinyFlavor()})
	if !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("CreateDomain from an image the source lacks = %v; want ErrNotFound", err)
	}
	if _, err := h.CreateDomain(t.Context(), proxies.ServerSpec{ID: "../etc", ImageID: "x", Flavor: tinyFlavor()}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("CreateDomain with id ../etc = %v; want ErrInvalid", err)
	}
}

// TestRetryFindsDomainAfterRestart: the top id in the domain's name and
// metadata is the durable tag, so a fresh driver (a restarted agent) finds
// the domain a first create defined instead of making a second one.
func TestRetryFindsDomainAfterRestart(t *testing.T) {
	imageID := newID()
	images := imageMap{imageID: bootImage(t, "retry")}
	h := newHost(t, images)
	spec := proxies.ServerSpec{ID: newID(), ProjectID: "p", Name: "retry", ImageID: imageID, Flavor: tinyFlavor()}
	first := create(t, h, spec)
	again, err := libvirt.New(localcloud.KVMHostConfig{Name: h.Name(), DomainType: "qemu", StateDir: t.TempDir()}, libvirt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	st, err := again.CreateDomain(t.Context(), spec)
	if err != nil || st.BottomID != first.BottomID {
		t.Fatalf("CreateDomain retried through a new driver = %+v, %v; want the first domain %s", st, err, first.BottomID)
	}
	doms, err := again.Domains(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range doms {
		if d.ID == spec.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("Domains lists server %s %d times; want once", spec.ID, n)
	}
}

// TestNICsAndSecurityGroups: NICs land on the network's bridge with their
// MAC, are reported back, hot-plug and unplug; their security groups are
// libvirt nwfilters that libvirt instantiates as firewall rules on the
// guest's tap.
func TestNICsAndSecurityGroups(t *testing.T) {
	imageID := newID()
	h := newHost(t, imageMap{imageID: bootImage(t, "nic")})
	ctx := t.Context()
	netID := newID()
	ssh := proxies.SecurityGroupSpec{ID: newID(), Name: "ssh", Rules: []proxies.SecurityGroupRule{
		{ID: "r1", Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortMin: 22, PortMax: 22, RemoteIPPrefix: "192.0.2.0/24"},
		{ID: "r2", Direction: "egress", EtherType: "IPv4"}}}
	web := proxies.SecurityGroupSpec{ID: newID(), Name: "web", Rules: []proxies.SecurityGroupRule{
		{ID: "r3", Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortMin: 8443, PortMax: 8443}}}
	for range 2 {
		if err := h.SetGroups(ctx, []proxies.SecurityGroupSpec{ssh, web}); err != nil {
			t.Fatalf("SetGroups (define, then redefine): %v", err)
		}
	}
	t.Cleanup(func() {
		for _, g := range []string{ssh.ID, web.ID} {
			_ = h.DeleteGroup(context.WithoutCancel(ctx), g)
		}
	})
	if doc, err := h.GroupFilterXML(ctx, ssh.ID); err != nil || !strings.Contains(doc, `dstportstart='22'`) || !strings.Contains(doc, `srcipaddr='192.0.2.0'`) {
		t.Errorf("GroupFilterXML(ssh) = %s, %v; want the port 22 rule from 192.0.2.0/24", doc, err)
	}
	nic := proxies.NIC{PortID: newID(), NetworkID: netID, MACAddress: "fa:16:3e:12:34:56", FixedIPs: []string{"10.99.0.5"}, SecurityGroupIDs: []string{ssh.ID}}
	st := create(t, h, proxies.ServerSpec{ImageID: imageID, NICs: []proxies.NIC{nic}})
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", localcloud.BridgeName(netID)).Run() })
	if _, err := net.InterfaceByName(localcloud.BridgeName(netID)); err != nil {
		t.Fatalf("bridge %s of the network: %v", localcloud.BridgeName(netID), err)
	}
	nics, err := h.DomainNICs(ctx, st.ID)
	if err != nil || len(nics) != 1 || nics[0].PortID != nic.PortID || nics[0].MACAddress != nic.MACAddress || nics[0].FixedIPs[0] != "10.99.0.5" ||
		!slices.Equal(nics[0].SecurityGroupIDs, []string{ssh.ID}) {
		t.Fatalf("DomainNICs = %+v, %v; want the one NIC %+v", nics, err, nic)
	}
	port, err := h.PortFilterXML(ctx, nic.PortID)
	if err != nil || !strings.Contains(port, "clean-traffic") || !strings.Contains(port, libvirt.GroupFilterName(ssh.ID)) {
		t.Errorf("PortFilterXML = %s, %v; want clean-traffic and the ssh group", port, err)
	}
	tap := "tap" + strings.ReplaceAll(nic.PortID, "-", "")[:11]
	if rules := firewall(t, "iptables-save"); !strings.Contains(rules, tap) || !strings.Contains(rules, "--dport 22") {
		t.Errorf("iptables-save has no rule of %s for port 22:\n%s", tap, rules)
	}
	if rules := firewall(t, "ebtables-save"); !strings.Contains(rules, tap) {
		t.Errorf("ebtables-save has no clean-traffic rule of %s:\n%s", tap, rules)
	}
	for i := range 2 {
		if err := h.SetDomainNICGroups(ctx, st.ID, nic.PortID, []string{ssh.ID, web.ID}); err != nil {
			t.Fatalf("SetDomainNICGroups #%d: %v", i+1, err)
		}
	}
	if rules := firewall(t, "iptables-save"); !strings.Contains(rules, "--dport 8443") {
		t.Errorf("after adding group web iptables-save has no rule for port 8443:\n%s", rules)
	}
	if err := h.DeleteGroup(ctx, web.ID); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("DeleteGroup of a group a NIC uses = %v; want ErrConflict", err)
	}
	if err := h.SetDomainNICGroups(ctx, st.ID, nic.PortID, []string{ssh.ID}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := h.DeleteGroup(ctx, web.ID); err != nil {
			t.Errorf("DeleteGroup #%d of an unused group = %v; want nil", i+1, err)
		}
	}
	second := proxies.NIC{PortID: newID(), NetworkID: netID, MACAddress: "fa:16:3e:65:43:21"}
	for i := range 2 {
		if _, err := h.AttachDomainNIC(ctx, st.ID, second); err != nil {
			t.Fatalf("AttachDomainNIC #%d: %v", i+1, err)
		}
	}
	if nics, _ := h.DomainNICs(ctx, st.ID); len(nics) != 2 {
		t.Errorf("after an attach (twice) DomainNICs = %+v; want 2 NICs", nics)
	}
	if _, err := h.StopDomain(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := h.DetachDomainNIC(ctx, st.ID, second.PortID); err != nil {
			t.Fatalf("DetachDomainNIC #%d: %v", i+1, err)
		}
	}
	if nics, _ := h.DomainNICs(ctx, st.ID); len(nics) != 1 {
		t.Errorf("after a detach DomainNICs = %+v; want 1 NIC", nics)
	}
	if _, err := h.PortFilterXML(ctx, second.PortID); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("PortFilterXML of a detached port = %v; want ErrNotFound", err)
	}
	if err := h.DestroyDomain(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PortFilterXML(ctx, nic.PortID); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("PortFilterXML after the server's delete = %v; want ErrNotFound", err)
	}
}

// firewall returns the output of an iptables-save or ebtables-save (the
// tools libvirt's nwfilter driver writes through).
func firewall(t *testing.T, tool string) string {
	t.Helper()
	out, err := exec.Command(tool).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("%s: %v: %s", tool, err, out)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; CI must configure the iptables package (dpkg --configure -a, or its update-alternatives) so libvirt finds iptables and ebtables", msg)
		}
		t.Skip(msg)
	}
	return string(out)
}

// TestResizeSnapshotRebuildVolumes drives the rest of a server's life on a
// real guest, proving each step by what the guest prints.
func TestResizeSnapshotRebuildVolumes(t *testing.T) {
	imgA, imgB := newID(), newID()
	h := newHost(t, imageMap{imgA: bootImage(t, "image-a"), imgB: bootImage(t, "image-b")})
	st := create(t, h, proxies.ServerSpec{ImageID: imgA})
	waitConsole(t, console(h, st.ID), bootdisk.Line("image-a"))

	bigger := proxies.Flavor{ID: "s", Name: "small", VCPUs: 2, RAMMB: 96, DiskGB: 2}
	rs, err := h.ResizeDomain(t.Context(), st.ID, bigger)
	if err != nil || rs.State != proxies.StateActive {
		t.Fatalf("ResizeDomain = %+v, %v; want active", rs, err)
	}
	if u, err := h.Usage(t.Context()); err != nil || u.VCPUs < 2 || u.RAMMB < 96 {
		t.Errorf("Usage after resize = %+v, %v; want the new flavor counted", u, err)
	}
	out := waitConsole(t, console(h, st.ID), "image-a\n\nCANOPY-BOOT-OK image-a")
	if strings.Count(out, bootdisk.Line("image-a")) < 2 {
		t.Errorf("console after resize %q; want a second boot", out)
	}
	if _, err := h.ResizeDomain(t.Context(), st.ID, tinyFlavor()); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("ResizeDomain to a smaller disk = %v; want ErrInvalid", err)
	}

	snapID := newID()
	img, err := h.SnapshotDomain(t.Context(), st.ID, snapID)
	if err != nil || !img.Ready || img.Size == 0 {
		t.Fatalf("SnapshotDomain = %+v, %v", img, err)
	}
	fromSnap := create(t, h, proxies.ServerSpec{ImageID: snapID})
	waitConsole(t, console(h, fromSnap.ID), bootdisk.Line("image-a"))

	rb, err := h.RebuildDomain(t.Context(), st.ID, proxies.RebuildSpec{ImageID: imgB, Name: "rebuilt"})
	if err != nil || rb.State != proxies.StateActive {
		t.Fatalf("RebuildDomain = %+v, %v; want active", rb, err)
	}
	waitConsole(t, console(h, st.ID), bootdisk.Line("image-b"))

	volID := newID()
	if _, err := h.CreateVolumeFile(t.Context(), volID, 1); err != nil {
		t.Fatal(err)
	}
	dev, err := h.AttachVolumeFile(t.Context(), st.ID, volID)
	if err != nil || dev != "/dev/vdb" {
		t.Fatalf("AttachVolumeFile = %q, %v; want /dev/vdb", dev, err)
	}
	if again, err := h.AttachVolumeFile(t.Context(), st.ID, volID); err != nil || again != dev {
		t.Errorf("AttachVolumeFile retried = %q, %v; want %s", again, err, dev)
	}
	if _, err := h.StopDomain(t.Context(), st.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.DetachVolumeFile(t.Context(), st.ID, volID); err != nil {
		t.Fatalf("DetachVolumeFile: %v", err)
	}
	if again, err := h.AttachVolumeFile(t.Context(), st.ID, volID); err != nil || again != dev {
		t.Errorf("AttachVolumeFile after a detach = %q, %v; want %s again", again, err, dev)
	}
	for _, id := range []string{st.ID, fromSnap.ID} {
		if err := h.DestroyDomain(t.Context(), id); err != nil {
			t.Errorf("DestroyDomain: %v", err)
		}
	}
	for i := range 2 {
		if err := h.DeleteVolumeFile(t.Context(), volID); err != nil {
			t.Errorf("DeleteVolumeFile #%d: %v", i+1, err)
		}
	}
}

// removeNewBridges deletes, when the test ends, the network bridges the
// host created during it (the pool does not yet tell hosts a network is
// gone).
func removeNewBridges(t *testing.T) {
	t.Helper()
	before := map[string]bool{}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		before[i.Name] = true
	}
	t.Cleanup(func() {
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			if strings.HasPrefix(i.Name, "brq") && !before[i.Name] {
				if out, err := exec.Command("ip", "link", "del", i.Name).CombinedOutput(); err != nil {
					t.Logf("ip link del %s: %v: %s", i.Name, err, out)
				}
			}
		}
	})
}
