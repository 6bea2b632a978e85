package scheduler

import (
	"cmp"
	"math"
	"slices"
	"sync"
)

// Candidate is a host that passed every filter, with its total weight. It
// points into the snapshot Decide was given (copying 10,000 host records
// would cost more than the whole decision); treat it as read-only.
type Candidate struct {
	*HostState
	Weight float64 `json:"weight"`
}

// Placement is where a candidate would put the server.
func (c Candidate) Placement() Placement {
	return Placement{Cloud: c.Cloud, Host: c.Host, AvailabilityZone: c.AvailabilityZone}
}

// ranked is a passing host during ranking: its index in the snapshot and its
// weight. Ranking these small values, not whole HostStates, keeps a
// 10,000-host decision well under a millisecond.
type ranked struct {
	idx    int
	weight float64
}

// Decide returns the hosts of snap that pass every filter, best first. It is
// pure: no I/O, no clock, no randomness, so the same snapshot and request
// always give the same answer. Equal weights keep the snapshot's order
// (Scheduler.Snapshot orders hosts by cloud, then name).
func Decide(snap Snapshot, req Request, filters []Filter, weighers []Weigher) []Candidate {
	return DecideN(snap, req, filters, weighers, 0)
}

// DecideN is Decide's first n candidates (all when n <= 0): what a
// placement tries, without building the whole ranked list (at 10,000 hosts
// that list is 160 KB per decision, the most of its garbage).
func DecideN(snap Snapshot, req Request, filters []Filter, weighers []Weigher, n int) []Candidate {
	hosts := snap.Hosts
	filters = prepared(activeOnly(filters, &req), hosts, &req)
	weighers = prepared(activeOnly(weighers, &req), hosts, &req)
	fast := make([]fastFilter, len(filters))
	for i, f := range filters {
		fast[i], _ = f.(fastFilter)
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	pass := sc.pass[:0]
next:
	for i := range hosts {
		for j, f := range filters {
			if ff := fast[j]; ff != nil {
				if !ff.pass(&hosts[i], &req) {
					continue next
				}
			} else if !f.Pass(hosts[i], req) {
				continue next
			}
		}
		pass = append(pass, ranked{idx: i})
	}
	if len(pass) > 1 {
		sc.raw = grow(sc.raw, len(pass))
		weigh(hosts, req, pass, sc.raw, weighers)
		pass = rankByBuckets(pass, sc)
	}
	sc.pass = pass
	if n <= 0 || n > len(pass) {
		n = len(pass)
	}
	out := make([]Candidate, n)
	for i, p := range pass[:n] {
		out[i] = Candidate{HostState: &hosts[p.idx], Weight: p.weight}
	}
	return out
}

// activeOnly is vs without the filters or weighers that declare they
// cannot change the decision for req (vs itself when none does).
func activeOnly[T any](vs []T, req *Request) []T {
	for i, v := range vs {
		if inactive(v, req) {
			out := append(make([]T, 0, len(vs)-1), vs[:i]...)
			for _, v := range vs[i+1:] {
				if !inactive(v, req) {
					out = append(out, v)
				}
			}
			return out
		}
	}
	return vs
}

// weigh adds each weigher's normalised, multiplied score to pass.
func weigh(hosts []HostState, req Request, pass []ranked, raw []float64, weighers []Weigher) {
	for _, w := range weighers {
		fw, _ := w.(fastWeigher)
		lo, hi := math.Inf(1), math.Inf(-1)
		for i, p := range pass {
			if fw != nil {
				raw[i] = fw.weigh(&hosts[p.idx], &req)
			} else {
				raw[i] = w.Weigh(hosts[p.idx], req)
			}
			lo, hi = min(lo, raw[i]), max(hi, raw[i])
		}
		if hi == lo || math.IsInf(hi-lo, 0) || math.IsNaN(hi-lo) {
			continue // no preference (or a weigher gone wild)
		}
		m := multiplier(w) / (hi - lo)
		for i := range pass {
			pass[i].weight += (raw[i] - lo) * m
		}
	}
}

// rankByBuckets orders pass by weight, highest first, keeping the input
// order among equal weights, as rankByWeight does but faster on the usual
// case: a counting sort into len(pass) buckets spread evenly over the
// weights' range (monotone, so buckets keep the order), then an exact,
// stable sort inside each bucket (insertion sort; a comparison sort for a
// crowded one). Two linear passes where the radix sort takes up to six.
// Non-finite weights go to rankByWeight.
func rankByBuckets(pass []ranked, sc *scratch) []ranked {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range pass {
		lo, hi = min(lo, p.weight), max(hi, p.weight)
	}
	span := hi - lo
	if span == 0 {
		return pass // all equal: the input order stands
	}
	if math.IsNaN(span) || math.IsInf(span, 0) {
		return rankByWeight(pass, sc)
	}
	n := len(pass)
	scale := float64(n-1) / span
	sc.buckets = grow(sc.buckets, n+1)
	sc.tmpP = grow(sc.tmpP, n)
	start := sc.buckets
	clear(start)
	bucket := func(w float64) int { return min(int((hi-w)*scale), n-1) }
	for _, p := range pass {
		start[bucket(p.weight)+1]++
	}
	for b := 1; b <= n; b++ {
		start[b] += start[b-1]
	}
	out := sc.tmpP
	for _, p := range pass {
		b := bucket(p.weight)
		out[start[b]] = p
		start[b]++
	}
	// start[b] is now the end of bucket b (and the start of b+1).
	from := 0
	for b := range n {
		to := start[b]
		if to-from > 1 {
			sortBucket(out[from:to])
		}
		from = to
	}
	sc.tmpP = pass
	return out
}

// sortBucket sorts one bucket by weight, highest first, stably.
func sortBucket(bk []ranked) {
	if len(bk) > 32 {
		slices.SortStableFunc(bk, func(a, b ranked) int { return cmp.Compare(b.weight, a.weight) })
		return
	}
	for i := 1; i < len(bk); i++ {
		for j := i; j > 0 && bk[j-1].weight < bk[j].weight; j-- {
			bk[j-1], bk[j] = bk[j], bk[j-1]
		}
	}
}

// rankByWeight orders pass by weight, highest first, keeping the input order
// among equal weights. It is an LSD radix sort on the weights' bits, 11 bits
// a pass with every histogram built in one read: linear, where a comparison
// sort of 10,000 entries alone costs about a millisecond on a busy 2-core
// machine.
func rankByWeight(pass []ranked, sc *scratch) []ranked {
	const bits, buckets, passes = 11, 1 << 11, 6 // 6 × 11 ≥ 64
	sc.keys, sc.tmpK, sc.tmpP = grow(sc.keys, len(pass)), grow(sc.tmpK, len(pass)), grow(sc.tmpP, len(pass))
	keys, tmpP, tmpK := sc.keys, sc.tmpP, sc.tmpK
	hist := &sc.hist
	*hist = [passes][buckets]int{}
	for i, p := range pass {
		k := descendingKey(p.weight)
		keys[i] = k
		for d := range passes {
			hist[d][(k>>(d*bits))&(buckets-1)]++
		}
	}
	for d := range passes {
		h := &hist[d]
		if h[(keys[0]>>(d*bits))&(buckets-1)] == len(keys) {
			continue // every key has the same digit here
		}
		sum := 0
		for b := range h {
			h[b], sum = sum, sum+h[b]
		}
		shift := uint(d * bits)
		for i, k := range keys {
			b := (k >> shift) & (buckets - 1)
			tmpP[h[b]], tmpK[h[b]] = pass[i], k
			h[b]++
		}
		pass, tmpP = tmpP, pass
		keys, tmpK = tmpK, keys
	}
	sc.keys, sc.tmpK, sc.tmpP = keys, tmpK, tmpP
	return pass
}

// scratch is Decide's working memory, reused across calls (a decision over
// 10,000 hosts needs about half a megabyte of it). Nothing in it outlives a
// call, so Decide stays pure.
type scratch struct {
	pass, tmpP []ranked
	raw        []float64
	keys, tmpK []uint64
	hist       [6][1 << 11]int
	buckets    []int
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// grow returns s resized to n, reallocating only when too small.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// descendingKey maps a weight to a key whose ascending order is the weights'
// descending order (NaN last).
func descendingKey(w float64) uint64 {
	if math.IsNaN(w) {
		return math.MaxUint64
	}
	if w == 0 {
		w = 0 // fold -0 into +0
	}
	b := math.Float64bits(w)
	if b&(1<<63) != 0 {
		b = ^b
	} else {
		b |= 1 << 63
	}
	return ^b
}
