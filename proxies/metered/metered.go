// Package metered is the one metered path of every cloud call (STYLE.md,
// habit 10): it wraps any proxies.Backend so that each call records its
// latency and outcome by cloud and operation, and logs failures with the
// request's context. The gateway wires every backend through it.
package metered

import (
	"context"
	"errors"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/prometheus/client_golang/prometheus"
)

// CallDuration is the latency of backend calls by cloud, operation and outcome.
var CallDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Namespace: "canopy",
	Subsystem: "backend",
	Name:      "call_duration_seconds",
	Help:      "Latency of calls into cloud backends by cloud, operation and outcome.",
	Buckets:   []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 30},
}, []string{"cloud", "operation", "outcome"})

// Wrap returns b with every call metered.
func Wrap(b proxies.Backend) proxies.Backend { return &backend{b: b} }

type backend struct{ b proxies.Backend }

var _ proxies.Backend = (*backend)(nil)

func (m *backend) Name() string { return m.b.Name() }

// Capabilities are the wrapped backend's, with a network resource declared
// only when the wrapped backend also has its driver (see netres.go).
func (m *backend) Capabilities() proxies.Capabilities {
	c := m.b.Capabilities()
	net := findNetDrivers(m.b)
	c.SecurityGroups = c.SecurityGroups && net.sg != nil
	c.Routers = c.Routers && net.rt != nil
	c.FloatingIPs = c.FloatingIPs && net.fip != nil
	return c
}

func (m *backend) Servers() proxies.ServerDriver      { return servers{m.b.Name(), m.b.Servers()} }
func (m *backend) Images() proxies.ImageDriver        { return images{m.b.Name(), m.b.Images()} }
func (m *backend) Networks() proxies.NetworkDriver    { return networks{m.b.Name(), m.b.Networks()} }
func (m *backend) Inventory() proxies.InventoryDriver { return inventory{m.b.Name(), m.b.Inventory()} }

// Unwrap returns the wrapped backend (for capability probes by type).
func (m *backend) Unwrap() proxies.Backend { return m.b }

func observe(cloud, op string, start time.Time, err error) {
	CallDuration.WithLabelValues(cloud, op, outcome(err)).Observe(time.Since(start).Seconds())
}

// outcome names an error's kind without leaking its text into a label.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, proxies.ErrNotFound):
		return "not_found"
	case errors.Is(err, proxies.ErrConflict):
		return "conflict"
	case errors.Is(err, proxies.ErrNotSupported):
		return "not_supported"
	case errors.Is(err, proxies.ErrCapacity):
		return "capacity"
	case errors.Is(err, proxies.ErrQuota):
		return "quota"
	case errors.Is(err, proxies.ErrInvalid):
		return "invalid"
	case errors.Is(err, proxies.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return "unavailable"
	}
	return "error"
}

type servers struct {
	cloud string
	d     proxies.ServerDriver
}

func (s servers) CreateServer(ctx context.Context, spec proxies.ServerSpec) (st proxies.ServerStatus, err error) {
	defer func(t time.Time) { observe(s.cloud, "CreateServer", t, err) }(time.Now())
	return s.d.CreateServer(ctx, spec)
}
func (s servers) GetServer(ctx context.Context, id string) (st proxies.ServerStatus, err error) {
	defer func(t time.Time) { observe(s.cloud, "GetServer", t, err) }(time.Now())
	return s.d.GetServer(ctx, id)
}
func (s servers) ListServers(ctx context.Context) (l []proxies.ServerStatus, err error) {
	defer func(t time.Time) { observe(s.cloud, "ListServers", t, err) }(time.Now())
	return s.d.ListServers(ctx)
}
func (s servers) StartServer(ctx context.Context, id string) (st proxies.ServerStatus, err error) {
	defer func(t time.Time) { observe(s.cloud, "StartServer", t, err) }(time.Now())
	return s.d.StartServer(ctx, id)
}
func (s servers) StopServer(ctx context.Context, id string) (st proxies.ServerStatus, err error) {
	defer func(t time.Time) { observe(s.cloud, "StopServer", t, err) }(time.Now())
	return s.d.StopServer(ctx, id)
}
func (s servers) RebootServer(ctx context.Context, id string, kind proxies.RebootKind) (st proxies.ServerStatus, err error) {
	defer func(t time.Time) { observe(s.cloud, "RebootServer", t, err) }(time.Now())
	return s.d.RebootServer(ctx, id, kind)
}
func (s servers) DeleteServer(ctx context.Context, id string) (err error) {
	defer func(t time.Time) { observe(s.cloud, "DeleteServer", t, err) }(time.Now())
	return s.d.DeleteServer(ctx, id)
}
func (s servers) ConsoleOutput(ctx context.Context, id string, lines int) (out string, err error) {
	defer func(t time.Time) { observe(s.cloud, "ConsoleOutput", t, err) }(time.Now())
	return s.d.ConsoleOutput(ctx, id, lines)
}
func (s servers) SnapshotServer(ctx context.Context, id, imageID string) (st proxies.ImageStatus, err error) {
	defer func(t time.Time) { observe(s.cloud, "SnapshotServer", t, err) }(time.Now())
	return s.d.SnapshotServer(ctx, id, imageID)
}

type images struct {
	cloud string
	d     proxies.ImageDriver
}

func (i images) ImportImage(ctx context.Context, spec proxies.ImageSpec, data proxies.ImageReader) (st proxies.ImageStatus, err error) {
	defer func(t time.Time) { observe(i.cloud, "ImportImage", t, err) }(time.Now())
	return i.d.ImportImage(ctx, spec, data)
}
func (i images) GetImage(ctx context.Context, id string) (st proxies.ImageStatus, err error) {
	defer func(t time.Time) { observe(i.cloud, "GetImage", t, err) }(time.Now())
	return i.d.GetImage(ctx, id)
}
func (i images) DeleteImage(ctx context.Context, id string) (err error) {
	defer func(t time.Time) { observe(i.cloud, "DeleteImage", t, err) }(time.Now())
	return i.d.DeleteImage(ctx, id)
}

type networks struct {
	cloud string
	d     proxies.NetworkDriver
}

func (n networks) EnsureNetwork(ctx context.Context, spec proxies.NetworkSpec) (st proxies.NetworkStatus, err error) {
	defer func(t time.Time) { observe(n.cloud, "EnsureNetwork", t, err) }(time.Now())
	return n.d.EnsureNetwork(ctx, spec)
}
func (n networks) DeleteNetwork(ctx context.Context, id string) (err error) {
	defer func(t time.Time) { observe(n.cloud, "DeleteNetwork", t, err) }(time.Now())
	return n.d.DeleteNetwork(ctx, id)
}

type inventory struct {
	cloud string
	d     proxies.InventoryDriver
}

func (v inventory) Hosts(ctx context.Context) (h []proxies.Host, err error) {
	defer func(t time.Time) { observe(v.cloud, "Hosts", t, err) }(time.Now())
	return v.d.Hosts(ctx)
}
