// Package inflight bounds the bytes of uploads a server holds at once, so that many large
// requests arriving together are refused instead of exhausting memory.
package inflight

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// Budget is a server-wide bound in bytes. A nil *Budget has no bound.
type Budget struct {
	sem  *semaphore.Weighted
	max  int64
	held atomic.Int64 // what the reservations hold, for InUse
}

// New returns a budget of max bytes; max <= 0 returns nil, no bound.
func New(max int64) *Budget {
	if max <= 0 {
		return nil
	}
	return &Budget{sem: semaphore.NewWeighted(max), max: max}
}

// Max is the bound in bytes (0 when there is none).
func (b *Budget) Max() int64 {
	if b == nil {
		return 0
	}
	return b.max
}

// InUse is the bytes held now (0 when there is no bound).
func (b *Budget) InUse() int64 {
	if b == nil {
		return 0
	}
	return b.held.Load()
}

// TryReserve holds n bytes if they are free now; it never waits, because a request that
// would wait holds its connection and memory anyway. A nil budget always succeeds.
func (b *Budget) TryReserve(n int64) (*Reservation, bool) {
	if b == nil || n <= 0 {
		return nil, true
	}
	if n > b.max || !b.sem.TryAcquire(n) {
		return nil, false
	}
	b.held.Add(n)
	return &Reservation{b: b, held: n}, true
}

// Reservation is bytes held from a budget. Its methods are safe for concurrent use and do
// nothing on a nil *Reservation.
type Reservation struct {
	b      *Budget
	mu     sync.Mutex
	held   int64
	closed bool // released: nothing more may be held
}

// TryGrow holds n bytes in all if the missing ones are free now, for a request that reserved a
// first slice before it knew its size. It never waits, and fails once the reservation was
// released. A nil *Reservation (no bound) always succeeds.
func (r *Reservation) TryGrow(n int64) bool {
	if r == nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if n <= r.held {
		return true
	}
	if n > r.b.max || !r.b.sem.TryAcquire(n-r.held) {
		return false
	}
	r.b.held.Add(n - r.held)
	r.held = n
	return true
}

// Shrink gives back what is held beyond n bytes: a request reserves the most it may be sent
// and keeps only what it was actually sent.
func (r *Reservation) Shrink(n int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n < 0 {
		n = 0
	}
	if n < r.held {
		r.b.held.Add(n - r.held)
		r.b.sem.Release(r.held - n)
		r.held = n
	}
}

// Release gives everything back and ends the reservation; calling it again does nothing.
func (r *Reservation) Release() {
	if r == nil {
		return
	}
	r.Shrink(0)
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}
