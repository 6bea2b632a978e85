// Package bottomsim runs a whole `canopy dev` in-process as a bottom
// OpenStack cloud (Canopy is itself an OpenStack): its own in-memory
// registry, Keystone with the dev users, flavors, images and networks, the
// local pool of simulated hosts, served over HTTP on a loopback port. It is
// the simulator of the OpenStack proxy's tests and of `canopy dev
// --openstack-sim`. It lives apart from proxies/openstack so that the proxy
// itself never imports the gateway.
package bottomsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies/openstack"
	"github.com/canopy-cloud/canopy/registry"
)

// Options shape the bottom.
type Options struct {
	// User is the dev account the returned Config authenticates as:
	// "demo" (default, member of project demo), "alt" or "admin".
	User string
	// BuildDelay is the simulated time to build a server (default 20ms).
	BuildDelay time.Duration
	// AvailabilityZone is the bottom's zone (default "nova").
	AvailabilityZone string
	// Region is the bottom's Keystone region (default RegionOne).
	Region string
}

// Sim is a running bottom Canopy.
type Sim struct {
	// URL is the bottom's base URL; AuthURL its Keystone v3 endpoint.
	URL, AuthURL string
	// Config points an OpenStack proxy at the bottom as Options.User (its
	// password by file: reference, never inline).
	Config openstack.Config
	// Users are the bootstrapped accounts; Projects their project ids by name.
	Users    []app.DevUser
	Projects map[string]string
	// App is the bottom gateway itself, for tests that inspect it.
	App *app.App

	dir    string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	closeF []func()
}

// Start boots a bottom Canopy and serves it until Close.
func Start(ctx context.Context, log *slog.Logger, opts Options) (*Sim, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.User == "" {
		opts.User = "demo"
	}
	if opts.BuildDelay == 0 {
		opts.BuildDelay = 20 * time.Millisecond
	}
	if opts.Region == "" {
		opts.Region = "RegionOne"
	}
	dir, err := os.MkdirTemp("", "canopy-bottom-")
	if err != nil {
		return nil, err
	}
	s := &Sim{dir: dir}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	s.closeF = append(s.closeF, func() { _ = os.RemoveAll(dir) })
	dev, err := registry.StartDevServer(log)
	if err != nil {
		return nil, err
	}
	s.closeF = append(s.closeF, dev.Close)
	reg, err := dev.Open(ctx)
	if err != nil {
		return nil, err
	}
	s.closeF = append(s.closeF, func() { _ = reg.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.URL = "http://" + l.Addr().String()
	s.AuthURL = s.URL + "/identity/v3"
	local := localcloud.DefaultConfig()
	local.ApplyBuildDelay(opts.BuildDelay)
	if opts.AvailabilityZone != "" {
		local.AvailabilityZone = opts.AvailabilityZone
	}
	a, err := app.New(ctx, reg, app.Options{PublicURL: s.URL, Region: opts.Region, DataDir: dir, TokenTTL: time.Hour, Local: local}, log)
	if err != nil {
		l.Close()
		return nil, err
	}
	s.App = a
	if s.Users, err = app.LoadOrCreateDevUsers(dir); err != nil {
		l.Close()
		return nil, err
	}
	if s.Projects, err = a.BootstrapDev(ctx, s.Users); err != nil {
		l.Close()
		return nil, err
	}
	if err := a.Start(ctx); err != nil {
		l.Close()
		return nil, err
	}
	s.closeF = append(s.closeF, a.Close)
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := a.Serve(sctx, l); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("bottom canopy stopped serving", "err", err)
		}
	}()
	if s.Config, err = s.ConfigFor(opts.User); err != nil {
		return nil, err
	}
	s.Config.RegionName = opts.Region
	ok = true
	return s, nil
}

// ConfigFor returns a proxy Config that authenticates as dev user name (its
// password written to a 0600 file and referenced as file:).
func (s *Sim) ConfigFor(name string) (openstack.Config, error) {
	for _, u := range s.Users {
		if u.Name != name {
			continue
		}
		path := filepath.Join(s.dir, name+".password")
		if err := os.WriteFile(path, []byte(u.Password+"\n"), 0o600); err != nil {
			return openstack.Config{}, err
		}
		return openstack.Config{
			AuthURL: s.AuthURL, Interface: "public",
			Auth: openstack.Auth{Username: u.Name, PasswordFrom: "file:" + path, ProjectName: u.Project,
				UserDomainName: "Default", ProjectDomainName: "Default"},
			Admin: u.Role == "admin",
		}, nil
	}
	return openstack.Config{}, fmt.Errorf("bottomsim: no dev user %q (have demo, alt, admin)", name)
}

// Close stops the bottom and removes its data.
func (s *Sim) Close() {
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
		for i := len(s.closeF) - 1; i >= 0; i-- {
			s.closeF[i]()
		}
	})
}

// DevSim starts a bottom Canopy for `canopy dev --openstack-sim` and returns
// the proxy Config that points at it (as the demo user) and the function
// that stops it.
func DevSim(ctx context.Context, log *slog.Logger) (openstack.Config, func(), error) {
	s, err := Start(ctx, log, Options{})
	if err != nil {
		return openstack.Config{}, nil, err
	}
	return s.Config, s.Close, nil
}
