package wire

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
)

// RequestIDHeader is the header OpenStack services put their request id in.
const RequestIDHeader = "X-Openstack-Request-Id"

type requestIDKey struct{}
type loggerKey struct{}

// NewRequestID returns a fresh "req-<uuid>" id.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return "req-" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// WithRequestID returns ctx carrying id and a logger that logs it.
func WithRequestID(ctx context.Context, id string, log *slog.Logger) context.Context {
	ctx = context.WithValue(ctx, requestIDKey{}, id)
	return context.WithValue(ctx, loggerKey{}, log.With("request_id", id))
}

// RequestID returns the request id carried by ctx.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Logger returns the request-scoped logger (or the default logger).
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// Paging is the common limit/marker query of OpenStack list calls.
type Paging struct {
	Limit       int
	Marker      string
	PageReverse bool
}

// ParsePaging reads limit and marker. maxLimit caps the page (0: no cap).
func ParsePaging(r *http.Request, maxLimit int) (Paging, *Error) {
	q := r.URL.Query()
	var p Paging
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, BadRequest("Invalid input for query parameters limit. Value: %s. '%s' is not a valid non-negative integer.", s, s)
		}
		p.Limit = n
	}
	if maxLimit > 0 && (p.Limit == 0 || p.Limit > maxLimit) {
		p.Limit = maxLimit
	}
	p.Marker = q.Get("marker")
	p.PageReverse = q.Get("page_reverse") == "true" || q.Get("page_reverse") == "True"
	return p, nil
}

// BaseURL returns the scheme://host the client used to reach the gateway,
// honouring X-Forwarded-Proto and X-Forwarded-Host from a trusted proxy.
func BaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host = h
	}
	return scheme + "://" + host
}
