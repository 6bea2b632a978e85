// Package compute is the gateway's Nova v2.1 API: servers, flavors,
// keypairs, availability zones, limits, quotas, server groups and instance
// actions. Reads are answered from the registry; server commands go to the
// broker, which owns placement and the backend calls.
//
// Every response is shaped per microversion (2.1 up to MaxMicroversion) so
// that it validates against tempest's compute schemas for that version.
package compute

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// MaxMicroversion is the newest compute microversion every response of this
// package honours.
var MaxMicroversion = wire.Version{Major: 2, Minor: 79}

// microversions is Nova's negotiation: both headers echoed, 406 outside.
var microversions = wire.Microversions{
	Service: "compute", LegacyHeader: "X-OpenStack-Nova-API-Version",
	Min: wire.Version{Major: 2, Minor: 1}, Max: MaxMicroversion,
}

// Zone is an availability zone with its hosts, as os-availability-zone shows it.
type Zone struct {
	Name      string
	Available bool
	Hosts     []string
}

// Options configure the compute service. Zero values take the defaults.
type Options struct {
	// Zones lists the availability zones (from the scheduler's hosts).
	// Nil means one zone, "nova", available.
	Zones func(ctx context.Context) ([]Zone, error)
	// MaxLimit caps a list page (Nova's max_limit, 1000).
	MaxLimit int
	// Now is the clock.
	Now func() time.Time
	// NewID mints ids for flavors, server groups and passwords.
	NewID func() string
}

func (o Options) withDefaults() Options {
	if o.Zones == nil {
		o.Zones = func(context.Context) ([]Zone, error) { return []Zone{{Name: "nova", Available: true}}, nil }
	}
	if o.MaxLimit <= 0 {
		o.MaxLimit = 1000
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC() }
	}
	if o.NewID == nil {
		o.NewID = broker.NewUUID
	}
	return o
}

// Service is the Nova API.
type Service struct {
	reg      *registry.Registry
	b        *broker.Broker
	opts     Options
	flavors  *registry.Collection[registry.Flavor]
	keypairs *registry.Collection[registry.Keypair]
	groups   *registry.Collection[registry.ServerGroup]
}

var _ gateway.Service = (*Service)(nil)

// New returns the compute service. It has no side effects.
func New(reg *registry.Registry, b *broker.Broker, opts Options) *Service {
	return &Service{
		reg: reg, b: b, opts: opts.withDefaults(),
		flavors:  registry.NewCollection(reg, registry.KindFlavor, func(f *registry.Flavor) string { return f.Name }),
		keypairs: registry.NewCollection(reg, registry.KindKeypair, func(k *registry.Keypair) string { return k.UserID + "/" + k.Name }),
		groups:   registry.NewCollection[registry.ServerGroup](reg, registry.KindServerGroup, nil),
	}
}

// handler is a compute handler: it gets the negotiated microversion.
type handler func(w http.ResponseWriter, r *http.Request, v wire.Version) error

// mv wraps h with microversion negotiation and fault translation.
func mv(h handler) gateway.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		v, werr := microversions.Negotiate(w, r)
		if werr != nil {
			return werr
		}
		return fault(h(w, r, v))
	}
}

// caller is the broker's view of the request's principal.
func caller(r *http.Request) broker.Caller {
	p := wire.PrincipalFrom(r.Context())
	if p == nil {
		return broker.Caller{RequestID: wire.RequestID(r.Context())}
	}
	return broker.Caller{UserID: p.UserID, ProjectID: p.ProjectID, IsAdmin: p.IsAdmin(), RequestID: wire.RequestID(r.Context())}
}

// requireWriter refuses read-only callers (the reader role).
func requireWriter(r *http.Request) error {
	if !wire.PrincipalFrom(r.Context()).CanWrite() {
		return wire.Forbidden("Policy doesn't allow this operation to be performed.")
	}
	return nil
}

// requireAdmin refuses non-admin callers with Nova's policy fault.
func requireAdmin(r *http.Request, rule string) error {
	if !wire.PrincipalFrom(r.Context()).IsAdmin() {
		return wire.Forbidden("Policy doesn't allow %s to be performed.", rule)
	}
	return nil
}

