package aws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassOf(t *testing.T) {
	for op, want := range map[string]bucketClass{
		"DescribeInstances": classDescribe, "GetConsoleOutput": classDescribe,
		"RunInstances": classResourceIntensive, "AttachVolume": classResourceIntensive,
		"StartInstances": classMutating, "CreateTags": classMutating,
	} {
		if got := classOf(op); got != want {
			t.Errorf("classOf(%s) = %v; want %v", op, got, want)
		}
	}
}

func TestTokenBucket(t *testing.T) {
	tb := newTokenBucket(2, 4) // 2 tokens, 4 a second
	now := tb.last
	if d1, d2 := tb.reserve(now), tb.reserve(now); d1 != 0 || d2 != 0 {
		t.Fatalf("the first two tokens waited %v, %v; want none", d1, d2)
	}
	if d := tb.reserve(now); d != 250*time.Millisecond {
		t.Errorf("the third token waits %v; want 250ms at 4 tokens a second", d)
	}
	if d := tb.reserve(now.Add(time.Second)); d != 0 {
		t.Errorf("after a second of refill the token waits %v; want none", d)
	}
	// A cancelled wait gives its token back.
	empty := newTokenBucket(1, 0.1)
	empty.reserve(time.Now())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := empty.Wait(ctx); err == nil {
		t.Fatal("Wait on an empty bucket with a cancelled context = nil")
	}
	if empty.tokens < -0.01 {
		t.Errorf("a cancelled wait kept its token: %v left", empty.tokens)
	}
}

func TestBucketsShared(t *testing.T) {
	a, b := bucketsFor("test|shared", 1), bucketsFor("test|shared", 1)
	if a[classDescribe] != b[classDescribe] {
		t.Error("two backends of one account and region got different buckets")
	}
	if c := bucketsFor("test|other", 0.5); c[classMutating].size != 100 {
		t.Errorf("rate_scale 0.5 gives a mutating bucket of %v; want 100", c[classMutating].size)
	}
}

// TestBucketInCallPath: with a bucket of one describe token refilled every
// 5s, a second describe waits; a short deadline ends it before EC2 is
// called again.
func TestBucketInCallPath(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuseQuota(w, r) {
			return
		}
		calls.Add(1)
		fmt.Fprint(w, zonesOK)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("CANOPY_TEST_AWS_SECRET", "x")
	b, err := New(t.Context(), "bucket", Config{Region: "us-east-1", Endpoint: srv.URL, AccessKeyID: "AKIAFAKE",
		SecretAccessKeyFrom: "env:CANOPY_TEST_AWS_SECRET", RateScale: 0.01}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Inventory().Hosts(t.Context()); err != nil {
		t.Fatalf("first Hosts: %v", err)
	}
	b.zones = nil // drop the cache: the next call describes again
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := b.Inventory().Hosts(ctx); err == nil {
		t.Fatal("second Hosts within the bucket's refill time = nil; want it held back by the bucket")
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Errorf("the held-back call returned after %v; want about the 200ms deadline", d)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("EC2 saw %d calls; want 1 (the second never left the bucket)", n)
	}
}
