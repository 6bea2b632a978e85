// Package identity is Canopy's built-in Keystone v3: password, token and
// application-credential authentication, Fernet tokens, and the users,
// projects, domains, roles, role assignments and application credentials
// that tempest and openstackclient use, kept in the registry.
//
// Tokens are Fernet tokens signed with a Keystone-layout key repository, so a
// token is validated by decryption alone: Authenticate, which every API call
// of every service goes through, never waits on Redis. Revocations (token
// delete, password change, user or role removal) are events in a Redis stream
// that every replica loads at start and follows in Run.
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
	"golang.org/x/crypto/bcrypt"
)

// Options configure the identity service. Zero values take Keystone's defaults.
type Options struct {
	// PublicURL is the gateway's public base URL, e.g. "http://127.0.0.1:5000";
	// catalog URLs are PublicURL + service path.
	PublicURL string
	// Region is the catalog's one region, "RegionOne" by default.
	Region string
	// Services are listed in the catalog (gateway.DefaultServices by default).
	Services []gateway.CatalogService
	// KeyRepository is the directory of Fernet keys in Keystone's layout
	// (0 = staged, highest = primary). An empty directory is set up.
	KeyRepository string
	// TokenTTL is how long a token lives; 1h by default.
	TokenTTL time.Duration
	// PasswordHashCost is the bcrypt cost; bcrypt.DefaultCost by default.
	// Tests lower it to keep token issue fast.
	PasswordHashCost int
	// UniqueLastPasswordCount is Keystone's [security_compliance]
	// unique_last_password_count: a new password must differ from this many
	// latest ones (the current included). 2 by default, as tempest expects;
	// 1 allows any password but the current one.
	UniqueLastPasswordCount int
	// CacheSize bounds the validated-token cache; 10000 by default.
	CacheSize int
}

func (o *Options) setDefaults() {
	if o.Region == "" {
		o.Region = "RegionOne"
	}
	if o.Services == nil {
		o.Services = gateway.DefaultServices
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.PasswordHashCost == 0 {
		o.PasswordHashCost = bcrypt.DefaultCost
	}
	if o.UniqueLastPasswordCount <= 0 {
		o.UniqueLastPasswordCount = 2
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
}

func (o *Options) validate() error {
	if o.PublicURL == "" {
		return errors.New("identity: public_url is empty; set it to the URL clients reach the gateway at")
	}
	if o.PasswordHashCost < bcrypt.MinCost || o.PasswordHashCost > bcrypt.MaxCost {
		return fmt.Errorf("identity: password hash cost %d is outside bcrypt's %d..%d", o.PasswordHashCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	return nil
}

// Service is the Keystone v3 API and the gateway's token authenticator.
type Service struct {
	reg  *registry.Registry
	opts Options
	log  *slog.Logger
	now  func() time.Time

	keys      atomic.Pointer[keyRing]
	cache     *tokenCache
	revs      *revocations
	lastEvent string // stream id of the last revocation loaded by New

	domains  *registry.Collection[registry.Domain]
	projects *registry.Collection[registry.IdentityProject]
	users    *registry.Collection[registry.User]
	roles    *registry.Collection[registry.Role]
	assigns  *registry.Collection[registry.RoleAssignment]
	appCreds *registry.Collection[registry.AppCredential]

	// dummyHash is compared against when a user does not exist, so that an
	// unknown user costs the same time as a wrong password.
	dummyHash []byte
}

var _ gateway.Authenticator = (*Service)(nil)
var _ gateway.Service = (*Service)(nil)

// New loads (or sets up) the key repository and the revocation events. It
// does not create any identity record: Bootstrap does that.
func New(ctx context.Context, reg *registry.Registry, opts Options, log *slog.Logger) (*Service, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	ring, err := loadKeys(opts.KeyRepository)
	if err != nil {
		return nil, err
	}
	s := &Service{
		reg: reg, opts: opts, log: log, now: func() time.Time { return time.Now().UTC() },
		cache: newTokenCache(opts.CacheSize), revs: newRevocations(),
		domains: registry.NewCollection(reg, registry.KindDomain, func(d *registry.Domain) string { return d.Name }),
		projects: registry.NewCollection(reg, registry.KindProject, func(p *registry.IdentityProject) string {
			return p.DomainID + "/" + p.Name
		}),
		users: registry.NewCollection(reg, registry.KindUser, func(u *registry.User) string {
			return u.DomainID + "/" + u.Name
		}),
		roles:   registry.NewCollection(reg, registry.KindRole, func(r *registry.Role) string { return r.Name }),
		assigns: registry.NewCollection[registry.RoleAssignment](reg, registry.KindRoleAssignment, nil),
		appCreds: registry.NewCollection(reg, registry.KindAppCredential, func(a *registry.AppCredential) string {
			return a.UserID + "/" + a.Name
		}),
	}
	s.keys.Store(ring)
	if s.dummyHash, err = bcrypt.GenerateFromPassword([]byte(newID()), opts.PasswordHashCost); err != nil {
		return nil, err
	}
	if s.lastEvent, err = s.loadRevocations(ctx); err != nil {
		return nil, fmt.Errorf("identity: load revocation events: %w", err)
	}
	return s, nil
}

// Authenticate validates an X-Auth-Token for every service of the gateway.
// It decrypts (or finds in the cache) and checks the in-memory revocation
// set; it never calls Redis. Any failure is a plain 401. The returned
// Principal's Roles slice is shared and must not be modified.
func (s *Service) Authenticate(_ context.Context, token string) (*wire.Principal, error) {
	v, err := s.validate(token)
	if err != nil {
		return nil, &wire.Error{Status: 401, Message: "The request you have made requires authentication.", Cause: err}
	}
	p := v.principal
	return &p, nil
}

// Run follows the revocation feed (so that a revocation made on any replica
// takes effect here within a second), prunes expired cache entries and old
// events, and reloads the key repository after a rotation. It returns when
// ctx ends.
func (s *Service) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.followRevocations(ctx, s.lastEvent)
	}()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return nil
		case <-tick.C:
			now := s.now()
			s.cache.prune(now)
			s.revs.forget(now.Add(-s.opts.TokenTTL - time.Minute))
			if err := s.ReloadKeys(); err != nil {
				s.log.Error("identity: cannot reload Fernet keys; keeping the loaded ones", "err", err)
			}
		}
	}
}

// ReloadKeys rereads the key repository (after canopy fernet-rotate). Run
// calls it every 30 seconds.
func (s *Service) ReloadKeys() error {
	ring, err := loadKeys(s.opts.KeyRepository)
	if err != nil {
		return err
	}
	if ring.sig != s.keys.Load().sig {
		s.keys.Store(ring)
		s.cache.clear()
		s.log.Info("identity: Fernet key repository reloaded", "keys", len(ring.all))
	}
	return nil
}
