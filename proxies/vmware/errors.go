package vmware

import (
	"context"
	"errors"
	"net"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/canopy-cloud/canopy/proxies"
)

// wrapErr turns an error from govmomi into a typed *proxies.Error: the one
// translation table at this boundary. The raw error is kept as Cause (for
// logs); the message is safe for clients. Typed errors pass through.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *proxies.Error
	if errors.As(err, &pe) {
		return err
	}
	kind, msg := classify(err)
	return errorf(kind, op, err, "%s", msg)
}

// classify picks the typed kind and a safe message for err.
//
//lint:ignore ST1008 the first result is the typed kind (a sentinel), not a failure of classify
func classify(err error) (error, string) {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return proxies.ErrUnavailable, "vCenter did not answer in time"
	}
	var mf types.BaseMethodFault
	fault.In(err, func(f types.BaseMethodFault, _ string, _ []types.LocalizableMessage) bool {
		mf = f // the outermost fault decides
		return true
	})
	if mf != nil {
		return classifyFault(mf)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return proxies.ErrUnavailable, "vCenter is unreachable"
	}
	if soap.IsSoapFault(err) {
		return proxies.ErrUnavailable, "vCenter answered with an unexpected fault"
	}
	return proxies.ErrUnavailable, "the call to vCenter failed"
}

// classifyFault maps a vSphere fault. Specific faults come before the
// families they belong to (InvalidPowerState is an InvalidState).
//
//lint:ignore ST1008 the first result is the typed kind (a sentinel), not a failure of classifyFault
func classifyFault(f types.BaseMethodFault) (error, string) {
	switch f.(type) {
	case *types.ManagedObjectNotFound, *types.NotFound, *types.FileNotFound:
		return proxies.ErrNotFound, "the vSphere object does not exist"
	case *types.InvalidPowerState:
		return proxies.ErrConflict, "the virtual machine is in the wrong power state for this action"
	case *types.ToolsUnavailable:
		return proxies.ErrConflict, "VMware Tools are not running in the guest"
	case *types.DuplicateName, *types.AlreadyExists:
		return proxies.ErrConflict, "an object of that name already exists in vCenter"
	case *types.NoDiskSpace:
		return proxies.ErrCapacity, "the datastore is full"
	case *types.NotAuthenticated, *types.InvalidLogin:
		return proxies.ErrUnavailable, "vCenter rejected Canopy's session; check the credentials"
	case *types.NoPermission:
		return proxies.ErrUnavailable, "Canopy's vCenter account lacks a permission for this action"
	case *types.MethodNotFound:
		return proxies.ErrNotSupported, "this vCenter does not implement the operation"
	case *types.RequestCanceled, *types.HostCommunication, *types.HostNotConnected:
		return proxies.ErrUnavailable, "vCenter could not reach the host"
	}
	switch f.(type) {
	case types.BaseInsufficientResourcesFault:
		return proxies.ErrCapacity, "the cluster has no room for this server"
	case types.BaseNotEnoughLicenses:
		return proxies.ErrQuota, "the vSphere licence limit is reached"
	case types.BaseInvalidState, types.BaseTaskInProgress, types.BaseResourceInUse:
		return proxies.ErrConflict, "the vSphere object is busy or in the wrong state"
	case types.BaseNotSupported:
		return proxies.ErrNotSupported, "vCenter does not support this operation"
	case types.BaseInvalidArgument, types.BaseInvalidDeviceSpec, types.BaseInvalidRequest:
		return proxies.ErrInvalid, "vCenter rejected the request as invalid"
	case types.BaseFileFault:
		return proxies.ErrConflict, "a datastore file is locked or in the wrong state"
	}
	return proxies.ErrUnavailable, "vCenter failed the operation"
}

// isFault reports whether err carries a fault of type T.
func isFault[T types.BaseMethodFault](err error) bool {
	if err == nil {
		return false // fault.In panics on a nil error
	}
	found := false
	fault.In(err, func(f types.BaseMethodFault, _ string, _ []types.LocalizableMessage) bool {
		_, found = f.(T)
		return found
	})
	return found
}
