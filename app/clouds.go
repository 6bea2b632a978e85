package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/gateway/admin"
	"github.com/canopy-cloud/canopy/gateway/blockstorage"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/metered"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/canopy-cloud/canopy/scheduler"
)

// Clouds registered through the admin API (POST /admin/v1/clouds) live in
// the registry, beside the ones canopy.yaml names: every gateway process
// sharing the registry builds them at start and picks up later changes on
// its next inventory pass (reconcileRegistered), so a registration needs no
// restart anywhere. Their sections hold credentials by reference only
// (env:NAME, file:/path), as canopy.yaml does, so the registry holds no
// secret.

// registeredKey is the hash of registered clouds: name → the cloud entry in
// canopy.yaml's YAML shape.
func registeredKey() string { return registry.Key("", "admin", "clouds") }

// cloudNameRE is what a cloud name may be: it appears in registry keys,
// metric labels and host names (canopy@NAME).
var cloudNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// cloudTable is the app's bookkeeping of its clouds beyond the set itself.
type cloudTable struct {
	mu sync.Mutex
	// types is every cloud's type (canopy.yaml's and registered ones).
	types map[string]string
	// fixed names the clouds canopy.yaml (or the caller's Options) defines:
	// the admin API cannot reconfigure or remove them.
	fixed map[string]bool
	// registered is each registered cloud's entry (as stored) and its
	// backend before metering (for Close).
	registered map[string]registeredCloud
	// broken is the registered clouds whose entry failed to build, with
	// the error, shown by the admin API as down.
	broken map[string]string
	// watches stops each running cloud watch.
	watches map[string]context.CancelFunc
}

type registeredCloud struct {
	entry string
	raw   proxies.Backend
}

// CloudBuilder builds a cloud's proxy from its canopy.yaml entry (cmd passes
// app/backends.BuildOne). A bad entry answers an error wrapping
// config.ErrInvalid.
type CloudBuilder func(ctx context.Context, c config.Cloud) (proxies.Backend, error)

func (t *cloudTable) typeOf(name string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.types[name]
}

// marshalEntry is c in the stored (YAML) form.
func marshalEntry(c config.Cloud) (string, error) {
	b, err := yaml.Marshal(c)
	return string(b), err
}

// parseEntry reads a stored entry.
func parseEntry(s string) (config.Cloud, error) {
	var c config.Cloud
	dec := yaml.NewDecoder(bytes.NewReader([]byte(s)))
	dec.KnownFields(true)
	err := dec.Decode(&c)
	return c, err
}

// checkEntry validates what the admin API was given, naming the field.
func checkEntry(c config.Cloud) error {
	if c.Name == "" {
		return wire.BadRequest("Invalid input for field/attribute name: a cloud needs a name.")
	}
	if !cloudNameRE.MatchString(c.Name) {
		return wire.BadRequest("Invalid input for field/attribute name: %q must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit.", c.Name)
	}
	switch c.Type {
	case "":
		return wire.BadRequest("Invalid input for field/attribute type: a cloud needs a type (openstack, vsphere, aws or azure).")
	case "local":
		return wire.BadRequest("Invalid input for field/attribute type: the local pool is configured in canopy.yaml, not registered.")
	}
	if !slices.Contains(config.CloudTypes, c.Type) {
		return wire.BadRequest("Invalid input for field/attribute type: %q is not one of openstack, vsphere, aws, azure.", c.Type)
	}
	sections := map[string]bool{"openstack": !c.OpenStack.IsZero(), "vsphere": !c.VSphere.IsZero(), "aws": !c.AWS.IsZero(), "azure": !c.Azure.IsZero(), "local": !c.Local.IsZero()}
	if !sections[c.Type] {
		return wire.BadRequest("Invalid input for field/attribute %s: a cloud of type %s needs its %s section.", c.Type, c.Type, c.Type)
	}
	for s, set := range sections {
		if set && s != c.Type {
			return wire.BadRequest("Invalid input for field/attribute %s: a cloud of type %s takes no %s section.", s, c.Type, s)
		}
	}
	return nil
}

