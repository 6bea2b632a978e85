package vmware

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/session/keepalive"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/proxies"
)

// Backend is one vCenter datacenter as a Canopy cloud.
type Backend struct {
	name string
	cfg  Config
	log  *slog.Logger

	vc       *vim25.Client
	sessions *session.Manager
	finder   *find.Finder
	dc       *object.Datacenter
	folder   *object.Folder
	ds       *object.Datastore
	zones    []zone

	// mu serialises creates of the same top id within this process (vCenter
	// itself rejects a second VM of the same name in a folder).
	mu    sync.Mutex
	locks map[string]*sync.Mutex
	fcds  fcdCache
	// volMode is VolumesFCD or VolumesVMDK, decided at connect (volmode.go);
	// nativeSnaps is whether FCD snapshots are vSphere's own (the vCenter
	// implements CreateDiskFromSnapshot) rather than copies.
	volMode     string
	nativeSnaps bool
	vmdks       vmdkCache
	// vlanMu serialises picking a VLAN and creating its port group.
	vlanMu sync.Mutex
}

// zone is one configured cluster or resource pool.
type zone struct {
	az      string
	host    string // the pseudo-host name reported to the scheduler
	pool    *object.ResourcePool
	compute types.ManagedObjectReference // the cluster (or host) owning pool
}

var (
	_ proxies.Backend       = (*Backend)(nil)
	_ proxies.ServerDriver  = (*servers)(nil)
	_ proxies.ImageDriver   = (*images)(nil)
	_ proxies.NetworkDriver = (*networks)(nil)
	_ proxies.NICAttacher   = (*Backend)(nil)
	_ proxies.Resizer       = (*Backend)(nil)
	_ proxies.VolumeBackend = (*Backend)(nil)
	_ proxies.VolumeDriver  = (*volumes)(nil)
)

// New connects to vCenter, logs in and resolves the configured datacenter,
// clusters, datastore and folder (creating the folder when missing). A
// vCenter that does not answer within cfg.CallTimeout (or ctx) is
// ErrUnavailable.
func New(ctx context.Context, name string, cfg Config, log *slog.Logger) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{name: name, cfg: cfg, log: log.With("cloud", name), locks: map[string]*sync.Mutex{},
		fcds:  fcdCache{disks: map[string]string{}, snaps: map[string][2]string{}},
		vmdks: vmdkCache{snaps: map[string]string{}}}
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	if err := b.connect(ctx); err != nil {
		return nil, wrapErr("Connect", err)
	}
	if err := b.resolve(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Backend) connect(ctx context.Context) error {
	pw, err := config.Secret(b.cfg.PasswordFrom)
	if err != nil {
		return proxies.Errorf(proxies.ErrInvalid, "Connect", "vsphere.password_from cannot be resolved")
	}
	u, err := soap.ParseURL(b.cfg.URL)
	if err != nil {
		return proxies.Errorf(proxies.ErrInvalid, "Connect", "vsphere.url is not a URL")
	}
	u.User = nil // credentials go to Login only, never into a URL that errors print
	sc := soap.NewClient(u, b.cfg.Insecure)
	if b.cfg.CAFile != "" {
		if err := sc.SetRootCAs(b.cfg.CAFile); err != nil {
			return proxies.Errorf(proxies.ErrInvalid, "Connect", "vsphere.ca_file cannot be loaded")
		}
	}
	sc.Timeout = b.cfg.CallTimeout
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return err
	}
	// vCenter drops idle sessions (30 min by default): keep this one alive
	// from Login to Logout.
	sm := session.NewManager(vc)
	user := url.UserPassword(b.cfg.Username, pw)
	vc.RoundTripper = &relogin{
		RoundTripper: keepalive.NewHandlerSOAP(vc.RoundTripper, 5*time.Minute, nil),
		login:        func(ctx context.Context) error { return sm.Login(ctx, user) },
	}
	if err := sm.Login(ctx, user); err != nil {
		return err
	}
	b.vc, b.sessions = vc, sm
	return nil
}

// resolve finds the configured inventory objects.
func (b *Backend) resolve(ctx context.Context) error {
	const op = "Connect"
	f := find.NewFinder(b.vc, false)
	dc, err := f.Datacenter(ctx, b.cfg.Datacenter)
	if err != nil {
		return inventoryErr(op, "datacenter", b.cfg.Datacenter, err)
	}
	f.SetDatacenter(dc)
	b.finder, b.dc = f, dc
	if b.ds, err = b.pickDatastore(ctx); err != nil {
		return err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return wrapErr(op, err)
	}
	if b.folder, err = ensureFolder(ctx, f, folders.VmFolder, b.cfg.Folder); err != nil {
		return inventoryErr(op, "folder", b.cfg.Folder, err)
	}
	for _, cl := range b.cfg.Clusters {
		z, err := b.resolveZone(ctx, cl)
		if err != nil {
			return err
		}
		b.zones = append(b.zones, z)
	}
	return b.pickVolumeMode(ctx)
}

func (b *Backend) resolveZone(ctx context.Context, cl Cluster) (zone, error) {
	const op = "Connect"
	z := zone{az: cl.AvailabilityZone, host: b.name + ":" + path.Base(cl.Path)}
	if cr, err := b.finder.ClusterComputeResource(ctx, cl.Path); err == nil {
		pool, err := cr.ResourcePool(ctx)
		if err != nil {
			return z, wrapErr(op, err)
		}
		z.pool, z.compute = pool, cr.Reference()
		return z, nil
	}
	pool, err := b.finder.ResourcePool(ctx, cl.Path)
	if err != nil {
		return z, inventoryErr(op, "clusters[].path", cl.Path, err)
	}
	owner, err := pool.Owner(ctx)
	if err != nil {
		return z, wrapErr(op, err)
	}
	z.pool, z.compute = pool, owner.Reference()
	return z, nil
}

