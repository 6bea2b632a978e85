package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/localcloud/libvirt"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// LabelAgent marks hosts registered by `canopy agent`: "registered" while
// the gateway cannot send the agent commands (the host is then registered
// disabled, so nothing is placed on it), "enabled" with --enable.
const LabelAgent = "canopy.agent"

// runAgent runs `canopy agent`: the host agent of one KVM host. It connects
// to the host's libvirtd, registers the host's inventory in the registry
// through the scheduler (the path the pool's hosts take at gateway start)
// and heartbeats it (scheduler.ReportHost: three missed beats and the host
// is down; the pool's inventory pass leaves it alone); on exit it reports
// the host down.
//
// The gateway cannot yet send commands to a remote agent (no transport), so
// the host is registered disabled unless --enable says the gateway drives
// it in-process (its kvm_hosts lists it and reaches its libvirtd).
func runAgent(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("canopy agent", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: canopy agent [flags]\n\nRegisters this KVM host in the registry and heartbeats it.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	path := fs.String("config", "/etc/canopy/canopy.yaml", "configuration file: registry, and the local cloud whose kvm_hosts describe this host")
	redisURL := fs.String("redis", "", "registry URL (redis://host:6379/0); replaces the config file's registry, and the file is then not read")
	cloud := fs.String("cloud", "", "name of the local cloud the host belongs to (default: the config's local cloud, or \"local\")")
	hostName := fs.String("host", "", "kvm_hosts entry (name) this agent runs (default: the only entry, else libvirt's hostname)")
	socket := fs.String("socket", "", "libvirtd socket (default: the entry's, else "+libvirt.DefaultSocket+")")
	domainType := fs.String("domain-type", "", "kvm or qemu (default: the entry's, else kvm)")
	zone := fs.String("zone", "", "availability zone (default: the entry's, else the cloud's, else nova)")
	stateDir := fs.String("state-dir", "", "image cache, disks and console logs (default: the entry's, else "+libvirt.DefaultStateDir+")")
	heartbeat := fs.Duration("heartbeat", 10*time.Second, "interval between inventory reports")
	enable := fs.Bool("enable", false, "register the host schedulable (only when the gateway drives it in-process)")
	once := fs.Bool("once", false, "register once and exit")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("canopy agent takes no arguments (got %q); see canopy agent --help", fs.Args())
	}
	if *heartbeat < time.Second {
		return fmt.Errorf("--heartbeat must be at least 1s (got %s)", *heartbeat)
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	ropts, kvm, cloudName, err := agentConfig(*path, *redisURL, *cloud, *hostName)
	if err != nil {
		return err
	}
	for _, o := range []struct {
		flag  string
		field *string
	}{{*socket, &kvm.Socket}, {*domainType, &kvm.DomainType}, {*zone, &kvm.AvailabilityZone}, {*stateDir, &kvm.StateDir}} {
		if o.flag != "" {
			*o.field = o.flag
		}
	}
	host, err := libvirt.New(kvm, libvirt.Options{Log: log})
	if err != nil {
		return err
	}
	defer host.Close()
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = host.Start(startCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("libvirtd: %w", err)
	}
	reg, err := registry.Open(ctx, ropts)
	if err != nil {
		return err
	}
	defer reg.Close()
	a := &agent{sched: scheduler.New(reg, scheduler.Options{}), cloud: cloudName, host: host, enable: *enable, log: log}
	if !*enable {
		log.Warn("registering the host disabled: the gateway cannot send commands to a remote agent yet; use --enable when the gateway drives this host in-process",
			"host", host.Name())
	}
	return a.run(ctx, *heartbeat, *once)
}

// agentConfig reads the registry options and this host's kvm_hosts entry.
func agentConfig(path, redisURL, cloud, hostName string) (registry.Options, localcloud.KVMHostConfig, string, error) {
	kvm := localcloud.KVMHostConfig{Name: hostName}
	if redisURL != "" {
		if cloud == "" {
			cloud = "local"
		}
		return registry.Options{URL: redisURL}, kvm, cloud, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return registry.Options{}, kvm, "", err
	}
	ropts := registry.Options{URL: cfg.Registry.URL, Addrs: cfg.Registry.Addrs, MasterName: cfg.Registry.MasterName}
	if cfg.Registry.PasswordFrom != "" {
		if ropts.Password, err = config.Secret(cfg.Registry.PasswordFrom); err != nil {
			return ropts, kvm, "", fmt.Errorf("registry.password_from: %w", err)
		}
	}
	for _, c := range cfg.Clouds {
		if c.Type != "local" || (cloud != "" && c.Name != cloud) {
			continue
		}
		local := localcloud.Config{}
		if !c.Local.IsZero() {
			if err := c.Local.Decode(&local); err != nil {
				return ropts, kvm, "", fmt.Errorf("clouds[%s].local: %w", c.Name, err)
			}
		}
		entry, err := pickKVMHost(local.KVMHosts, hostName)
		if err != nil {
			return ropts, kvm, "", fmt.Errorf("clouds[%s].local.kvm_hosts: %w", c.Name, err)
		}
		if entry.AvailabilityZone == "" {
			entry.AvailabilityZone = c.AvailabilityZone
		}
		return ropts, entry, c.Name, nil
	}
	if cloud != "" {
		return ropts, kvm, "", fmt.Errorf("--cloud %q: no local cloud of that name in %s", cloud, path)
	}
	return ropts, kvm, "local", nil
}

// pickKVMHost chooses this agent's entry: the one named name, or the only
// one; none listed means the defaults.
func pickKVMHost(hosts []localcloud.KVMHostConfig, name string) (localcloud.KVMHostConfig, error) {
	for _, h := range hosts {
		if name != "" && h.Name == name {
			return h, nil
		}
	}
	switch {
	case name == "" && len(hosts) == 1:
		return hosts[0], nil
	case name == "" && len(hosts) > 1:
		return localcloud.KVMHostConfig{}, errors.New("several hosts are listed; name this one with --host")
	case name != "" && len(hosts) > 0:
		return localcloud.KVMHostConfig{}, fmt.Errorf("no entry is named %q", name)
	}
	return localcloud.KVMHostConfig{Name: name}, nil
}

// inventorySource is the one call the agent makes of its host.
type inventorySource interface {
	Name() string
	Inventory(ctx context.Context) (proxies.Host, error)
}

// agent registers and heartbeats one host.
type agent struct {
	sched  *scheduler.Scheduler
	cloud  string
	host   inventorySource
	enable bool
	every  time.Duration // the heartbeat interval
	log    *slog.Logger
}

// run heartbeats until ctx ends (or once), then reports the host down.
func (a *agent) run(ctx context.Context, every time.Duration, once bool) error {
	a.every = every
	if err := a.beat(ctx, true); err != nil {
		return err
	}
	a.log.Info("host registered", "cloud", a.cloud, "host", a.host.Name())
	if once {
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			down, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := a.beat(down, false); err != nil {
				a.log.Warn("could not report the host down", "host", a.host.Name(), "err", err)
			}
			return nil
		case <-t.C:
			if err := a.beat(ctx, true); err != nil && ctx.Err() == nil {
				a.log.Warn("heartbeat failed", "host", a.host.Name(), "err", err)
			}
		}
	}
}

// beat writes the host's inventory (up as libvirt reports it, or down when
// alive is false) into the registry.
func (a *agent) beat(ctx context.Context, alive bool) error {
	inv, err := a.host.Inventory(ctx)
	if err != nil {
		return err
	}
	inv.Up = inv.Up && alive
	inv.Enabled = a.enable
	if inv.Labels == nil {
		inv.Labels = map[string]string{}
	}
	inv.Labels[LabelAgent] = "registered"
	if a.enable {
		inv.Labels[LabelAgent] = "enabled"
	}
	return a.sched.ReportHost(ctx, a.cloud, inv, heartbeatTTL(a.every))
}

// heartbeatTTL is how long a host stays up after its last heartbeat: three
// missed beats and the scheduler stops placing there.
func heartbeatTTL(every time.Duration) time.Duration {
	if every <= 0 {
		every = 10 * time.Second // the --heartbeat default
	}
	return 3 * every
}
