package broker

import (
	"fmt"

	"github.com/canopy-cloud/canopy/proxies"
)

// The broker reports failures as *proxies.Error values whose Kind says how
// the API answers (not found, invalid, conflict, quota, not supported) and
// whose Message is the exact, safe text Nova gives. The compute API renders
// them; nothing here knows HTTP.

func notFound(op, format string, args ...any) error {
	return proxies.Errorf(proxies.ErrNotFound, op, format, args...)
}

func invalid(op, format string, args ...any) error {
	return proxies.Errorf(proxies.ErrInvalid, op, format, args...)
}

func conflict(op, format string, args ...any) error {
	return proxies.Errorf(proxies.ErrConflict, op, format, args...)
}

// stateConflict is Nova's InstanceInvalidState answer.
func stateConflict(op, action, id, vmState string) error {
	return conflict(op, "Cannot '%s' instance %s while it is in vm_state %s", action, id, vmState)
}

func instanceNotFound(op, id string) error {
	return notFound(op, "Instance %s could not be found.", id)
}

// QuotaError is a quota refusal: which resource, what was asked, what is used.
type QuotaError struct {
	Resource  string
	Requested int
	Used      int
	Limit     int
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("Quota exceeded for %s: Requested %d, but already used %d of %d %s",
		e.Resource, e.Requested, e.Used, e.Limit, e.Resource)
}

// Unwrap makes a QuotaError match proxies.ErrQuota.
func (e *QuotaError) Unwrap() error { return proxies.ErrQuota }
