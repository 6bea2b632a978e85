package brokertest

// Forget drops server id from the fake cloud behind the broker's back, as a
// server deleted or lost outside Canopy.
func (b *Backend) Forget(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.servers, id)
}
