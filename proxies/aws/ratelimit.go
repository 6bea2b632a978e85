package aws

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go/middleware"
)

// EC2 throttles each account and region with request-token buckets, one per
// class of action (EC2 API reference, "Request throttling"): a bucket holds
// at most Size tokens and refills Refill tokens a second. Canopy keeps its
// own copy of each bucket so that it slows itself down before EC2 answers
// RequestLimitExceeded.
type bucketClass int

const (
	classDescribe          bucketClass = iota // non-mutating: Describe*, Get*
	classMutating                             // every other action
	classResourceIntensive                    // RunInstances, TerminateInstances, volume and SG-rule changes
)

var bucketSizes = map[bucketClass]struct{ size, refill float64 }{
	classDescribe:          {100, 20},
	classMutating:          {200, 5},
	classResourceIntensive: {50, 5},
}

// resourceIntensive are EC2's "resource-intensive actions".
var resourceIntensive = map[string]bool{
	"RunInstances": true, "TerminateInstances": true, "AttachVolume": true, "DetachVolume": true,
	"CreateVolume": true, "DeleteVolume": true, "CreateKeyPair": true,
	"AuthorizeSecurityGroupIngress": true, "AuthorizeSecurityGroupEgress": true,
	"RevokeSecurityGroupIngress": true, "RevokeSecurityGroupEgress": true,
}

func classOf(op string) bucketClass {
	switch {
	case resourceIntensive[op]:
		return classResourceIntensive
	case strings.HasPrefix(op, "Describe"), strings.HasPrefix(op, "Get"):
		return classDescribe
	}
	return classMutating
}

// tokenBucket is one request bucket. Wait blocks until a token is free or
// ctx ends.
type tokenBucket struct {
	mu     sync.Mutex
	size   float64
	refill float64 // tokens a second
	tokens float64
	last   time.Time
}

func newTokenBucket(size, refill float64) *tokenBucket {
	return &tokenBucket{size: size, refill: refill, tokens: size, last: time.Now()}
}

// reserve takes a token and returns how long the caller must wait for it.
func (tb *tokenBucket) reserve(now time.Time) time.Duration {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.tokens = min(tb.size, tb.tokens+now.Sub(tb.last).Seconds()*tb.refill)
	tb.last = now
	tb.tokens--
	if tb.tokens >= 0 {
		return 0
	}
	return time.Duration(-tb.tokens / tb.refill * float64(time.Second))
}

// Wait takes one token, sleeping until it is there.
func (tb *tokenBucket) Wait(ctx context.Context) error {
	d := tb.reserve(time.Now())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		tb.mu.Lock()
		tb.tokens++ // give the token back: the call is not made
		tb.mu.Unlock()
		return ctx.Err()
	}
}

// accountBuckets are the buckets of one account and region.
type accountBuckets map[bucketClass]*tokenBucket

var (
	bucketsMu sync.Mutex
	buckets   = map[string]accountBuckets{}
)

// bucketsFor returns the buckets shared by every backend of one account and
// region in this process, scaled by scale.
func bucketsFor(key string, scale float64) accountBuckets {
	bucketsMu.Lock()
	defer bucketsMu.Unlock()
	if b, ok := buckets[key]; ok {
		return b
	}
	b := accountBuckets{}
	for c, s := range bucketSizes {
		b[c] = newTokenBucket(max(1, s.size*scale), max(0.1, s.refill*scale))
	}
	buckets[key] = b
	return b
}

// slowWait is the token wait from which rateLimit logs it.
const slowWait = time.Second

// rateLimit is the middleware around every attempt of an EC2 call (it sits
// after the retryer): it takes a token, waiting at most wait for it, then
// gives the attempt itself callTimeout. The two are apart so that a call
// queued behind a busy bucket is not cut short on the wire, and a stuck
// bucket shows as such. Waits of slowWait or more are logged.
func rateLimit(b accountBuckets, wait, callTimeout time.Duration, log *slog.Logger) middleware.FinalizeMiddleware {
	return middleware.FinalizeMiddlewareFunc("CanopyRateLimit", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		op := middleware.GetOperationName(ctx)
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, wait)
		err := b[classOf(op)].Wait(wctx)
		cancel()
		if waited := time.Since(start); waited >= slowWait || err != nil {
			log.Info("waited for an EC2 request token", "operation", op, "waited", waited.Round(time.Millisecond), "err", err)
		}
		if err != nil {
			if ctx.Err() == nil {
				err = &rateWaitError{op: op, wait: wait}
			}
			return middleware.FinalizeOutput{}, middleware.Metadata{}, err
		}
		actx, acancel := context.WithTimeout(ctx, callTimeout)
		defer acancel()
		return next.HandleFinalize(actx, in)
	})
}

// rateWaitError is a call that found no request token within
// rate_wait_timeout. mapErr reports it as unavailable (throttled).
type rateWaitError struct {
	op   string
	wait time.Duration
}

func (e *rateWaitError) Error() string {
	return fmt.Sprintf("%s: no EC2 request token within rate_wait_timeout (%v)", e.op, e.wait)
}
