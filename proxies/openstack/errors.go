package openstack

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/gophercloud/gophercloud/v2"
)

// wrap is the one error-translation table of this package: a bottom
// OpenStack's answer becomes a typed proxies error with a safe message, the
// raw error kept as Cause for logs. The message never holds the bottom's
// body (which may echo request fields) nor any credential.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *proxies.Error
	if errors.As(err, &pe) {
		return err
	}
	kind, msg := classify(err)
	e := proxies.Errorf(kind, op, "%s", msg)
	e.Cause = err
	return e
}

//lint:ignore ST1008 the first result is the typed kind (a sentinel), not a failure of classify
func classify(err error) (error, string) {
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		body := strings.ToLower(string(code.Body))
		switch c := code.Actual; {
		case c == http.StatusNotFound:
			return proxies.ErrNotFound, "the bottom cloud has no such resource"
		case c == http.StatusConflict:
			return proxies.ErrConflict, "the bottom cloud refused the operation in the resource's current state"
		case c == http.StatusRequestEntityTooLarge || (c == http.StatusForbidden && strings.Contains(body, "quota")):
			return proxies.ErrQuota, "the bottom cloud's quota is exceeded"
		case c == http.StatusTooManyRequests:
			return proxies.ErrUnavailable, "the bottom cloud is throttling requests"
		case c == http.StatusBadRequest:
			if strings.Contains(body, "quota") {
				return proxies.ErrQuota, "the bottom cloud's quota is exceeded"
			}
			return proxies.ErrInvalid, "the bottom cloud rejected the request as invalid"
		case c == http.StatusUnauthorized:
			return proxies.ErrUnavailable, "authentication to the bottom cloud failed"
		case c == http.StatusForbidden:
			return proxies.ErrInvalid, "the bottom cloud's policy forbids the operation"
		case c == http.StatusNotImplemented:
			return proxies.ErrNotSupported, "the bottom cloud does not implement the operation"
		case c >= 500:
			return proxies.ErrUnavailable, "the bottom cloud is unavailable"
		}
		return proxies.ErrInvalid, "the bottom cloud refused the request"
	}
	var nerr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr):
		return proxies.ErrUnavailable, "the bottom cloud did not answer in time or could not be reached"
	case errors.Is(err, context.Canceled):
		return proxies.ErrUnavailable, "the call to the bottom cloud was cancelled"
	}
	return proxies.ErrUnavailable, "the call to the bottom cloud failed"
}

// isNotFound reports whether err is the bottom's 404.
func isNotFound(err error) bool {
	return gophercloud.ResponseCodeIs(err, http.StatusNotFound) || errors.Is(err, proxies.ErrNotFound)
}

// isConflict reports whether err is the bottom's 409.
func isConflict(err error) bool { return gophercloud.ResponseCodeIs(err, http.StatusConflict) }
