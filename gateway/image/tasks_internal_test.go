package image

import (
	"strings"
	"testing"
	"time"
)

// TestProgressReaderReportsCopiedMiB: the task message follows the copy,
// at most once per interval.
func TestProgressReaderReportsCopiedMiB(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var reports []int64
	p := &progressReader{r: strings.NewReader(strings.Repeat("x", 3<<20)), last: now,
		now:    func() time.Time { now = now.Add(600 * time.Millisecond); return now },
		report: func(n int64) { reports = append(reports, n) }}
	buf := make([]byte, 1<<20)
	for {
		if _, err := p.Read(buf); err != nil {
			break
		}
	}
	// Reads at 0.6 s, 1.2 s (report), 1.8 s, 2.4 s (report): the clock
	// moves 0.6 s a read.
	if len(reports) != 2 || reports[0] != 2<<20 || reports[1] != 3<<20 {
		t.Fatalf("reports %v, want [2 MiB 3 MiB]", reports)
	}
}
