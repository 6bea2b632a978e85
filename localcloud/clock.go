package localcloud

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// clock runs delayed transitions (a build finishing, a stop completing) on
// one goroutine it owns, started on first use. close cancels what is pending
// and waits for the goroutine, so a closed pool leaks nothing.
type clock struct {
	mu      sync.Mutex
	events  eventHeap
	seq     uint64
	wake    chan struct{}
	started bool
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func newClock() *clock {
	ctx, cancel := context.WithCancel(context.Background())
	return &clock{wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
}

// after runs fn once d has passed, on the clock's goroutine. It reports false
// when the clock is closed (fn will never run).
func (c *clock) after(d time.Duration, fn func()) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if !c.started {
		c.started = true
		c.wg.Add(1)
		go c.run()
	}
	c.seq++
	heap.Push(&c.events, event{at: time.Now().Add(d), seq: c.seq, fn: fn})
	first := c.events[0].seq == c.seq
	c.mu.Unlock()
	if first {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// done is closed when the clock is closed.
func (c *clock) done() <-chan struct{} { return c.ctx.Done() }

func (c *clock) run() {
	defer c.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		c.mu.Lock()
		var due []func()
		for len(c.events) > 0 && !c.events[0].at.After(now) {
			due = append(due, heap.Pop(&c.events).(event).fn)
		}
		next := time.Hour
		if len(c.events) > 0 {
			next = c.events[0].at.Sub(now)
		}
		c.mu.Unlock()
		for _, fn := range due {
			fn()
		}
		if len(due) > 0 {
			continue // time moved while running them
		}
		t.Reset(next)
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

// close drops pending events and waits for the goroutine.
func (c *clock) close() {
	c.mu.Lock()
	c.closed = true
	c.events = nil
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

type event struct {
	at  time.Time
	seq uint64
	fn  func()
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
