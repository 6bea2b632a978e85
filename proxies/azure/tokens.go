package azure

import (
	"context"
	"sort"
	"strings"
	"sync"
)

// TokenStore keeps small durable strings for the proxy: the resume token of
// every long-running operation in flight (keys "lro/<top id>/<op>") and the
// resource group that holds each top id's resources (keys
// "rg/<kind>/<top id>"). The default is in memory; the gateway backs it
// with the registry so that a restart resumes operations instead of
// starting them again.
type TokenStore interface {
	Get(ctx context.Context, key string) (value string, ok bool, err error)
	Put(ctx context.Context, key, value string) error
	Delete(ctx context.Context, key string) error
	// List returns the keys that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

// MemoryTokenStore is a TokenStore in memory (lost on restart).
type MemoryTokenStore struct {
	mu sync.Mutex
	m  map[string]string
}

// NewMemoryTokenStore returns an empty store.
func NewMemoryTokenStore() *MemoryTokenStore { return &MemoryTokenStore{m: map[string]string{}} }

// Get implements TokenStore.
func (s *MemoryTokenStore) Get(_ context.Context, key string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok, nil
}

// Put implements TokenStore.
func (s *MemoryTokenStore) Put(_ context.Context, key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = value
	return nil
}

// Delete implements TokenStore.
func (s *MemoryTokenStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// List implements TokenStore.
func (s *MemoryTokenStore) List(_ context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}
