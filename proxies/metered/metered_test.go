package metered

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeServers fails GetServer with not-found and succeeds otherwise.
type fakeServers struct{ proxies.ServerDriver }

func (fakeServers) GetServer(context.Context, string) (proxies.ServerStatus, error) {
	return proxies.ServerStatus{}, fmt.Errorf("lookup: %w", proxies.ErrNotFound)
}
func (fakeServers) DeleteServer(context.Context, string) error { return nil }

type fakeBackend struct{ proxies.Backend }

func (fakeBackend) Name() string                  { return "fake-cloud" }
func (fakeBackend) Servers() proxies.ServerDriver { return fakeServers{} }

func TestOutcomeLabels(t *testing.T) {
	b := Wrap(fakeBackend{})
	ctx := context.Background()
	if _, err := b.Servers().GetServer(ctx, "x"); err == nil {
		t.Fatal("error swallowed by the wrapper")
	}
	if err := b.Servers().DeleteServer(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ op, outcome string }{
		{"GetServer", "not_found"},
		{"DeleteServer", "ok"},
	}
	for _, tc := range cases {
		var m dto.Metric
		h := CallDuration.WithLabelValues("fake-cloud", tc.op, tc.outcome).(prometheus.Metric)
		if err := h.Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetHistogram().GetSampleCount(); got != 1 {
			t.Errorf("%s/%s: %d observations, want 1", tc.op, tc.outcome, got)
		}
	}
}

// fullBackend declares every network resource; its drivers come from the
// embedded fakes (nil ones are missing).
type fullBackend struct {
	proxies.Backend
	caps proxies.Capabilities
}

func (b fullBackend) Name() string                       { return "net-cloud" }
func (b fullBackend) Capabilities() proxies.Capabilities { return b.caps }

// fipBackend has a floating-IP driver that answers not-found on release.
type fipBackend struct{ fullBackend }

func (fipBackend) EnsureFloatingIP(_ context.Context, spec proxies.FloatingIPSpec) (proxies.FloatingIPStatus, error) {
	return proxies.FloatingIPStatus{ID: spec.ID, BottomID: "b-" + spec.ID, PortID: spec.PortID}, nil
}
func (fipBackend) ReleaseFloatingIP(context.Context, string) error {
	return fmt.Errorf("release: %w", proxies.ErrNotFound)
}

func TestNetworkResourceDrivers(t *testing.T) {
	caps := proxies.Capabilities{SecurityGroups: true, Routers: true, FloatingIPs: true}
	b := Wrap(fipBackend{fullBackend{caps: caps}})
	got := b.Capabilities()
	if got.SecurityGroups || got.Routers || !got.FloatingIPs {
		t.Errorf("wrapped capabilities = sg %v, routers %v, fips %v; want only floating IPs (the only driver the backend has)",
			got.SecurityGroups, got.Routers, got.FloatingIPs)
	}
	if _, ok := proxies.SecurityGroupsOf(b); ok {
		t.Error("SecurityGroupsOf(wrapped) = ok for a backend without a SecurityGroupDriver")
	}
	if _, ok := proxies.RoutersOf(b); ok {
		t.Error("RoutersOf(wrapped) = ok for a backend without a RouterDriver")
	}
	d, ok := proxies.FloatingIPsOf(b)
	if !ok {
		t.Fatal("FloatingIPsOf(wrapped) = false for a backend with a FloatingIPDriver")
	}
	if st, err := d.EnsureFloatingIP(context.Background(), proxies.FloatingIPSpec{ID: "f1", PortID: "p1"}); err != nil || st.PortID != "p1" {
		t.Errorf("EnsureFloatingIP through the wrapper = %+v, %v", st, err)
	}
	if err := d.ReleaseFloatingIP(context.Background(), "f1"); err == nil {
		t.Error("ReleaseFloatingIP error swallowed by the wrapper")
	}
	for _, tc := range []struct{ op, outcome string }{{"EnsureFloatingIP", "ok"}, {"ReleaseFloatingIP", "not_found"}} {
		var m dto.Metric
		if err := CallDuration.WithLabelValues("net-cloud", tc.op, tc.outcome).(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetHistogram().GetSampleCount(); got != 1 {
			t.Errorf("%s/%s: %d observations, want 1 (the driver from FloatingIPsOf must be the metered one)", tc.op, tc.outcome, got)
		}
	}
	undeclared := Wrap(fipBackend{fullBackend{}})
	if _, ok := proxies.FloatingIPsOf(undeclared); ok {
		t.Error("FloatingIPsOf(wrapped) = ok for a backend that does not declare floating_ips")
	}
	if _, err := b.(proxies.SecurityGroupDriver).EnsureSecurityGroup(context.Background(), proxies.SecurityGroupSpec{ID: "g"}); !errors.Is(err, proxies.ErrNotSupported) {
		t.Errorf("EnsureSecurityGroup on a wrapper of a backend without the driver = %v; want ErrNotSupported", err)
	}
}
