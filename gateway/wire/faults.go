package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// Dialect is the fault body shape of one OpenStack service.
type Dialect int

const (
	// Nova and Cinder: {"itemNotFound": {"code": 404, "message": "..."}}.
	Nova Dialect = iota
	Cinder
	// Neutron: {"NeutronError": {"type": "...", "message": "...", "detail": ""}}.
	Neutron
	// Keystone: {"error": {"code": 401, "title": "Unauthorized", "message": "..."}}.
	Keystone
	// Glance answers with a small HTML-ish text body; clients read the status.
	Glance
)

// Error is an API error with the status, a safe message and (for Neutron) an
// exception type name. Handlers return it; Write renders it.
type Error struct {
	Status  int
	Message string
	// Type is Neutron's exception name (NetworkNotFound, InvalidInput...).
	Type string
	// Cause is logged, never shown.
	Cause error
	// Header values to set on the response (e.g. Retry-After).
	Header http.Header
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// BadRequest, NotFound... are shorthands for the common faults.
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, format, args...)
}
func NotFound(format string, args ...any) *Error { return Errorf(http.StatusNotFound, format, args...) }
func Conflict(format string, args ...any) *Error { return Errorf(http.StatusConflict, format, args...) }
func Forbidden(format string, args ...any) *Error {
	return Errorf(http.StatusForbidden, format, args...)
}
func Unauthorized(format string, args ...any) *Error {
	return Errorf(http.StatusUnauthorized, format, args...)
}
func NotImplemented(format string, args ...any) *Error {
	return Errorf(http.StatusNotImplemented, format, args...)
}

// WithType sets Neutron's exception type name.
func (e *Error) WithType(t string) *Error { e.Type = t; return e }

// FromError turns any error into an *Error with the one translation table of
// the gateway: typed errors of the registry and of the backend contract map to
// OpenStack statuses; anything else is a 500 whose cause goes to the log only.
func FromError(err error) *Error {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	switch {
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, proxies.ErrNotFound):
		return &Error{Status: 404, Message: "Resource not found.", Cause: err}
	case errors.Is(err, registry.ErrExists), errors.Is(err, registry.ErrNameTaken):
		return &Error{Status: 409, Message: "Resource already exists.", Cause: err}
	case errors.Is(err, registry.ErrConflict), errors.Is(err, proxies.ErrConflict):
		return &Error{Status: 409, Message: proxies.SafeMessage(err), Cause: err}
	case errors.Is(err, registry.ErrMarkerNotFound):
		return &Error{Status: 400, Message: "marker not found", Cause: err}
	case errors.Is(err, proxies.ErrNotSupported):
		return &Error{Status: 501, Message: proxies.SafeMessage(err), Cause: err}
	case errors.Is(err, proxies.ErrInvalid):
		return &Error{Status: 400, Message: proxies.SafeMessage(err), Cause: err}
	case errors.Is(err, proxies.ErrCapacity):
		return &Error{Status: 500, Message: "No valid host was found. " + proxies.SafeMessage(err), Cause: err}
	case errors.Is(err, proxies.ErrQuota):
		return &Error{Status: 403, Message: "Quota exceeded: " + proxies.SafeMessage(err), Cause: err}
	case errors.Is(err, proxies.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: 503, Message: "The service is temporarily unavailable.", Cause: err}
	}
	return &Error{Status: 500, Message: "An unexpected error occurred; look up the request id in the gateway log.", Cause: err}
}

// novaNames maps a status to Nova's fault key.
var novaNames = map[int]string{
	400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
	406: "notAcceptable", 409: "conflictingRequest", 413: "overLimit", 415: "badMediaType", 429: "overLimit",
	501: "notImplemented", 503: "serviceUnavailable",
}

var keystoneTitles = map[int]string{
	400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
	409: "Conflict", 413: "Request Entity Too Large", 415: "Unsupported Media Type", 500: "Internal Server Error",
	501: "Not Implemented", 503: "Service Unavailable",
}

var neutronTypes = map[int]string{
	400: "BadRequest", 401: "NotAuthorized", 403: "PolicyNotAuthorized", 404: "NotFound", 409: "Conflict",
	413: "OverQuota", 500: "InternalServerError", 501: "NotImplemented", 503: "ServiceUnavailable",
}

// WriteError renders err as the fault body of dialect and logs its cause.
func WriteError(w http.ResponseWriter, r *http.Request, d Dialect, err error) {
	e := FromError(err)
	if e.Status >= 500 || e.Cause != nil {
		Logger(r.Context()).Log(r.Context(), levelFor(e.Status), "request failed",
			"status", e.Status, "message", e.Message, "cause", errString(e.Cause))
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	var body any
	switch d {
	case Nova, Cinder:
		name, ok := novaNames[e.Status]
		if !ok {
			name = "computeFault"
			if d == Cinder {
				name = "cinderFault"
			}
		}
		body = map[string]any{name: map[string]any{"code": e.Status, "message": e.Message}}
	case Neutron:
		t := e.Type
		if t == "" {
			t = neutronTypes[e.Status]
		}
		body = map[string]any{"NeutronError": map[string]any{"type": t, "message": e.Message, "detail": ""}}
	case Keystone:
		title := keystoneTitles[e.Status]
		if title == "" {
			title = http.StatusText(e.Status)
		}
		body = map[string]any{"error": map[string]any{"code": e.Status, "title": title, "message": e.Message}}
	case Glance:
		// Glance's faults are text/plain-like HTML; clients key on the status.
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.WriteHeader(e.Status)
		fmt.Fprintf(w, "%d %s\n\n%s\n", e.Status, http.StatusText(e.Status), e.Message)
		return
	}
	WriteJSON(w, e.Status, body)
}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// WriteJSON writes v as a JSON body with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error": "encoding failed"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
