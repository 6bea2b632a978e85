package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/canopy-cloud/canopy/app/backends"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/localcloud/libvirt"
	"github.com/canopy-cloud/canopy/registry"
)

// runDev runs `canopy dev`: the gateway, an in-memory registry (or --redis),
// and the local pool with simulated hosts, with users, flavors, images and
// networks bootstrapped, and a clouds.yaml written for openstackclient.
func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("canopy dev", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: canopy dev [flags]\n\nRuns the whole of Canopy in one process for development and demos.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	dataDir := fs.String("data-dir", ".canopy-dev", "directory for clouds.yaml, dev passwords, Fernet keys and image data")
	listen := fs.String("listen", "127.0.0.1:5000", "HTTP listen address")
	publicURL := fs.String("public-url", "", "base URL clients use (default http://<listen>)")
	redisURL := fs.String("redis", "", "use a real Redis (redis://host:6379/0) instead of the in-memory, NOT durable registry")
	region := fs.String("region", "RegionOne", "Keystone region name")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	local := localcloud.DefaultConfig()
	fs.IntVar(&local.SimulatedHosts, "hosts", local.SimulatedHosts, "number of simulated hosts in the local pool")
	fs.IntVar(&local.HostVCPUs, "host-vcpus", local.HostVCPUs, "vCPUs of each simulated host")
	fs.IntVar(&local.HostRAMMB, "host-ram-mb", local.HostRAMMB, "RAM (MB) of each simulated host")
	fs.IntVar(&local.HostDiskGB, "host-disk-gb", local.HostDiskGB, "disk (GB) of each simulated host")
	fs.DurationVar(&local.BuildDelay, "build-delay", 500*time.Millisecond, "simulated time to build a server (and to stop/start/reboot: a fraction of it)")
	fs.Float64Var(&local.FailureRate, "fail-rate", 0, "fraction (0..1) of simulated server creates that fail, to exercise error paths")
	sims := fs.String("sim", "", "simulated clouds to federate beside the local pool, comma-separated: "+strings.Join(devSimKinds, ", ")+
		" (each <kind>-sim, its own availability zone; aws needs moto)")
	kvm := fs.Bool("kvm", false, "add a real KVM host (TCG guests) to the local pool through the local libvirtd (needs libvirt-daemon-system, qemu-system-x86, genisoimage)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("canopy dev takes no arguments (got %q); see canopy dev --help", fs.Args())
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	local.ApplyBuildDelay(local.BuildDelay)
	if err := local.Validate(); err != nil {
		return err
	}
	if *publicURL == "" {
		*publicURL = "http://" + *listen
	}
	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}

	var reg *registry.Registry
	if *redisURL != "" {
		reg, err = registry.Open(ctx, registry.Options{URL: *redisURL})
	} else {
		var dev *registry.DevServer
		dev, err = registry.StartDevServer(log)
		if err == nil {
			defer dev.Close()
			reg, err = dev.Open(ctx)
		}
	}
	if err != nil {
		return err
	}
	defer reg.Close()

	if *kvm {
		if err := libvirt.Probe(ctx, ""); err != nil {
			return fmt.Errorf("--kvm: libvirtd does not answer (start it with `virtlogd -d; libvirtd -d`): %w", err)
		}
		local.KVMHosts = append(local.KVMHosts, libvirt.DevConfig(abs))
	}
	simClouds, types, stopSims, err := startDevSims(ctx, reg, *sims, log)
	if err != nil {
		return err
	}
	defer stopSims()
	a, err := app.New(ctx, reg, app.Options{
		PublicURL: *publicURL, Region: *region, DataDir: abs, TokenTTL: time.Hour, Local: local,
		Backends: simClouds, CloudTypes: types, Secret: config.Secret, BuildCloud: backends.BuildOne(reg, log),
	}, log)
	if err != nil {
		return err
	}
	users, err := app.LoadOrCreateDevUsers(abs)
	if err != nil {
		return err
	}
	if _, err := a.BootstrapDev(ctx, users); err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	defer a.Close()

	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	authURL := *publicURL + "/identity/v3"
	clouds, err := app.WriteCloudsYAML(abs, authURL, *region, users)
	if err != nil {
		return err
	}
	printDevBanner(*publicURL, clouds, authURL, users, *redisURL == "")
	log.Info("canopy dev is serving", "url", *publicURL, "hosts", local.SimulatedHosts)
	return a.Serve(ctx, l)
}

func printDevBanner(url, clouds, authURL string, users []app.DevUser, inMemory bool) {
	fmt.Printf("Canopy dev cloud at %s\n", url)
	if inMemory {
		fmt.Println("WARNING: the registry is in memory and NOT durable: everything is lost on exit (use --redis URL).")
	}
	fmt.Printf("clouds.yaml: %s\n", clouds)
	fmt.Println("Use it with openstackclient:")
	fmt.Printf("  export OS_CLIENT_CONFIG_FILE=%s OS_CLOUD=demo\n", clouds)
	for _, u := range users {
		if u.Name != "demo" {
			continue
		}
		fmt.Println("or, as the demo user:")
		fmt.Printf("  export OS_AUTH_URL=%s OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=RegionOne\n", authURL)
		fmt.Printf("  export OS_USERNAME=%s OS_PASSWORD=%s OS_PROJECT_NAME=%s\n", u.Name, u.Password, u.Project)
		fmt.Println("  export OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default")
	}
}
