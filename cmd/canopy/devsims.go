package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/app/backends"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/aws"
	"github.com/canopy-cloud/canopy/proxies/azure"
	"github.com/canopy-cloud/canopy/proxies/azure/armsim"
	"github.com/canopy-cloud/canopy/proxies/openstack"
	"github.com/canopy-cloud/canopy/proxies/openstack/bottomsim"
	"github.com/canopy-cloud/canopy/proxies/vmware"
	"github.com/canopy-cloud/canopy/registry"
)

// devSimKinds are the simulated clouds `canopy dev --sim` can add beside the
// local pool. Each is a simulator, never the real cloud, and is named so.
var devSimKinds = []string{"openstack", "vsphere", "aws", "azure"}

// startDevSims starts the simulated clouds named in list (comma-separated)
// and builds a proxy over each. stop stops them all.
func startDevSims(ctx context.Context, reg *registry.Registry, list string, log *slog.Logger) (bs []proxies.Backend, types map[string]string, stop func(), err error) {
	types = map[string]string{}
	var stops []func()
	stop = func() {
		for _, b := range bs {
			if c, ok := b.(interface{ Close() error }); ok {
				_ = c.Close()
			}
		}
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	images := make([]string, len(app.DevImages))
	for i, im := range app.DevImages {
		images[i] = im.ID
	}
	for _, kind := range strings.Split(list, ",") {
		kind = strings.TrimSpace(kind)
		if kind == "" {
			continue
		}
		name := kind + "-sim"
		if _, dup := types[name]; dup {
			continue
		}
		var b proxies.Backend
		switch kind {
		case "openstack":
			cfg, s, e := bottomsim.DevSim(ctx, log.With("sim", name))
			if e != nil {
				return nil, nil, stop, fmt.Errorf("--sim openstack: %w", e)
			}
			stops = append(stops, s)
			cfg.AvailabilityZone = name // its own zone, apart from the local pool's "nova"
			var ob *openstack.Backend
			if ob, err = openstack.New(ctx, name, cfg, log.With("cloud", name)); err == nil {
				ob.SetProjectMapper(backends.NewRegistryProjectMapper(reg, name, cfg.ProjectMap))
				b = ob
			}
		case "vsphere":
			cfg, s, e := vmware.DevSim(ctx, images...)
			if e != nil {
				return nil, nil, stop, fmt.Errorf("--sim vsphere: %w", e)
			}
			stops = append(stops, s)
			b, err = vmware.New(ctx, name, cfg, log.With("cloud", name))
		case "aws":
			cfg, s, e := aws.DevSim(ctx, images...)
			if e != nil {
				return nil, nil, stop, fmt.Errorf("--sim aws (needs moto: python3 -m pip install 'moto[server]'): %w", e)
			}
			stops = append(stops, s)
			b, err = aws.New(ctx, name, cfg, log.With("cloud", name))
		case "azure":
			cfg, _, s, e := azure.DevSim(ctx, armsim.Options{})
			if e != nil {
				return nil, nil, stop, fmt.Errorf("--sim azure: %w", e)
			}
			stops = append(stops, s)
			b, err = azure.New(ctx, name, cfg, log.With("cloud", name), azure.WithTokenStore(backends.NewRegistryTokenStore(reg, name)))
		default:
			return nil, nil, stop, fmt.Errorf("--sim %q: not a simulated cloud (choose from %s)", kind, strings.Join(devSimKinds, ", "))
		}
		if err != nil {
			return nil, nil, stop, fmt.Errorf("--sim %s: %w", kind, err)
		}
		bs = append(bs, b)
		types[name] = kind
	}
	return bs, types, stop, nil
}
