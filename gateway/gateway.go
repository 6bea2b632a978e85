// Package gateway is the OpenStack API face of Canopy: the HTTP core every
// service package (identity, compute, image, network...) registers its
// routes on. It owns request ids, structured logs, panic recovery, body-size
// limits, authentication of X-Auth-Token, the service catalog and the
// request metrics; the services own the wire formats of their APIs.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// Authenticator validates a token and returns who it speaks for.
// gateway/identity implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*wire.Principal, error)
}

// Service is one OpenStack API service mounted on the gateway.
type Service interface {
	// Register mounts the service's routes.
	Register(rt *Router)
}

// HandlerFunc is an API handler: it writes a success response or returns an
// error that the router renders in the service's fault dialect.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Gateway is the HTTP front of Canopy.
type Gateway struct {
	mux  *http.ServeMux
	log  *slog.Logger
	auth Authenticator
	// MaxBody is the body limit of ordinary API requests.
	MaxBody int64
}

// New returns a gateway that authenticates with auth.
func New(log *slog.Logger, auth Authenticator) *Gateway {
	return &Gateway{mux: http.NewServeMux(), log: log, auth: auth, MaxBody: wire.MaxBodyBytes}
}

// Mount registers services' routes.
func (g *Gateway) Mount(services ...Service) {
	for _, s := range services {
		s.Register(&Router{g: g})
	}
}

// HandleRaw mounts a plain handler outside the API services (/metrics, /healthz).
func (g *Gateway) HandleRaw(pattern string, h http.Handler) { g.mux.Handle(pattern, h) }

// Handler is the gateway's root handler with every middleware applied.
func (g *Gateway) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := wire.NewRequestID()
		w.Header().Set(wire.RequestIDHeader, id)
		ctx := wire.WithRequestID(r.Context(), id, g.log)
		g.mux.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Router registers one service's routes with its fault dialect and metrics.
type Router struct {
	g       *Gateway
	service string
	dialect wire.Dialect
}

// For returns a router for the named service with its fault dialect.
func (rt *Router) For(service string, d wire.Dialect) *Router {
	return &Router{g: rt.g, service: service, dialect: d}
}

// Handle mounts an authenticated route: requests without a valid token get
// a 401 in the service's dialect.
func (rt *Router) Handle(pattern string, h HandlerFunc) { rt.mount(pattern, h, true) }

// Public mounts a route that needs no token (version documents, token
// issue). A token, when present and valid, is still resolved.
func (rt *Router) Public(pattern string, h HandlerFunc) { rt.mount(pattern, h, false) }

func (rt *Router) mount(pattern string, h HandlerFunc, authRequired bool) {
	g, service, dialect := rt.g, rt.service, rt.dialect
	route := pattern
	g.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		if service == "compute" {
			// Nova sends its request id under both names; tempest reads this one.
			w.Header().Set("X-Compute-Request-Id", wire.RequestID(r.Context()))
		}
		defer func() {
			if p := recover(); p != nil {
				wire.Logger(r.Context()).Error("panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					wire.WriteError(sw, r, dialect, errors.New("panic"))
				}
			}
			observeRequest(service, route, r.Method, sw.status, time.Since(start))
			if g.log.Enabled(r.Context(), slog.LevelDebug) {
				wire.Logger(r.Context()).Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
			}
		}()
		if r.ContentLength > g.MaxBody && !isUpload(r) {
			wire.WriteError(sw, r, dialect, wire.Errorf(http.StatusRequestEntityTooLarge, "Request is too large."))
			return
		}
		if tok := r.Header.Get("X-Auth-Token"); tok != "" && g.auth != nil {
			p, err := g.auth.Authenticate(r.Context(), tok)
			if err != nil {
				if authRequired {
					wire.WriteError(sw, r, dialect, err)
					return
				}
			} else {
				r = r.WithContext(wire.WithPrincipal(r.Context(), p))
			}
		} else if authRequired {
			wire.WriteError(sw, r, dialect, wire.Unauthorized("The request you have made requires authentication."))
			return
		}
		if err := h(sw, r); err != nil {
			wire.WriteError(sw, r, dialect, err)
		}
	})
}

// isUpload reports whether r streams binary data with its own limit (image
// data), which the JSON body limit must not cut.
func isUpload(r *http.Request) bool {
	return r.Header.Get("Content-Type") == "application/octet-stream"
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func statusLabel(code int) string {
	if code == 0 {
		code = http.StatusOK
	}
	return strconv.Itoa(code)
}

// ServiceFunc adapts a registration function to a Service, for routes that
// are wired from two services at once (Nova's image proxy over Glance).
type ServiceFunc func(rt *Router)

// Register calls f.
func (f ServiceFunc) Register(rt *Router) { f(rt) }
