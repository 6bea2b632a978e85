package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/localcloud/libvirt"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

func devRegistry(t *testing.T) (*registry.DevServer, *scheduler.Scheduler) {
	t.Helper()
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return dev, scheduler.New(reg, scheduler.Options{})
}

func hostsOf(t *testing.T, s *scheduler.Scheduler, cloud string) map[string]scheduler.HostState {
	t.Helper()
	snap, err := s.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]scheduler.HostState{}
	for _, h := range snap.Hosts {
		if h.Cloud == cloud {
			out[h.Host] = h
		}
	}
	return out
}

// fakeInventory is a host whose inventory the test sets.
type fakeInventory struct{ inv proxies.Host }

func (f *fakeInventory) Name() string { return f.inv.Name }
func (f *fakeInventory) Inventory(context.Context) (proxies.Host, error) {
	return f.inv, nil
}

func TestAgentRegistersWithoutTouchingOtherHosts(t *testing.T) {
	_, s := devRegistry(t)
	ctx := t.Context()
	sims := []proxies.Host{
		{Name: "sim-1", AvailabilityZone: "nova", HypervisorType: "fake", Up: true, Enabled: true, VCPUs: 8, RAMMB: 8192, DiskGB: 100},
		{Name: "sim-2", AvailabilityZone: "nova", HypervisorType: "fake", Up: true, Enabled: true, VCPUs: 8, RAMMB: 8192, DiskGB: 100},
	}
	if err := s.SyncHosts(ctx, "local", sims); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncHosts(ctx, "other", sims[:1]); err != nil {
		t.Fatal(err)
	}
	kvm := &fakeInventory{proxies.Host{Name: "kvm-1", AvailabilityZone: "nova", HypervisorType: "kvm", Up: true, VCPUs: 4, RAMMB: 4096, DiskGB: 50}}
	a := &agent{sched: s, cloud: "local", host: kvm, log: slog.New(slog.DiscardHandler)}
	if err := a.run(ctx, 0, true); err != nil {
		t.Fatal(err)
	}
	hs := hostsOf(t, s, "local")
	if len(hs) != 3 || !hs["sim-1"].Up || !hs["sim-2"].Up || !hs["kvm-1"].Up {
		t.Fatalf("after registration hosts = %+v; want sim-1, sim-2 and kvm-1 up", hs)
	}
	if k := hs["kvm-1"]; k.Enabled || k.HypervisorType != "kvm" || k.VCPUs != 4 || k.Labels[LabelAgent] != "registered" {
		t.Errorf("kvm-1 = %+v; want it disabled (no command transport yet), kvm, 4 vCPUs, labelled", k)
	}
	// The pool's own inventory pass (the gateway's loop) leaves the agent's host alone.
	if err := s.SyncHosts(ctx, "local", sims); err != nil {
		t.Fatal(err)
	}
	if k := hostsOf(t, s, "local")["kvm-1"]; !k.Up || k.VCPUs != 4 {
		t.Fatalf("after the pool's inventory pass kvm-1 = %+v; want it still up (it reports itself)", k)
	}
	a.enable = true
	kvm.inv.VCPUs = 6
	if err := a.beat(ctx, true); err != nil {
		t.Fatal(err)
	}
	if k := hostsOf(t, s, "local")["kvm-1"]; !k.Enabled || k.VCPUs != 6 || k.Labels[LabelAgent] != "enabled" {
		t.Errorf("after a heartbeat kvm-1 = %+v; want enabled with 6 vCPUs", k)
	}
	if err := a.beat(ctx, false); err != nil {
		t.Fatal(err)
	}
	hs = hostsOf(t, s, "local")
	if hs["kvm-1"].Up || !hs["sim-1"].Up || !hs["sim-2"].Up {
		t.Errorf("after the agent stopped hosts = %+v; want only kvm-1 down", hs)
	}
	if o := hostsOf(t, s, "other"); len(o) != 1 || !o["sim-1"].Up {
		t.Errorf("another cloud's hosts = %+v; want untouched", o)
	}
}

func TestPickKVMHost(t *testing.T) {
	if _, err := pickKVMHost(nil, ""); err != nil {
		t.Errorf("no entries: %v; want the defaults", err)
	}
	if _, err := pickKVMHost(make([]localcloud.KVMHostConfig, 2), ""); err == nil {
		t.Error("two entries and no --host chose one")
	}
	if h, err := pickKVMHost([]localcloud.KVMHostConfig{{Name: "a"}, {Name: "b"}}, "b"); err != nil || h.Name != "b" {
		t.Errorf("--host b = %+v, %v", h, err)
	}
	if _, err := pickKVMHost([]localcloud.KVMHostConfig{{Name: "a"}}, "c"); err == nil {
		t.Error("--host c matched an entry named a")
	}
}

// TestAgentOnceAgainstLibvirt runs `canopy agent --once` against the local
// libvirtd and the dev registry.
func TestAgentOnceAgainstLibvirt(t *testing.T) {
	if err := libvirt.Probe(t.Context(), ""); err != nil {
		const needs = "apt-get install -y libvirt-daemon-system qemu-system-x86; virtlogd -d; libvirtd -d"
		if os.Getenv("CI") == "true" {
			t.Fatalf("libvirtd does not answer: %v; CI must run: %s", err, needs)
		}
		t.Skipf("libvirtd does not answer: %v (%s)", err, needs)
	}
	dev, s := devRegistry(t)
	dir := t.TempDir()
	err := runAgent(t.Context(), []string{"--redis", dev.URL(), "--once", "--host", "agent-test", "--domain-type", "qemu", "--state-dir", dir, "--log-level", "error"})
	if err != nil {
		t.Fatalf("canopy agent --once: %v", err)
	}
	h, ok := hostsOf(t, s, "local")["agent-test"]
	if !ok || !h.Up || h.Enabled || h.HypervisorType != "qemu" || h.VCPUs < 1 || h.RAMMB < 1 {
		t.Errorf("registered host = %+v, %v; want agent-test up, disabled, qemu, with capacity", h, ok)
	}
}

const agentYAML = `
registry: {url: "redis://127.0.0.1:6399/0"}
clouds:
  - name: pool
    type: local
    availability_zone: az9
    local:
      simulated_hosts: 0
      kvm_hosts:
        - {name: kvm-a, domain_type: qemu}
        - {name: kvm-b, availability_zone: az2}
`

func TestAgentConfigFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "canopy.yaml")
	if err := os.WriteFile(path, []byte(agentYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	ropts, kvm, cloud, err := agentConfig(path, "", "", "kvm-a")
	if err != nil {
		t.Fatal(err)
	}
	if ropts.URL != "redis://127.0.0.1:6399/0" || cloud != "pool" || kvm.Name != "kvm-a" || kvm.DomainType != "qemu" || kvm.AvailabilityZone != "az9" {
		t.Errorf("agentConfig = %+v, %+v, %q; want kvm-a of cloud pool in az9", ropts, kvm, cloud)
	}
	if _, kvm, _, err := agentConfig(path, "", "pool", "kvm-b"); err != nil || kvm.AvailabilityZone != "az2" {
		t.Errorf("kvm-b = %+v, %v; want its own zone az2", kvm, err)
	}
	if _, _, _, err := agentConfig(path, "", "", ""); err == nil || !strings.Contains(err.Error(), "--host") {
		t.Errorf("two kvm_hosts and no --host: %v; want an error naming --host", err)
	}
	if _, _, _, err := agentConfig(path, "", "elsewhere", ""); err == nil {
		t.Error("an unknown --cloud was accepted")
	}
}
