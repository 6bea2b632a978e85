// Package blockstorage is Cinder v3 on the Canopy gateway: volumes,
// snapshots, volume types, availability zones, limits and quota sets under
// /volume/v3, with or without the project id in the path, in Cinder's wire
// format and fault dialect. Records live in the registry; volumes are placed
// on the backend that serves the requested availability zone and created
// there through the proxies.VolumeDriver contract. Nova's attach flow calls
// ReserveAttach, CompleteAttach and Detach.
package blockstorage

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// Microversions is the range of Cinder v3 microversions served. Every
// response shape up to 3.60 matches tempest's volume schemas (3.61 adds
// cluster_name and 3.63 volume_type_id, which are not rendered).
var Microversions = wire.Microversions{Service: "volume", Min: wire.Version{Major: 3, Minor: 0}, Max: wire.Version{Major: 3, Minor: 60}}

// Images is what block storage needs of the image service: the image a
// volume is created from must be visible to the project (gateway/image's
// Service implements it).
type Images interface {
	VisibleImage(ctx context.Context, projectID string, isAdmin bool, id string) (*registry.Image, error)
}

// Options configure the service.
type Options struct {
	// Zones maps each availability zone to the cloud whose backend holds
	// its volumes. Empty: zone "nova" on the first backend with volumes.
	Zones map[string]string
	// DefaultZone is the zone of a create that names none (default: the
	// first zone in sorted order).
	DefaultZone string
	// Quota is the default quota of every project.
	Quota Quota
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Clouds, when set, is the gateway's live set of clouds (clouds
	// registered or removed while it runs); it replaces New's map.
	Clouds *proxies.Set
}

// zoneTable is the volume zones and the default, replaced whole (SetZones)
// when a cloud is registered or removed.
type zoneTable struct {
	zones map[string]string
	def   string
}

// Service is the Cinder v3 API.
type Service struct {
	reg       *registry.Registry
	images    Images
	backends  *proxies.Set
	zt        atomic.Pointer[zoneTable]
	opts      Options
	volumes   *registry.Collection[Volume]
	snapshots *registry.Collection[Snapshot]
	types     *registry.Collection[VolumeType]
	routes    []route
}

// New returns the service. It starts nothing and touches no store.
func New(reg *registry.Registry, images Images, backends map[string]proxies.Backend, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	set := opts.Clouds
	if set == nil {
		set = proxies.SetFromMap(backends)
	}
	if len(opts.Zones) == 0 {
		opts.Zones = map[string]string{}
		for _, name := range set.Names() {
			b, _ := set.Get(name)
			if _, ok := proxies.VolumesOf(b); ok {
				opts.Zones["nova"] = name
				break
			}
		}
	}
	opts.Quota = opts.Quota.withDefaults()
	s := &Service{reg: reg, images: images, backends: set, opts: opts,
		volumes:   registry.NewCollection[Volume](reg, KindVolume, nil),
		snapshots: registry.NewCollection[Snapshot](reg, KindSnapshot, nil),
		types:     registry.NewCollection(reg, KindVolumeType, func(t *VolumeType) string { return t.Name }),
	}
	s.routes = s.table()
	s.SetZones(opts.Zones, opts.DefaultZone)
	return s
}

// backendOf is the cloud named cloud (nil when there is none).
func (s *Service) backendOf(cloud string) proxies.Backend {
	b, _ := s.backends.Get(cloud)
	return b
}

// SetZones replaces the volume zones (zone → cloud) and the default zone
// ("" picks the first in sorted order). The app calls it when a cloud is
// registered or removed while the gateway runs.
func (s *Service) SetZones(zones map[string]string, def string) {
	z := make(map[string]string, len(zones))
	for k, v := range zones {
		z[k] = v
	}
	if _, ok := z[def]; !ok || def == "" {
		def = ""
		for k := range z {
			if def == "" || k < def {
				def = k
			}
		}
	}
	s.zt.Store(&zoneTable{zones: z, def: def})
}

// Zones returns the volume zones (zone → cloud); the map must not be changed.
func (s *Service) Zones() map[string]string { return s.zt.Load().zones }

// DefaultZone is the zone of a create that names none.
func (s *Service) DefaultZone() string { return s.zt.Load().def }

func (s *Service) defaultZone() string { return s.zt.Load().def }

var _ gateway.Service = (*Service)(nil)

// Register mounts Cinder v3 under /volume.
func (s *Service) Register(rt *gateway.Router) {
	r := rt.For("volume", wire.Cinder)
	r.Public("GET /volume", s.versions)
	r.Public("GET /volume/{$}", s.versions)
	r.Public("GET /volume/v3", s.versionsV3)
	r.Public("GET /volume/v3/{$}", s.versionsV3)
	r.Handle("/volume/v3/{rest...}", s.dispatch)
}

// route is one Cinder route, matched on the path below /volume/v3 after the
// optional project id is taken off. Cinder's URLs are ambiguous to a plain
// pattern mux ({project_id}/types and volumes/{id} overlap), hence this table.
type route struct {
	method string
	segs   []string
	h      gateway.HandlerFunc
}

