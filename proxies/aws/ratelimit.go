package aws

import (
	"context"
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

// rateLimit is the middleware that takes a token for every attempt.
func rateLimit(b accountBuckets) middleware.FinalizeMiddleware {
	return middleware.FinalizeMiddlewareFunc("CanopyRateLimit", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		if err := b[classOf(middleware.GetOperationName(ctx))].Wait(ctx); err != nil {
			return middleware.FinalizeOutput{}, middleware.Metadata{}, err
		}
		return next.HandleFinalize(ctx, in)
	})
}
