package blockstorage_test

import (
	"sync"
	"testing"
)

// TestConcurrentCreatesRespectQuota: with room for three volumes, eight
// concurrent creates make exactly three, and the rest get 413.
func TestConcurrentCreatesRespectQuota(t *testing.T) {
	h := newHarness(t)
	if r := h.do("PUT", "/volume/v3/os-quota-sets/"+projectA, tokAdmin, "", `{"quota_set": {"volumes": 3}}`); r.status != 200 {
		t.Fatalf("quota update = %d %s", r.status, r.body)
	}
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = h.do("POST", "/volume/v3/volumes", tokMember, "", createTempest).status
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[202] != 3 || count[413] != n-3 {
		t.Errorf("statuses = %v; want 3 × 202 and %d × 413", count, n-3)
	}
	lim := h.do("GET", "/volume/v3/limits", tokMember, "", "").json(t)["limits"].(map[string]any)["absolute"].(map[string]any)
	if lim["totalVolumesUsed"] != float64(3) || lim["totalGigabytesUsed"] != float64(3) {
		t.Errorf("usage = %v; want 3 volumes, 3 GB", lim)
	}
}