// collections are the first path segments that are not a project id.
var collections = map[string]bool{
	"volumes": true, "snapshots": true, "types": true, "os-availability-zone": true, "limits": true,
	"os-quota-sets": true, "extensions": true, "attachments": true, "os-volume-transfer": true,
	"backups": true, "os-hosts": true, "groups": true, "group_types": true, "messages": true, "qos-specs": true,
}

func (s *Service) dispatch(w http.ResponseWriter, r *http.Request) error {
	p := wire.PrincipalFrom(r.Context())
	// A trailing slash stays an empty last segment: "volumes/" names no
	// volume and is 404, as Cinder answers it.
	segs := strings.Split(strings.TrimPrefix(r.PathValue("rest"), "/"), "/")
	if !collections[segs[0]] && segs[0] != "" {
		if p == nil || (segs[0] != p.ProjectID && !p.IsAdmin()) {
			return wire.Forbidden("Policy doesn't allow this project to act on project %s.", segs[0])
		}
		segs = segs[1:]
		if (len(segs) == 0 || (len(segs) == 1 && segs[0] == "")) && r.Method == http.MethodGet {
			return s.versionsV3(w, r) // the SDK's discovery on the catalog URL
		}
	}
	if _, fault := Microversions.Negotiate(w, r); fault != nil {
		return fault
	}
	pathMatched := false
	for _, rt := range s.routes {
		if !matchSegs(r, rt.segs, segs) {
			continue
		}
		pathMatched = true
		if rt.method == r.Method {
			return rt.h(w, r)
		}
	}
	if pathMatched {
		return wire.Errorf(http.StatusMethodNotAllowed, "The method %s is not allowed on this resource.", r.Method)
	}
	return wire.NotFound("The resource could not be found.")
}

// matchSegs matches path segments against a pattern and sets the path
// values of its {wildcards} on r.
func matchSegs(r *http.Request, pattern, segs []string) bool {
	if len(pattern) != len(segs) {
		return false
	}
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") {
			if segs[i] == "" {
				return false
			}
			continue
		}
		if p != segs[i] {
			return false
		}
	}
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") {
			r.SetPathValue(strings.Trim(p, "{}"), segs[i])
		}
	}
	return true
}

func (s *Service) table() []route {
	var out []route
	add := func(method, path string, h gateway.HandlerFunc) {
		out = append(out, route{method: method, segs: strings.Split(path, "/"), h: h})
	}
	add("GET", "volumes", s.listVolumes)
	add("GET", "volumes/detail", s.listVolumesDetail)
	add("POST", "volumes", s.createVolume)
	add("GET", "volumes/{id}", s.showVolume)
	add("PUT", "volumes/{id}", s.updateVolume)
	add("DELETE", "volumes/{id}", s.deleteVolume)
	add("POST", "volumes/{id}/action", s.volumeAction)
	add("GET", "volumes/{id}/metadata", s.showVolumeMetadata)
	add("POST", "volumes/{id}/metadata", s.mergeVolumeMetadata)
	add("PUT", "volumes/{id}/metadata", s.replaceVolumeMetadata)
	add("GET", "volumes/{id}/metadata/{key}", s.showVolumeMetaItem)
	add("PUT", "volumes/{id}/metadata/{key}", s.putVolumeMetaItem)
	add("DELETE", "volumes/{id}/metadata/{key}", s.deleteVolumeMetaItem)
	add("GET", "snapshots", s.listSnapshots)
	add("GET", "snapshots/detail", s.listSnapshotsDetail)
	add("POST", "snapshots", s.createSnapshot)
	add("GET", "snapshots/{id}", s.showSnapshot)
	add("PUT", "snapshots/{id}", s.updateSnapshot)
	add("DELETE", "snapshots/{id}", s.deleteSnapshot)
	add("GET", "snapshots/{id}/metadata", s.showSnapshotMetadata)
	add("POST", "snapshots/{id}/metadata", s.mergeSnapshotMetadata)
	add("PUT", "snapshots/{id}/metadata", s.replaceSnapshotMetadata)
	add("GET", "snapshots/{id}/metadata/{key}", s.showSnapshotMetaItem)
	add("PUT", "snapshots/{id}/metadata/{key}", s.putSnapshotMetaItem)
	add("DELETE", "snapshots/{id}/metadata/{key}", s.deleteSnapshotMetaItem)
	add("GET", "types", s.listTypes)
	add("POST", "types", s.createType)
	add("GET", "types/{id}", s.showType)
	add("DELETE", "types/{id}", s.deleteType)
	add("GET", "types/{id}/extra_specs", s.showExtraSpecs)
	add("POST", "types/{id}/extra_specs", s.setExtraSpecs)
	add("GET", "os-availability-zone", s.listZones)
	add("GET", "limits", s.limits)
	add("GET", "os-quota-sets/{project}", s.showQuota)
	add("GET", "os-quota-sets/{project}/defaults", s.showQuotaDefaults)
	add("PUT", "os-quota-sets/{project}", s.updateQuota)
	add("DELETE", "os-quota-sets/{project}", s.deleteQuota)
	add("GET", "extensions", s.listExtensions)
	add("GET", "os-hosts", s.listHosts)
	add("GET", "os-hosts/{host}", s.showHost)
	return out
}
