package registry

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/alicebob/miniredis/v2"
)

// DevServer is an in-process, in-memory Redis-protocol server for
// `canopy dev`. It is NOT durable: everything is lost when the process exits,
// exactly like `vault server -dev`. Production uses a real Redis.
type DevServer struct {
	mr *miniredis.Miniredis
}

// StartDevServer starts the in-memory server on a loopback port and logs a
// loud warning that it keeps nothing.
func StartDevServer(log *slog.Logger) (*DevServer, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("registry: start in-memory dev server: %w", err)
	}
	if log != nil {
		log.Warn("REGISTRY IS IN-MEMORY AND NOT DURABLE: all state is lost when canopy dev exits; use --redis URL for a real Redis",
			"addr", mr.Addr())
	}
	return &DevServer{mr: mr}, nil
}

// URL is the redis:// URL of the dev server.
func (d *DevServer) URL() string { return "redis://" + d.mr.Addr() + "/0" }

// Open connects a Registry to the dev server.
func (d *DevServer) Open(ctx context.Context) (*Registry, error) {
	return Open(ctx, Options{URL: d.URL()})
}

// Close stops the server.
func (d *DevServer) Close() { d.mr.Close() }
