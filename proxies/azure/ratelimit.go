package azure

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// rateLowWater is the remaining ARM request budget under which the proxy
// spaces out its calls instead of running into 429s.
const rateLowWater = 25

// rateGuard reads ARM's x-ms-ratelimit-remaining-subscription-reads and
// -writes headers and, while the budget of the next request's kind is
// below rateLowWater, waits pause before sending it. 429s themselves are
// retried by the SDK's retry policy, which honours Retry-After.
type rateGuard struct {
	pause  time.Duration
	reads  atomic.Int64 // -1: not seen yet
	writes atomic.Int64
}

func newRateGuard(pause time.Duration) *rateGuard {
	g := &rateGuard{pause: pause}
	g.reads.Store(-1)
	g.writes.Store(-1)
	return g
}

// Do implements policy.Policy.
func (g *rateGuard) Do(req *policy.Request) (*http.Response, error) {
	budget := &g.writes
	if req.Raw().Method == http.MethodGet {
		budget = &g.reads
	}
	if left := budget.Load(); left >= 0 && left < rateLowWater {
		t := time.NewTimer(g.pause)
		select {
		case <-req.Raw().Context().Done():
			t.Stop()
			return nil, req.Raw().Context().Err()
		case <-t.C:
		}
	}
	resp, err := req.Next()
	if resp != nil {
		for h, into := range map[string]*atomic.Int64{
			"x-ms-ratelimit-remaining-subscription-reads":  &g.reads,
			"x-ms-ratelimit-remaining-subscription-writes": &g.writes,
		} {
			if v, perr := strconv.ParseInt(resp.Header.Get(h), 10, 64); perr == nil {
				into.Store(v)
			}
		}
	}
	return resp, err
}
