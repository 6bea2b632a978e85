package proxies

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Set is the gateway's clouds by name. Reads (every request routes through
// one) take no lock: the map is replaced whole, never changed in place, so
// clouds can be registered and removed while the gateway serves.
type Set struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[string]Backend]
}

// NewSet returns a set of bs; a name that is empty or given twice is an error.
func NewSet(bs ...Backend) (*Set, error) {
	m := make(map[string]Backend, len(bs))
	for _, b := range bs {
		if b.Name() == "" {
			return nil, fmt.Errorf("a cloud has no name")
		}
		if _, dup := m[b.Name()]; dup {
			return nil, fmt.Errorf("cloud %q: the name is used twice", b.Name())
		}
		m[b.Name()] = b
	}
	s := &Set{}
	s.m.Store(&m)
	return s, nil
}

// SetFromMap returns a set of m's clouds under m's keys (a fixed wiring
// or a test that names its fakes by key).
func SetFromMap(m map[string]Backend) *Set {
	c := make(map[string]Backend, len(m))
	for k, v := range m {
		c[k] = v
	}
	s := &Set{}
	s.m.Store(&c)
	return s
}

// MustSet is NewSet for tests and fixed wiring; it panics on a bad name.
func MustSet(bs ...Backend) *Set {
	s, err := NewSet(bs...)
	if err != nil {
		panic(err)
	}
	return s
}

func (s *Set) load() map[string]Backend {
	if s == nil {
		return nil
	}
	if p := s.m.Load(); p != nil {
		return *p
	}
	return nil
}

// Get returns the cloud named name.
func (s *Set) Get(name string) (Backend, bool) {
	b, ok := s.load()[name]
	return b, ok
}

// Has says whether a cloud named name is in the set.
func (s *Set) Has(name string) bool {
	_, ok := s.load()[name]
	return ok
}

// All returns the clouds at this instant. The map must not be changed.
func (s *Set) All() map[string]Backend { return s.load() }

// Names returns the clouds' names, sorted.
func (s *Set) Names() []string {
	m := s.load()
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Len is the number of clouds.
func (s *Set) Len() int { return len(s.load()) }

// Put adds b, or replaces the cloud of the same name, and returns the
// backend it replaced (nil when the name is new).
func (s *Set) Put(b Backend) Backend {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.load()
	next := make(map[string]Backend, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	prev := next[b.Name()]
	next[b.Name()] = b
	s.m.Store(&next)
	return prev
}

// Remove takes the cloud named name out of the set and returns it.
func (s *Set) Remove(name string) (Backend, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.load()
	prev, ok := old[name]
	if !ok {
		return nil, false
	}
	next := make(map[string]Backend, len(old))
	for k, v := range old {
		if k != name {
			next[k] = v
		}
	}
	s.m.Store(&next)
	return prev, true
}
