// Package image is the gateway's Glance v2 API: image records in the
// registry, image bytes in an imagestore.Store. It also implements
// broker.Images (the compute service's view of images and snapshots) and
// EnsureImage for bootstrap.
//
// Glance answers faults with a plain-text body and the status (wire.Glance);
// clients key on the status, so each fault here carries Glance's own status.
package image

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/imagestore"
	"github.com/canopy-cloud/canopy/registry"
)

// Options configure the image service. Zero values take the defaults.
type Options struct {
	// MaxImageSize caps an upload in bytes (default 1 TiB, Glance's
	// image_size_cap).
	MaxImageSize int64
	// Now is the clock (default time.Now); tests pin it.
	Now func() time.Time
	// NewID mints image ids (default random UUIDs).
	NewID func() string
	// AllowPrivateImport lets web-download fetch from loopback, private and
	// link-local addresses (a lab without a public mirror). Off by default:
	// otherwise any member could make the gateway read internal services.
	AllowPrivateImport bool
	// AllowedImportHosts are web-download hosts allowed although internal:
	// a host name or IP literal matches the URL's host, a CIDR matches the
	// address a name resolves to.
	AllowedImportHosts []string
	// ImportTimeout bounds one import task (default 1 hour).
	ImportTimeout time.Duration
	// ImportWorkers is how many imports run at once (default 2).
	ImportWorkers int
}

func (o Options) withDefaults() Options {
	if o.MaxImageSize <= 0 {
		o.MaxImageSize = 1 << 40
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = newUUID
	}
	if o.ImportTimeout <= 0 {
		o.ImportTimeout = time.Hour
	}
	if o.ImportWorkers <= 0 {
		o.ImportWorkers = 2
	}
	return o
}

// Service is the Glance API and the broker's image provider.
type Service struct {
	reg     *registry.Registry
	store   imagestore.Store
	opts    Options
	images  *registry.Collection[registry.Image]
	members *registry.Collection[memberList]
	imports *importer
	fetch   *fetcher
}

var (
	_ gateway.Service = (*Service)(nil)
	_ broker.Images   = (*Service)(nil)
)

// New returns the image service over reg and store. It has no side effects.
func New(reg *registry.Registry, store imagestore.Store, opts Options) *Service {
	opts = opts.withDefaults()
	return &Service{
		reg: reg, store: store, opts: opts, fetch: newFetcher(opts),
		images:  registry.NewCollection[registry.Image](reg, registry.KindImage, nil),
		members: registry.NewCollection[memberList](reg, kindImageMembers, nil),
		imports: newImporter(),
	}
}

// Register mounts the Glance routes (see urls.go).
func (s *Service) Register(rt *gateway.Router) {
	r := rt.For("image", wire.Glance)
	for _, p := range []string{routeRoot, routeRootSlash, routeV2, routeV2Slash} {
		r.Public(p, s.listVersions)
	}
	r.Handle(routeSchemaImage, s.showImageSchema)
	r.Handle(routeSchemaImages, s.showImagesSchema)
	r.Handle("GET "+routeImages, s.listImages)
	r.Handle("POST "+routeImages, s.createImage)
	r.Handle("GET "+routeImage, s.showImage)
	r.Handle("PATCH "+routeImage, s.updateImage)
	r.Handle("DELETE "+routeImage, s.deleteImage)
	r.Handle("PUT "+routeImageFile, s.uploadImage)
	r.Handle("GET "+routeImageFile, s.downloadImage)
	r.Handle("PUT "+routeImageTag, s.addTag)
	r.Handle("DELETE "+routeImageTag, s.deleteTag)
	r.Handle(routeSchemaMember, s.showMemberSchema)
	r.Handle(routeSchemaMembers, s.showMembersSchema)
	r.Handle("POST "+routeMembers, s.createMember)
	r.Handle("GET "+routeMembers, s.listMembers)
	r.Handle("GET "+routeMember, s.showMember)
	r.Handle("PUT "+routeMember, s.updateMember)
	r.Handle("DELETE "+routeMember, s.deleteMember)
	r.Handle(routeDeactivate, s.deactivateImage)
	r.Handle(routeReactivate, s.reactivateImage)
	r.Handle(routeInfoImport, s.showImportInfo)
	r.Handle(routeInfoStores, s.showStoresInfo)
	r.Handle(routeStage, s.stageImage)
	r.Handle(routeImport, s.importImage)
	r.Handle(routeImageTasks, s.listImageTasks)
	r.Handle("GET "+routeTasks, s.listTasks)
	r.Handle("POST "+routeTasks, s.createTask)
	r.Handle(routeTask, s.showTask)
	r.Handle(routeSchemaTask, s.showTaskSchema)
	r.Handle(routeSchemaTasks, s.showTasksSchema)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// stamp formats created_at/updated_at as Glance does.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func (s *Service) now() time.Time { return s.opts.Now().UTC() }
