package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the API face. Backend-call metrics live in proxies/metered.
var (
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "canopy",
		Subsystem: "api",
		Name:      "request_duration_seconds",
		Help:      "Latency of OpenStack API requests by service, route, method and status.",
		Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"service", "route", "method", "status"})
)

// Collectors returns the gateway's Prometheus collectors for registration.
func Collectors() []prometheus.Collector { return []prometheus.Collector{requestDuration} }

func observeRequest(service, route, method string, status int, d time.Duration) {
	requestDuration.WithLabelValues(service, route, method, statusLabel(status)).Observe(d.Seconds())
}
