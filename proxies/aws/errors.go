package aws

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/canopy-cloud/canopy/proxies"
)

// errorKinds is the one table that turns EC2 error codes into Canopy's typed
// kinds. Codes not listed fall back by suffix (…NotFound, …LimitExceeded,
// Invalid…) in kindOf.
var errorKinds = map[string]error{
	"IncorrectInstanceState":       proxies.ErrConflict,
	"IncorrectState":               proxies.ErrConflict,
	"VolumeInUse":                  proxies.ErrConflict,
	"DependencyViolation":          proxies.ErrConflict,
	"InvalidGroup.InUse":           proxies.ErrConflict,
	"InvalidGroup.Duplicate":       proxies.ErrConflict,
	"InvalidKeyPair.Duplicate":     proxies.ErrConflict,
	"InvalidIPAddress.InUse":       proxies.ErrConflict,
	"InvalidSnapshot.InUse":        proxies.ErrConflict,
	"Resource.AlreadyAssociated":   proxies.ErrConflict,
	"InvalidPermission.Duplicate":  proxies.ErrConflict,
	"Gateway.NotAttached":          proxies.ErrConflict,
	"InvalidVpcID.Malformed":       proxies.ErrInvalid,
	"InsufficientInstanceCapacity": proxies.ErrCapacity,
	"InsufficientCapacity":         proxies.ErrCapacity,
	"InsufficientAddressCapacity":  proxies.ErrCapacity,
	"InsufficientVolumeCapacity":   proxies.ErrCapacity,
	"InsufficientHostCapacity":     proxies.ErrCapacity,
	"Unsupported":                  proxies.ErrCapacity, // e.g. the type is not offered in this zone
	"InstanceLimitExceeded":        proxies.ErrQuota,
	"VcpuLimitExceeded":            proxies.ErrQuota,
	"MaxSpotInstanceCountExceeded": proxies.ErrQuota,
	"RequestLimitExceeded":         proxies.ErrUnavailable,
	"Throttling":                   proxies.ErrUnavailable,
	"ThrottlingException":          proxies.ErrUnavailable,
	"ServiceUnavailable":           proxies.ErrUnavailable,
	"Unavailable":                  proxies.ErrUnavailable,
	"InternalError":                proxies.ErrUnavailable,
	"RequestTimeout":               proxies.ErrUnavailable,
	"AuthFailure":                  proxies.ErrUnavailable, // our credentials: the cloud is unusable, not the request
	"UnauthorizedOperation":        proxies.ErrUnavailable,
	"InvalidClientTokenId":         proxies.ErrUnavailable,
	"SignatureDoesNotMatch":        proxies.ErrUnavailable,
	"OptInRequired":                proxies.ErrUnavailable,
}

// safeText is the client-safe message of each kind.
var safeText = map[error]string{
	proxies.ErrNotFound:    "the resource does not exist in AWS",
	proxies.ErrConflict:    "the AWS resource is in the wrong state for this operation",
	proxies.ErrCapacity:    "AWS has no capacity for this request in the zone",
	proxies.ErrQuota:       "the AWS account's quota is exhausted",
	proxies.ErrInvalid:     "AWS refused the request as invalid",
	proxies.ErrUnavailable: "AWS is unavailable (down, throttled beyond retries, timed out or refusing our credentials)",
}

// kindOf maps one EC2 error code to a kind.
func kindOf(code string) error {
	if k, ok := errorKinds[code]; ok {
		return k
	}
	switch {
	case strings.HasSuffix(code, ".NotFound"), strings.HasSuffix(code, "NotFound"):
		return proxies.ErrNotFound
	case strings.HasSuffix(code, "LimitExceeded"):
		return proxies.ErrQuota
	case strings.HasPrefix(code, "Invalid"), strings.HasPrefix(code, "Missing"), code == "ValidationError":
		return proxies.ErrInvalid
	}
	return proxies.ErrUnavailable
}

// mapErr turns an SDK error into a typed *proxies.Error. The EC2 code goes
// into the message (codes are not secrets); the raw error, which may carry
// account ids and ARNs, stays in Cause.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *proxies.Error
	if errors.As(err, &pe) {
		return err
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		kind := kindOf(ae.ErrorCode())
		e := proxies.Errorf(kind, op, "%s (AWS %s)", safeText[kind], ae.ErrorCode())
		e.Cause = err
		return e
	}
	var rw *rateWaitError
	if errors.As(err, &rw) {
		e := proxies.Errorf(proxies.ErrUnavailable, op, "AWS is throttled: no request token within the configured wait")
		e.Cause = err
		return e
	}
	var ne net.Error
	msg := "AWS did not answer in time"
	switch {
	case errors.Is(err, context.Canceled):
		msg = "the call to AWS was cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne):
	default:
		msg = "the call to AWS failed"
	}
	e := proxies.Errorf(proxies.ErrUnavailable, op, "%s", msg)
	e.Cause = err
	return e
}

// isCode reports whether err is an EC2 error with one of codes.
func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}

// isNotFound reports whether err is any EC2 not-found.
func isNotFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && errors.Is(kindOf(ae.ErrorCode()), proxies.ErrNotFound)
}
