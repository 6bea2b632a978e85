// Package network is the gateway's Neutron v2.0 API: networks, subnets,
// ports, security groups, routers, floating IPs and quotas, with addresses allocated
// atomically in the registry. It also implements broker.Ports, the seam
// through which compute creates and binds server ports, and EnsureNetwork and
// EnsureExternalNetwork for bootstrap.
//
// Records live in the registry under their project; lists are filtered,
// sorted and paged here exactly as Neutron does it (filters by field name,
// fields=, limit/marker/page_reverse with <collection>_links).
package network

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// Options configure the network service. Zero values take the defaults.
type Options struct {
	// MTU of new networks (default 1500).
	MTU int
	// AvailabilityZone shown in availability_zones and used for server
	// ports' device_owner "compute:<az>" (default "nova").
	AvailabilityZone string
	// Now is the clock (default time.Now); tests pin it.
	Now func() time.Time
	// NewID mints resource ids (default random UUIDs); tests pin it.
	NewID func() string
	// AdminProjectID owns the external network EnsureExternalNetwork makes
	// (the cloud admin's project; "" shows an empty project_id).
	AdminProjectID string
}

func (o Options) withDefaults() Options {
	if o.MTU <= 0 {
		o.MTU = 1500
	}
	if o.AvailabilityZone == "" {
		o.AvailabilityZone = "nova"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = newUUID
	}
	return o
}

// Service is the Neutron API and the broker's port provider.
type Service struct {
	reg      *registry.Registry
	opts     Options
	networks *registry.Collection[registry.Network]
	subnets  *registry.Collection[registry.Subnet]
	ports    *registry.Collection[registry.Port]
	// secGroups hold security groups with their rules; ruleRefs find a
	// rule's group from the rule id.
	secGroups *registry.Collection[secGroup]
	ruleRefs  *registry.Collection[sgRuleRef]
	routers   *registry.Collection[router]
	fips      *registry.Collection[floatingIP]
	// subnetPools hold subnet pools (subnet_allocation).
	subnetPools *registry.Collection[subnetPool]
	// portExtras hold ports' allowed address pairs.
	portExtras *registry.Collection[portExtra]
	// realiser pushes changes to the clouds (SetRealiser, realise.go).
	realiser Realiser
}

var (
	_ gateway.Service = (*Service)(nil)
	_ broker.Ports    = (*Service)(nil)
)

// New returns the network service over reg. It has no side effects.
func New(reg *registry.Registry, opts Options) *Service {
	return &Service{
		reg:      reg,
		opts:     opts.withDefaults(),
		networks: registry.NewCollection[registry.Network](reg, registry.KindNetwork, nil),
		subnets:  registry.NewCollection[registry.Subnet](reg, registry.KindSubnet, nil),
		ports:    registry.NewCollection[registry.Port](reg, registry.KindPort, nil),

		secGroups: registry.NewCollection[secGroup](reg, kindSecGroup, nil),
		ruleRefs:  registry.NewCollection[sgRuleRef](reg, kindSecGroupRule, nil),
		routers:   registry.NewCollection[router](reg, kindRouter, nil),
		fips:      registry.NewCollection[floatingIP](reg, kindFloatingIP, nil),

		subnetPools: registry.NewCollection[subnetPool](reg, kindSubnetPool, nil),

		portExtras: registry.NewCollection[portExtra](reg, kindPortExtra, nil),
	}
}

// Register mounts the Neutron routes (see urls.go).
func (s *Service) Register(rt *gateway.Router) {
	r := rt.For("network", wire.Neutron)
	r.Public(routeRoot, s.listVersions)
	r.Public(routeRootSlash, s.listVersions)
	r.Handle(routeV2, s.listResources)
	r.Handle(routeV2Slash, s.listResources)
	r.Handle(routeExtensions, s.listExtensions)
	r.Handle(routeExtension, s.showExtension)

	r.Handle("GET "+routeNetworks, s.listNetworks)
	r.Handle("POST "+routeNetworks, s.createNetwork)
	r.Handle("GET "+routeNetwork, s.showNetwork)
	r.Handle("PUT "+routeNetwork, s.updateNetwork)
	r.Handle("DELETE "+routeNetwork, s.deleteNetwork)

	r.Handle("GET "+routeSubnets, s.listSubnets)
	r.Handle("POST "+routeSubnets, s.createSubnet)
	r.Handle("GET "+routeSubnet, s.showSubnet)
	r.Handle("PUT "+routeSubnet, s.updateSubnet)
	r.Handle("DELETE "+routeSubnet, s.deleteSubnet)

	r.Handle("GET "+routePorts, s.listPorts)
	r.Handle("POST "+routePorts, s.createPort)
	r.Handle("GET "+routePort, s.showPort)
	r.Handle("PUT "+routePort, s.updatePort)
	r.Handle("DELETE "+routePort, s.deletePort)

	r.Handle("GET "+routeSecGroups, s.listSecGroups)
	r.Handle("POST "+routeSecGroups, s.createSecGroup)
	r.Handle("GET "+routeSecGroup, s.showSecGroup)
	r.Handle("PUT "+routeSecGroup, s.updateSecGroup)
	r.Handle("DELETE "+routeSecGroup, s.deleteSecGroup)
	r.Handle("GET "+routeRules, s.listRules)
	r.Handle("POST "+routeRules, s.createRule)
	r.Handle("GET "+routeRule, s.showRule)
	r.Handle("DELETE "+routeRule, s.deleteRule)

	r.Handle("GET "+routeRouters, s.listRouters)
	r.Handle("POST "+routeRouters, s.createRouter)
	r.Handle("GET "+routeRouter, s.showRouter)
	r.Handle("PUT "+routeRouter, s.updateRouter)
	r.Handle("DELETE "+routeRouter, s.deleteRouter)
	r.Handle(routeRouterAddIface, s.addRouterInterface)
	r.Handle(routeRouterDelIface, s.removeRouterInterface)

	r.Handle("GET "+routeFloatingIPs, s.listFloatingIPs)
	r.Handle("POST "+routeFloatingIPs, s.createFloatingIP)
	r.Handle("GET "+routeFloatingIP, s.showFloatingIP)
	r.Handle("PUT "+routeFloatingIP, s.updateFloatingIP)
	r.Handle("DELETE "+routeFloatingIP, s.deleteFloatingIP)

	r.Handle("GET "+routeSubnetPools, s.listSubnetPools)
	r.Handle("POST "+routeSubnetPools, s.createSubnetPool)
	r.Handle("GET "+routeSubnetPool, s.showSubnetPool)
	r.Handle("PUT "+routeSubnetPool, s.updateSubnetPool)
	r.Handle("DELETE "+routeSubnetPool, s.deleteSubnetPool)

	r.Handle("GET "+routeQuota, s.showQuota)
	r.Handle("PUT "+routeQuota, s.updateQuota)
	r.Handle("DELETE "+routeQuota, s.deleteQuota)
	r.Handle(routeQuotaDetails, s.showQuotaDetails)
	r.Handle(routeQuotaDefault, s.showDefaultQuota)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return formatUUID(b)
}

// nameUUID returns a UUID derived from parts (version 5 layout), so a
// bootstrap create retried with the same inputs finds the same record.
func nameUUID(parts ...string) string {
	h := sha1.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = (b[6] & 0x0f) | 0x50
	b[8] = (b[8] & 0x3f) | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// stamp formats a time as Neutron shows created_at/updated_at.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// now is the current time at full precision: records keep it (so the
// registry's creation order is exact) and stamp shows it to the second.
func (s *Service) now() time.Time { return s.opts.Now().UTC() }
