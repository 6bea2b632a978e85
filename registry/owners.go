package registry

import "sync"

// ownerCache remembers which project owns a record id. An id's owner never
// changes while the record lives (ids are minted once), so the cache needs
// no invalidation across gateway replicas: a cached owner whose record is
// gone reads as a miss, and the lookup asks Redis again (an id deleted and
// re-created under another project, as Glance allows, is found that way).
// It saves one round trip on every read by id.
type ownerCache struct {
	mu  sync.RWMutex
	m   map[string]string // kind + "\x00" + id → project
	max int
}

func newOwnerCache(max int) *ownerCache {
	return &ownerCache{m: make(map[string]string), max: max}
}

func (c *ownerCache) get(kind Kind, id string) (string, bool) {
	c.mu.RLock()
	p, ok := c.m[string(kind)+"\x00"+id]
	c.mu.RUnlock()
	return p, ok
}

func (c *ownerCache) put(kind Kind, id, project string) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		// A bounded cache: start over rather than track recency; the cost
		// is one round trip per id until it is warm again.
		clear(c.m)
	}
	c.m[string(kind)+"\x00"+id] = project
	c.mu.Unlock()
}

func (c *ownerCache) drop(kind Kind, id string) {
	c.mu.Lock()
	delete(c.m, string(kind)+"\x00"+id)
	c.mu.Unlock()
}
