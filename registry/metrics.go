package registry

import (
	"context"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// RequestDuration is the latency of registry commands, by command and outcome.
var RequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Namespace: "canopy",
	Subsystem: "registry",
	Name:      "command_duration_seconds",
	Help:      "Latency of Redis commands and pipelines issued by the registry.",
	Buckets:   []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5},
}, []string{"command", "outcome"})

type metricsHook struct{}

func (metricsHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (metricsHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		observe(cmd.Name(), err, start)
		return err
	}
}

func (metricsHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		observe("pipeline", err, start)
		return err
	}
}

func observe(name string, err error, start time.Time) {
	outcome := "ok"
	if err != nil && err != redis.Nil {
		outcome = "error"
	}
	RequestDuration.WithLabelValues(name, outcome).Observe(time.Since(start).Seconds())
}