// fault turns broker and backend errors into Nova's faults with their exact
// messages; anything else goes on to the gateway's table.
func fault(err error) error {
	if err == nil {
		return nil
	}
	var we *wire.Error
	if errors.As(err, &we) {
		return we
	}
	var qe *broker.QuotaError
	if errors.As(err, &qe) {
		return &wire.Error{Status: http.StatusForbidden, Message: qe.Error(), Cause: err}
	}
	var pe *proxies.Error
	if errors.As(err, &pe) {
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, proxies.ErrNotFound):
			status = http.StatusNotFound
		case errors.Is(err, proxies.ErrInvalid):
			status = http.StatusBadRequest
		case errors.Is(err, proxies.ErrConflict):
			status = http.StatusConflict
		case errors.Is(err, proxies.ErrNotSupported):
			status = http.StatusNotImplemented
		case errors.Is(err, proxies.ErrQuota):
			status = http.StatusForbidden
		case errors.Is(err, proxies.ErrUnavailable):
			status = http.StatusServiceUnavailable
		}
		return &wire.Error{Status: status, Message: pe.Message, Cause: err}
	}
	return err
}

// Register mounts the Nova routes under /compute.
func (s *Service) Register(rt *gateway.Router) {
	r := rt.For("compute", wire.Nova)
	r.Public("GET /compute/{$}", s.versions)
	r.Public("GET /compute", s.versions)
	r.Public("GET /compute/v2.1", s.version)
	r.Public("GET /compute/v2.1/{$}", s.version)

	const p = "/compute/v2.1"
	r.Handle("GET "+p+"/servers", mv(s.listServers(false)))
	r.Handle("GET "+p+"/servers/detail", mv(s.listServers(true)))
	r.Handle("POST "+p+"/servers", mv(s.createServer))
	r.Handle("GET "+p+"/servers/{id}", mv(s.showServer))
	r.Handle("PUT "+p+"/servers/{id}", mv(s.updateServer))
	r.Handle("DELETE "+p+"/servers/{id}", mv(s.deleteServer))
	r.Handle("POST "+p+"/servers/{id}/action", mv(s.serverAction))
	r.Handle("GET "+p+"/servers/{id}/ips", mv(s.listIPs))
	r.Handle("GET "+p+"/servers/{id}/ips/{network}", mv(s.showIPs))
	r.Handle("GET "+p+"/servers/{id}/metadata", mv(s.listMetadata))
	r.Handle("POST "+p+"/servers/{id}/metadata", mv(s.setMetadata(false)))
	r.Handle("PUT "+p+"/servers/{id}/metadata", mv(s.setMetadata(true)))
	r.Handle("GET "+p+"/servers/{id}/metadata/{key}", mv(s.showMetadataItem))
	r.Handle("PUT "+p+"/servers/{id}/metadata/{key}", mv(s.putMetadataItem))
	r.Handle("DELETE "+p+"/servers/{id}/metadata/{key}", mv(s.deleteMetadataItem))
	r.Handle("GET "+p+"/servers/{id}/tags", mv(s.listTags))
	r.Handle("PUT "+p+"/servers/{id}/tags", mv(s.replaceTags))
	r.Handle("DELETE "+p+"/servers/{id}/tags", mv(s.deleteTags))
	r.Handle("GET "+p+"/servers/{id}/tags/{tag}", mv(s.checkTag))
	r.Handle("PUT "+p+"/servers/{id}/tags/{tag}", mv(s.addTag))
	r.Handle("DELETE "+p+"/servers/{id}/tags/{tag}", mv(s.deleteTag))
	r.Handle("GET "+p+"/servers/{id}/os-security-groups", mv(s.listServerSecGroups))
	r.Handle("GET "+p+"/servers/{id}/os-interface", mv(s.listInterfaces))
	r.Handle("POST "+p+"/servers/{id}/os-interface", mv(s.attachInterface))
	r.Handle("GET "+p+"/servers/{id}/os-interface/{port}", mv(s.showInterface))
	r.Handle("DELETE "+p+"/servers/{id}/os-interface/{port}", mv(s.detachInterface))
	r.Handle("GET "+p+"/servers/{id}/os-volume_attachments", mv(s.listVolumeAttachments))
	r.Handle("POST "+p+"/servers/{id}/os-volume_attachments", mv(s.attachVolume))
	r.Handle("GET "+p+"/servers/{id}/os-volume_attachments/{volume}", mv(s.showVolumeAttachment))
	r.Handle("PUT "+p+"/servers/{id}/os-volume_attachments/{volume}", mv(s.swapVolume))
	r.Handle("DELETE "+p+"/servers/{id}/os-volume_attachments/{volume}", mv(s.detachVolume))
	r.Handle("GET "+p+"/servers/{id}/os-instance-actions", mv(s.listInstanceActions))
	r.Handle("GET "+p+"/servers/{id}/os-instance-actions/{req}", mv(s.showInstanceAction))

	r.Handle("GET "+p+"/flavors", mv(s.listFlavors(false)))
	r.Handle("GET "+p+"/flavors/detail", mv(s.listFlavors(true)))
	r.Handle("POST "+p+"/flavors", mv(s.createFlavor))
	r.Handle("GET "+p+"/flavors/{id}", mv(s.showFlavor))
	r.Handle("DELETE "+p+"/flavors/{id}", mv(s.deleteFlavor))
	r.Handle("GET "+p+"/flavors/{id}/os-extra_specs", mv(s.listExtraSpecs))
	r.Handle("POST "+p+"/flavors/{id}/os-extra_specs", mv(s.setExtraSpecs))
	r.Handle("GET "+p+"/flavors/{id}/os-extra_specs/{key}", mv(s.showExtraSpec))
	r.Handle("PUT "+p+"/flavors/{id}/os-extra_specs/{key}", mv(s.putExtraSpec))
	r.Handle("DELETE "+p+"/flavors/{id}/os-extra_specs/{key}", mv(s.deleteExtraSpec))

	r.Handle("GET "+p+"/os-keypairs", mv(s.listKeypairs))
	r.Handle("POST "+p+"/os-keypairs", mv(s.createKeypair))
	r.Handle("GET "+p+"/os-keypairs/{name}", mv(s.showKeypair))
	r.Handle("DELETE "+p+"/os-keypairs/{name}", mv(s.deleteKeypair))

	r.Handle("GET "+p+"/os-availability-zone", mv(s.listZones(false)))
	r.Handle("GET "+p+"/os-availability-zone/detail", mv(s.listZones(true)))
	r.Handle("GET "+p+"/limits", mv(s.limits))
	r.Handle("GET "+p+"/os-quota-sets/{project}", mv(s.quotaSet(false)))
	r.Handle("GET "+p+"/os-quota-sets/{project}/detail", mv(s.quotaSet(true)))
	r.Handle("GET "+p+"/os-quota-sets/{project}/defaults", mv(s.quotaDefaults))

	r.Handle("GET "+p+"/os-security-groups", mv(s.listSecGroups))
	r.Handle("POST "+p+"/os-security-groups", mv(s.createSecGroup))
	r.Handle("GET "+p+"/os-security-groups/{id}", mv(s.showSecGroup))
	r.Handle("PUT "+p+"/os-security-groups/{id}", mv(s.updateSecGroup))
	r.Handle("DELETE "+p+"/os-security-groups/{id}", mv(s.deleteSecGroup))
	r.Handle("GET "+p+"/os-server-groups", mv(s.listServerGroups))
	r.Handle("POST "+p+"/os-server-groups", mv(s.createServerGroup))
	r.Handle("GET "+p+"/os-server-groups/{id}", mv(s.showServerGroup))
	r.Handle("DELETE "+p+"/os-server-groups/{id}", mv(s.deleteServerGroup))

	// os-hypervisors, os-services, os-aggregates (hypervisors.go).
	s.registerLayout(r)
}