// buildRegistered builds c's proxy, wrapping a refusal as the admin API's
// fault.
func (a *App) buildRegistered(ctx context.Context, c config.Cloud) (proxies.Backend, error) {
	if a.opts.BuildCloud == nil {
		return nil, wire.NotImplemented("This gateway cannot build clouds while it runs (it was started without a cloud builder).")
	}
	b, err := a.opts.BuildCloud(ctx, c)
	if err != nil {
		if errors.Is(err, config.ErrInvalid) || errors.Is(err, config.ErrSecret) {
			return nil, wire.BadRequest("Invalid input for field/attribute %s: %s", c.Type, err.Error())
		}
		return nil, wire.Errorf(502, "Cloud %s could not be reached: %s", c.Name, proxies.SafeMessage(err))
	}
	if b.Name() != c.Name {
		closeBackend(b)
		return nil, fmt.Errorf("cloud %s: the builder returned a cloud named %s", c.Name, b.Name())
	}
	return b, nil
}

// RegisterCloud adds cloud c while the gateway runs (POST /admin/v1/clouds).
// A retry with the same entry answers the cloud again (created false); a
// different entry under a taken name is a conflict.
func (a *App) RegisterCloud(ctx context.Context, c config.Cloud) (bool, error) {
	if err := checkEntry(c); err != nil {
		return false, err
	}
	entry, err := marshalEntry(c)
	if err != nil {
		return false, err
	}
	a.ct.mu.Lock()
	fixed := a.ct.fixed[c.Name] || c.Name == a.opts.LocalName
	a.ct.mu.Unlock()
	if fixed {
		return false, wire.Conflict("Cloud %s is defined in canopy.yaml; change it there.", c.Name)
	}
	rdb := a.Registry.Client()
	if prev, err := rdb.HGet(ctx, registeredKey(), c.Name).Result(); err == nil {
		if prev == entry {
			a.reconcileRegistered(ctx) // a retry after a crash mid-registration
			return false, nil
		}
		return false, wire.Conflict("Cloud %s is already registered with another configuration; change it with PATCH.", c.Name)
	}
	b, err := a.buildRegistered(ctx, c)
	if err != nil {
		return false, err
	}
	ok, err := rdb.HSetNX(ctx, registeredKey(), c.Name, entry).Result()
	if err != nil || !ok {
		closeBackend(b)
		if err != nil {
			return false, err
		}
		// Another gateway registered the name first: same answer as above.
		if prev, _ := rdb.HGet(ctx, registeredKey(), c.Name).Result(); prev == entry {
			a.reconcileRegistered(ctx)
			return false, nil
		}
		return false, wire.Conflict("Cloud %s is already registered with another configuration; change it with PATCH.", c.Name)
	}
	a.installCloud(ctx, c, entry, b)
	a.log.Info("cloud registered", "cloud", c.Name, "type", c.Type)
	return true, nil
}

// ReconfigureCloud replaces a registered cloud's entry (PATCH with a type
// section): the new proxy takes over and the old one is closed.
func (a *App) ReconfigureCloud(ctx context.Context, c config.Cloud) error {
	if err := checkEntry(c); err != nil {
		return err
	}
	a.ct.mu.Lock()
	fixed := a.ct.fixed[c.Name] || c.Name == a.opts.LocalName
	prevType := a.ct.types[c.Name]
	a.ct.mu.Unlock()
	if fixed {
		return wire.Conflict("Cloud %s is defined in canopy.yaml; change it there and restart the gateway.", c.Name)
	}
	rdb := a.Registry.Client()
	prev, err := rdb.HGet(ctx, registeredKey(), c.Name).Result()
	if err != nil {
		return wire.NotFound("Cloud %s could not be found.", c.Name)
	}
	if prevType != "" && prevType != c.Type {
		return wire.BadRequest("Invalid input for field/attribute type: cloud %s is of type %s; a type cannot change (remove the cloud and register it again).", c.Name, prevType)
	}
	entry, err := marshalEntry(c)
	if err != nil {
		return err
	}
	if prev == entry {
		return nil
	}
	b, err := a.buildRegistered(ctx, c)
	if err != nil {
		return err
	}
	if err := rdb.HSet(ctx, registeredKey(), c.Name, entry).Err(); err != nil {
		closeBackend(b)
		return err
	}
	a.installCloud(ctx, c, entry, b)
	a.log.Info("cloud reconfigured", "cloud", c.Name, "type", c.Type)
	return nil
}

