package metered

import (
	"context"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

// The metered backend implements the three network-resource drivers itself,
// so that proxies.SecurityGroupsOf, RoutersOf and FloatingIPsOf on a wrapped
// backend give metered drivers. Because the wrapper always has the methods,
// its Capabilities declare a network resource only when the wrapped backend
// both declares it and has the driver: the *Of accessors then answer for the
// wrapper exactly as they would for the backend it wraps.

// netDrivers are the wrapped backend's drivers, nil where it has none.
type netDrivers struct {
	sg  proxies.SecurityGroupDriver
	rt  proxies.RouterDriver
	fip proxies.FloatingIPDriver
}

func findNetDrivers(b proxies.Backend) netDrivers {
	var d netDrivers
	d.sg, _ = proxies.SecurityGroupsOf(b)
	d.rt, _ = proxies.RoutersOf(b)
	d.fip, _ = proxies.FloatingIPsOf(b)
	return d
}

var (
	_ proxies.SecurityGroupDriver = (*backend)(nil)
	_ proxies.RouterDriver        = (*backend)(nil)
	_ proxies.FloatingIPDriver    = (*backend)(nil)
)

func notSupported(op string) error {
	return proxies.Errorf(proxies.ErrNotSupported, op, "this cloud does not support it")
}

// EnsureSecurityGroup is the wrapped backend's, metered.
func (m *backend) EnsureSecurityGroup(ctx context.Context, spec proxies.SecurityGroupSpec) (st proxies.SecurityGroupStatus, err error) {
	const op = "EnsureSecurityGroup"
	d := findNetDrivers(m.b).sg
	if d == nil {
		return st, notSupported(op)
	}
	defer func(t time.Time) { observe(m.b.Name(), op, t, err) }(time.Now())
	return d.EnsureSecurityGroup(ctx, spec)
}

// DeleteSecurityGroup is the wrapped backend's, metered.
func (m *backend) DeleteSecurityGroup(ctx context.Context, id string) (err error) {
	const op = "DeleteSecurityGroup"
	d := findNetDrivers(m.b).sg
	if d == nil {
		return notSupported(op)
	}
	defer func(t time.Time) { observe(m.b.Name(), op, t, err) }(time.Now())
	return d.DeleteSecurityGroup(ctx, id)
}

// SetNICSecurityGroups is the wrapped backend's, metered.
func (m *backend) SetNICSecurityGroups(ctx context.Context, serverID, portID string, groupIDs []string) (err error) {
	const op = "SetNICSecurityGroups"
	d := findNetDrivers(m.b).sg
	if d == nil {
		return notSupported(op)
	}
	defer func(t time.Time) { observe(m.b.Name(), op, t, err) }(time.Now())
	return d.SetNICSecurityGroups(ctx, serverID, portID, groupIDs)
}

// EnsureRouter is the wrapped backend's, metered.
func (m *backend) EnsureRouter(ctx context.Context, spec proxies.RouterSpec) (st proxies.RouterStatus, err error) {
	const op = "EnsureRouter"
	d := findNetDrivers(m.b).rt
	if d == nil {
		return st, notSupported(op)
	}
	defer func(t time.Time) { observe(m.b.Name(), op, t, err) }(time.Now())
	return d.EnsureRouter(ctx, spec)
}

// DeleteRouter is the wrapped backend's, metered.
func (m *backend) DeleteRouter(ctx context.Context, id string) (err error) {
	const op = "DeleteRouter"
	d := findNetDrivers(m.b).rt
	if d == nil {
		return notSupported(op)
	}
	defer func(t time.Time) { observe(m.b.Name(), op, t, err) }(time.Now())
	return d.DeleteRouter(ctx, id)
}

// EnsureFloatingIP is the wrapped backend's, metered.
func (m *backend) EnsureFloatingIP(ctx context.Context, spec proxies.FloatingIPSpec) (st proxies.FloatingIPStatus, err error) {
	const op = "EnsureFloatingIP"
	d := findNetDrivers(m.b).fip
	if d == nil {
		return st, notSupported(op)
	}
	defer func(t time.Time) { observe(m.b.Name(), op, t, err) }(time.Now())
	return d.EnsureFloatingIP(ctx, spec)
}

// ReleaseFloatingIP is the wrapped backend's, metered.
func (m *backend) ReleaseFloatingIP(ctx context.Context, id string) (err error) {
	const op = "ReleaseFloatingIP"
	d := findNetDrivers(m.b).fip
	if d == nil {
		return notSupported(op)
	}
	defer func(t time.Time) { observe(m.b.Name(), op, t, err) }(time.Now())
	return d.ReleaseFloatingIP(ctx, id)
}
