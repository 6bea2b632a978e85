package vmware

import (
	"context"
	"reflect"
	"sync"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// relogin is a RoundTripper that logs in again when vCenter answers that
// the session is gone (vCenter restarted, or the session was terminated),
// then sends the call once more. The keepalive below it covers idle expiry.
type relogin struct {
	soap.RoundTripper
	mu    sync.Mutex
	login func(context.Context) error
}

// RoundTrip implements soap.RoundTripper.
func (r *relogin) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	err := r.RoundTripper.RoundTrip(ctx, req, res)
	if _, isLogin := req.(*methods.LoginBody); isLogin || err == nil || !isFault[*types.NotAuthenticated](err) {
		return err
	}
	r.mu.Lock()
	lerr := r.login(ctx)
	r.mu.Unlock()
	if lerr != nil {
		return err
	}
	// The failed answer was decoded into res; start from a clean body.
	if v := reflect.ValueOf(res); v.Kind() == reflect.Pointer && !v.IsNil() {
		v.Elem().Set(reflect.Zero(v.Elem().Type()))
	}
	return r.RoundTripper.RoundTrip(ctx, req, res)
}
