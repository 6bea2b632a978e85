// Package backends builds the cloud proxies canopy.yaml configures: the one
// place a cloud type is mapped to its proxy package. It sits apart from app
// so that app (and the proxies' own gateway tests, which build an app) never
// import every cloud SDK.
package backends

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	"gopkg.in/yaml.v3"

	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/aws"
	"github.com/canopy-cloud/canopy/proxies/azure"
	"github.com/canopy-cloud/canopy/proxies/openstack"
	"github.com/canopy-cloud/canopy/proxies/vmware"
	"github.com/canopy-cloud/canopy/registry"
)

// Build builds the cloud proxies that canopy.yaml configures (every cloud
// except the local pool, which app.New builds) and returns them with each
// one's type, for app.Options.Backends and app.Options.CloudTypes.
//
// reg holds what a proxy must keep across restarts (Azure's operation
// resume tokens).
func Build(ctx context.Context, reg *registry.Registry, clouds []config.Cloud, log *slog.Logger) ([]proxies.Backend, map[string]string, error) {
	var out []proxies.Backend
	types := map[string]string{}
	for _, c := range clouds {
		if c.Type == "local" {
			continue
		}
		b, err := buildBackend(ctx, reg, c, log.With("cloud", c.Name))
		if err != nil {
			Close(out)
			return nil, nil, fmt.Errorf("clouds[%s].%s: %w", c.Name, c.Type, err)
		}
		out = append(out, b)
		types[c.Name] = c.Type
	}
	return out, types, nil
}

// BuildOne builds one cloud's proxy from its canopy.yaml entry: the admin
// API's registration (app.Options.BuildCloud). An entry that does not
// decode or validate answers an error wrapping config.ErrInvalid.
func BuildOne(reg *registry.Registry, log *slog.Logger) func(ctx context.Context, c config.Cloud) (proxies.Backend, error) {
	return func(ctx context.Context, c config.Cloud) (proxies.Backend, error) {
		if c.Type == "local" {
			return nil, fmt.Errorf("%w: the local pool is configured in canopy.yaml", config.ErrInvalid)
		}
		return buildBackend(ctx, reg, c, log.With("cloud", c.Name))
	}
}

// invalid wraps a decode or validation error as config.ErrInvalid.
func invalid(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", config.ErrInvalid, err)
}

func buildBackend(ctx context.Context, reg *registry.Registry, c config.Cloud, log *slog.Logger) (proxies.Backend, error) {
	switch c.Type {
	case "openstack":
		var cfg openstack.Config
		if err := decodeSection(c.OpenStack, &cfg); err != nil {
			return nil, invalid(err)
		}
		if err := cfg.Validate(); err != nil {
			return nil, invalid(err)
		}
		b, err := openstack.New(ctx, c.Name, cfg, log)
		if err != nil {
			return nil, err
		}
		b.SetProjectMapper(NewRegistryProjectMapper(reg, c.Name, cfg.ProjectMap))
		return b, nil
	case "vsphere":
		var cfg vmware.Config
		if err := decodeSection(c.VSphere, &cfg); err != nil {
			return nil, invalid(err)
		}
		if err := cfg.Validate(); err != nil {
			return nil, invalid(err)
		}
		return vmware.New(ctx, c.Name, cfg, log)
	case "aws":
		var cfg aws.Config
		if err := decodeSection(c.AWS, &cfg); err != nil {
			return nil, invalid(err)
		}
		if err := cfg.Validate(); err != nil {
			return nil, invalid(err)
		}
		return aws.New(ctx, c.Name, cfg, log)
	case "azure":
		var cfg azure.Config
		if err := decodeSection(c.Azure, &cfg); err != nil {
			return nil, invalid(err)
		}
		if err := cfg.Validate(); err != nil {
			return nil, invalid(err)
		}
		return azure.New(ctx, c.Name, cfg, log, azure.WithTokenStore(NewRegistryTokenStore(reg, c.Name)))
	}
	return nil, fmt.Errorf("%w: type %q has no proxy in this build", config.ErrInvalid, c.Type)
}

// decodeSection decodes a cloud's section strictly: an unknown field is an
// error that names it, never a silently ignored typo.
func decodeSection(n yaml.Node, v any) error {
	if n.IsZero() {
		return fmt.Errorf("the section is missing (see deploy/canopy.example.yaml)")
	}
	b, err := yaml.Marshal(&n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// Close closes backends that hold connections (sessions, background tasks).
func Close(bs []proxies.Backend) {
	for _, b := range bs {
		switch c := b.(type) {
		case interface{ Close() error }:
			_ = c.Close()
		case interface{ Close() }:
			c.Close()
		}
	}
}