// RemoveCloud removes a registered cloud that holds nothing (DELETE
// /admin/v1/clouds/{name}): no server, volume or snapshot, no claimed
// capacity. It is disabled for placements first, so nothing lands there
// while it is checked; a refusal enables it again if it was enabled.
func (a *App) RemoveCloud(ctx context.Context, name string) error {
	a.ct.mu.Lock()
	fixed := a.ct.fixed[name] || name == a.opts.LocalName
	a.ct.mu.Unlock()
	if fixed {
		return wire.Conflict("Cloud %s is defined in canopy.yaml; remove it there and restart the gateway.", name)
	}
	rdb := a.Registry.Client()
	if n, err := rdb.HExists(ctx, registeredKey(), name).Result(); err != nil {
		return err
	} else if !n {
		return wire.NotFound("Cloud %s could not be found.", name)
	}
	disabled, err := a.Scheduler.DisabledClouds(ctx)
	if err != nil {
		return err
	}
	_, wasOff := disabled[name]
	if !wasOff {
		if err := a.Scheduler.SetCloudEnabled(ctx, name, false, "being removed"); err != nil {
			return err
		}
	}
	refuse := func(err error) error {
		if !wasOff {
			if e := a.Scheduler.SetCloudEnabled(ctx, name, true, ""); e != nil {
				a.log.Error("cannot enable a cloud again after a refused removal", "cloud", name, "err", e)
			}
		}
		return err
	}
	if held, err := a.resourcesOn(ctx, name); err != nil {
		return refuse(err)
	} else if held != "" {
		return refuse(wire.Conflict("Cloud %s still holds %s; delete or migrate them first.", name, held))
	}
	if err := a.Scheduler.RemoveCloud(ctx, name); errors.Is(err, scheduler.ErrCloudBusy) {
		return refuse(wire.Conflict("Cloud %s still holds claimed capacity (a server being built or deleted); try again shortly.", name))
	} else if err != nil {
		return refuse(err)
	}
	if err := rdb.HDel(ctx, registeredKey(), name).Err(); err != nil {
		return err
	}
	a.uninstallCloud(ctx, name)
	a.log.Info("cloud removed", "cloud", name)
	return nil
}

// resourcesOn says what still lives on cloud ("" when nothing), as
// "2 servers, 1 volume".
func (a *App) resourcesOn(ctx context.Context, cloud string) (string, error) {
	servers, err := a.Broker.Servers().List(ctx, "*", registry.Page{})
	if err != nil {
		return "", err
	}
	var held []string
	count := func(n int, what string) {
		if n == 1 {
			held = append(held, "1 "+what)
		} else if n > 1 {
			held = append(held, fmt.Sprintf("%d %ss", n, what))
		}
	}
	n := 0
	for _, s := range servers {
		if s.Routing.Cloud == cloud {
			n++
		}
	}
	count(n, "server")
	vols, err := registry.NewCollection[blockstorage.Volume](a.Registry, blockstorage.KindVolume, nil).List(ctx, "*", registry.Page{})
	if err != nil {
		return "", err
	}
	n = 0
	for _, v := range vols {
		if v.Routing.Cloud == cloud {
			n++
		}
	}
	count(n, "volume")
	snaps, err := registry.NewCollection[blockstorage.Snapshot](a.Registry, blockstorage.KindSnapshot, nil).List(ctx, "*", registry.Page{})
	if err != nil {
		return "", err
	}
	n = 0
	for _, s := range snaps {
		if s.Cloud == cloud {
			n++
		}
	}
	count(n, "snapshot")
	if len(held) == 0 {
		return "", nil
	}
	out := held[0]
	for _, h := range held[1:] {
		out += ", " + h
	}
	return out, nil
}

// installCloud puts b (built from entry) in service: the set, the broker's
// sync loop, its inventory, volume zones and watch. A cloud of the same
// name is replaced and its old proxy closed.
func (a *App) installCloud(ctx context.Context, c config.Cloud, entry string, b proxies.Backend) {
	a.ct.mu.Lock()
	old := a.ct.registered[c.Name]
	a.ct.registered[c.Name] = registeredCloud{entry: entry, raw: b}
	a.ct.types[c.Name] = c.Type
	delete(a.ct.broken, c.Name)
	a.ct.mu.Unlock()
	wrapped := metered.Wrap(b)
	a.Broker.AddCloud(wrapped)
	if old.raw != nil {
		closeBackend(old.raw)
	}
	a.refreshCloud(ctx, c.Name, wrapped)
	a.addVolumeZones(ctx, c.Name, wrapped)
	a.startWatch(c.Name, wrapped)
}

