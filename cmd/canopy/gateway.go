package main

import (
	"context"
	"flag"
	"fmt"
	"net"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/app/backends"
	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/gateway/identity"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/registry"
)

// runGateway runs `canopy gateway --config canopy.yaml` against a real Redis.
func runGateway(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("canopy gateway", flag.ContinueOnError)
	path := fs.String("config", "/etc/canopy/canopy.yaml", "configuration file (see deploy/canopy.example.yaml)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	ropts := registry.Options{URL: cfg.Registry.URL, Addrs: cfg.Registry.Addrs, MasterName: cfg.Registry.MasterName}
	if cfg.Registry.PasswordFrom != "" {
		if ropts.Password, err = config.Secret(cfg.Registry.PasswordFrom); err != nil {
			return fmt.Errorf("registry.password_from: %w", err)
		}
	}
	reg, err := registry.Open(ctx, ropts)
	if err != nil {
		return err
	}
	defer reg.Close()

	local := localcloud.DefaultConfig()
	name := "local"
	for _, c := range cfg.Clouds {
		if c.Type != "local" {
			continue
		}
		name = c.Name
		local.AvailabilityZone = c.AvailabilityZone
		if !c.Local.IsZero() {
			if err := c.Local.Decode(&local); err != nil {
				return fmt.Errorf("clouds[%s].local: %w", c.Name, err)
			}
		}
		if err := local.Validate(); err != nil {
			return fmt.Errorf("clouds[%s].local: %w", c.Name, err)
		}
	}
	clouds, types, err := backends.Build(ctx, reg, cfg.Clouds, log)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, reg, app.Options{
		PublicURL: cfg.PublicURL, Region: cfg.Region, DataDir: cfg.DataDir,
		KeyRepository: cfg.Identity.KeyRepository, TokenTTL: cfg.Identity.TokenTTL,
		Local: local, LocalName: name, Backends: clouds, CloudTypes: types, Secret: config.Secret,
		BuildCloud: backends.BuildOne(reg, log),
	}, log)
	if err != nil {
		backends.Close(clouds)
		return err
	}
	if cfg.Identity.AdminPasswordFrom != "" {
		pw, err := config.Secret(cfg.Identity.AdminPasswordFrom)
		if err != nil {
			return fmt.Errorf("identity.admin_password_from: %w", err)
		}
		if _, err := a.Identity.Bootstrap(ctx, []identity.BootstrapUser{{
			Name: "admin", Password: pw, Project: "admin", Roles: []string{"admin", "member", "reader"},
		}}); err != nil {
			return fmt.Errorf("bootstrap admin: %w", err)
		}
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	defer a.Close()
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("canopy gateway is serving", "listen", cfg.Listen, "public_url", cfg.PublicURL)
	return a.Serve(ctx, l)
}

// runFernetRotate rotates a Fernet key repository.
func runFernetRotate(args []string) error {
	fs := flag.NewFlagSet("canopy fernet-rotate", flag.ContinueOnError)
	dir := fs.String("key-repository", "/var/lib/canopy/fernet-keys", "Fernet key directory")
	maxActive := fs.Int("max-active", 3, "keys to keep (staged + primary + secondaries)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := identity.RotateKeys(*dir, *maxActive); err != nil {
		return err
	}
	fmt.Println("rotated", *dir)
	return nil
}
