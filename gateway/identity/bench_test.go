package identity

import (
	"context"
	"testing"
)

// BenchmarkAuthenticate measures token validation: "cached" is the hot path
// of every API call (DESIGN budget: 50 µs at p50), "cold" decrypts each time.
func BenchmarkAuthenticate(b *testing.B) {
	e := newEnv(b)
	tok := e.token("demo")
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.svc.Authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.svc.cache.clear()
			if _, err := e.svc.Authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