// pickDatastore resolves the datastore, or the child of a datastore cluster
// with the most free space.
func (b *Backend) pickDatastore(ctx context.Context) (*object.Datastore, error) {
	const op = "Connect"
	if ds, err := b.finder.Datastore(ctx, b.cfg.Datastore); err == nil {
		return ds, nil
	}
	pod, err := b.finder.DatastoreCluster(ctx, b.cfg.Datastore)
	if err != nil {
		return nil, inventoryErr(op, "datastore", b.cfg.Datastore, err)
	}
	var p mo.StoragePod
	if err := pod.Properties(ctx, pod.Reference(), []string{"childEntity"}, &p); err != nil {
		return nil, wrapErr(op, err)
	}
	var dss []mo.Datastore
	if len(p.ChildEntity) > 0 {
		if err := property.DefaultCollector(b.vc).Retrieve(ctx, p.ChildEntity, []string{"name", "summary"}, &dss); err != nil {
			return nil, wrapErr(op, err)
		}
	}
	sort.Slice(dss, func(i, j int) bool { return dss[i].Summary.FreeSpace > dss[j].Summary.FreeSpace })
	if len(dss) == 0 {
		return nil, proxies.Errorf(proxies.ErrInvalid, op, "vsphere.datastore: datastore cluster %s has no datastores", b.cfg.Datastore)
	}
	ds := object.NewDatastore(b.vc, dss[0].Reference())
	ds.InventoryPath, ds.DatacenterPath = pod.InventoryPath+"/"+dss[0].Name, b.dc.InventoryPath
	return ds, nil
}

func ensureFolder(ctx context.Context, f *find.Finder, root *object.Folder, name string) (*object.Folder, error) {
	if strings.HasPrefix(name, "/") {
		return f.Folder(ctx, name)
	}
	cur := root
	for _, part := range strings.Split(name, "/") {
		if part == "" {
			continue
		}
		next, err := f.Folder(ctx, path.Join(cur.InventoryPath, part))
		if err == nil {
			cur = next
			continue
		}
		made, err := cur.CreateFolder(ctx, part)
		if err != nil && !isFault[*types.DuplicateName](err) {
			return nil, err
		}
		if next, err = f.Folder(ctx, path.Join(cur.InventoryPath, part)); err != nil {
			if made == nil {
				return nil, err
			}
			next = made
		}
		cur = next
	}
	return cur, nil
}

// Close logs out of vCenter.
func (b *Backend) Close() error {
	if b.sessions == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return b.sessions.Logout(ctx)
}

// Name is the cloud's name in canopy.yaml.
func (b *Backend) Name() string { return b.name }

// Capabilities declares what the vSphere proxy does (see the package doc
// for what is unsupported and why). Volumes are declared in both volume
// modes; VolumeMode says which one this vCenter got.
func (b *Backend) Capabilities() proxies.Capabilities {
	return proxies.Capabilities{
		Servers: true, StartStop: true, Reboot: true, HardReboot: true, Snapshot: true,
		Resize: true, UserData: true, Keypairs: true, Images: true, Networks: true,
		Volumes: true,
	}
}

// Servers drives virtual machines.
func (b *Backend) Servers() proxies.ServerDriver { return (*servers)(b) }

// Images keeps templates.
func (b *Backend) Images() proxies.ImageDriver { return (*images)(b) }

// Networks maps networks to port groups.
func (b *Backend) Networks() proxies.NetworkDriver { return (*networks)(b) }

// Inventory reports one pseudo-host per cluster.
func (b *Backend) Inventory() proxies.InventoryDriver { return (*inventory)(b) }

// callCtx bounds one call into vCenter by the configured timeout.
func (b *Backend) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.cfg.CallTimeout)
}

// lockID serialises operations on one top id within this process.
func (b *Backend) lockID(id string) func() {
	b.mu.Lock()
	l := b.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		b.locks[id] = l
	}
	b.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// zoneFor returns the zone named az, or the first one when az is "".
func (b *Backend) zoneFor(op, az string) (zone, error) {
	if az == "" {
		return b.zones[0], nil
	}
	for _, z := range b.zones {
		if z.az == az {
			return z, nil
		}
	}
	return zone{}, proxies.Errorf(proxies.ErrInvalid, op, "availability zone %q is not served by cloud %s", az, b.name)
}

func inventoryErr(op, field, value string, err error) error {
	var nf *find.NotFoundError
	if errors.As(err, &nf) {
		e := proxies.Errorf(proxies.ErrInvalid, op, "vsphere.%s: %q was not found in vCenter; fix the path", field, value)
		e.Cause = err
		return e
	}
	return wrapErr(op, err)
}

// unsupported is the typed answer for what the package doc declares
// unsupported.
func unsupported(op, what string) error {
	return proxies.Errorf(proxies.ErrNotSupported, op, "%s is not supported by the vSphere cloud", what)
}

func notFound(op, kind, id string) error {
	return proxies.Errorf(proxies.ErrNotFound, op, "%s %s was not found", kind, id)
}

func errorf(kind error, op string, cause error, format string, args ...any) error {
	e := proxies.Errorf(kind, op, format, args...)
	e.Cause = cause
	return e
}