// uninstallCloud takes cloud out of service and closes its proxy.
func (a *App) uninstallCloud(ctx context.Context, cloud string) {
	a.stopWatch(cloud)
	a.Broker.RemoveCloud(ctx, cloud)
	a.dropVolumeZones(cloud)
	a.health.drop(cloud)
	a.ct.mu.Lock()
	old := a.ct.registered[cloud]
	delete(a.ct.registered, cloud)
	delete(a.ct.types, cloud)
	delete(a.ct.broken, cloud)
	a.ct.mu.Unlock()
	if old.raw != nil {
		closeBackend(old.raw)
	}
}

// reconcileRegistered makes this process's clouds match the registered
// ones: built when new or changed (by another gateway), removed when gone.
// A registered entry that fails to build is shown as down until it builds.
func (a *App) reconcileRegistered(ctx context.Context) {
	want, err := a.Registry.Client().HGetAll(ctx, registeredKey()).Result()
	if err != nil {
		a.log.Warn("cannot read the registered clouds", "err", err)
		return
	}
	a.ct.mu.Lock()
	have := make(map[string]string, len(a.ct.registered))
	for name, r := range a.ct.registered {
		have[name] = r.entry
	}
	a.ct.mu.Unlock()
	for name, entry := range want {
		if have[name] == entry {
			continue
		}
		c, err := parseEntry(entry)
		if err == nil && c.Name != name {
			err = fmt.Errorf("the entry names cloud %s", c.Name)
		}
		var b proxies.Backend
		if err == nil {
			b, err = a.buildRegistered(ctx, c)
		}
		if err != nil {
			a.log.Error("cannot build a registered cloud; it stays down until it builds", "cloud", name, "err", err)
			a.ct.mu.Lock()
			a.ct.broken[name] = proxies.SafeMessage(err)
			a.ct.types[name] = c.Type
			a.ct.mu.Unlock()
			continue
		}
		a.installCloud(ctx, c, entry, b)
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			a.uninstallCloud(ctx, name)
		}
	}
	a.ct.mu.Lock()
	for name := range a.ct.broken {
		if _, ok := want[name]; !ok {
			delete(a.ct.broken, name)
			delete(a.ct.types, name)
		}
	}
	a.ct.mu.Unlock()
}

// addVolumeZones gives cloud the volume zones of its hosts that no other
// cloud serves yet.
func (a *App) addVolumeZones(ctx context.Context, cloud string, b proxies.Backend) {
	if _, ok := proxies.VolumesOf(b); !ok || a.Volumes == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	hosts, err := b.Inventory().Hosts(cctx)
	cancel()
	if err != nil {
		a.log.Warn("cloud inventory failed: its volume zones come with the next registration or restart", "cloud", cloud, "err", err)
		return
	}
	zones := map[string]string{}
	for z, c := range a.Volumes.Zones() {
		zones[z] = c
	}
	for _, h := range hosts {
		if _, taken := zones[h.AvailabilityZone]; !taken && h.AvailabilityZone != "" {
			zones[h.AvailabilityZone] = cloud
		}
	}
	a.Volumes.SetZones(zones, a.Volumes.DefaultZone())
}

// dropVolumeZones takes cloud's volume zones away.
func (a *App) dropVolumeZones(cloud string) {
	if a.Volumes == nil {
		return
	}
	zones := map[string]string{}
	for z, c := range a.Volumes.Zones() {
		if c != cloud {
			zones[z] = c
		}
	}
	a.Volumes.SetZones(zones, a.Volumes.DefaultZone())
}

// closeBackend closes a proxy that holds connections.
func closeBackend(b proxies.Backend) {
	switch c := b.(type) {
	case interface{ Close() error }:
		_ = c.Close()
	case interface{ Close() }:
		c.Close()
	}
}

var _ admin.CloudRegistry = (*App)(nil)

// RegisteredEntry is a registered cloud's entry as stored (ok false for a
// cloud canopy.yaml defines, or none).
func (a *App) RegisteredEntry(ctx context.Context, name string) (config.Cloud, bool, error) {
	entry, err := a.Registry.Client().HGet(ctx, registeredKey(), name).Result()
	if errors.Is(err, redis.Nil) {
		return config.Cloud{}, false, nil
	}
	if err != nil {
		return config.Cloud{}, false, err
	}
	c, err := parseEntry(entry)
	return c, err == nil, err
}
