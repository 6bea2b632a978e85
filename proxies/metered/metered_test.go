package metered

import (
	"context"
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
