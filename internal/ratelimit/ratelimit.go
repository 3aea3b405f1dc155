// Package ratelimit bounds how many requests each customer makes per second, with one token
// bucket (golang.org/x/time/rate) per customer.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter holds the buckets. A nil *Limiter allows everything.
type Limiter struct {
	every rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a limiter allowing perSecond requests per customer on average and burst at
// once; perSecond <= 0 returns nil, which allows everything. A burst below one becomes one.
func New(perSecond float64, burst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter{every: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[string]*bucket{}}
}

// Allow takes one request's token from customer's bucket. When the bucket is empty it takes
// nothing and says how long until a token is there.
func (l *Limiter) Allow(customer string, now time.Time) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[customer]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[customer] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request costs nothing
		return false, d
	}
	return true, 0
}

// sweep forgets buckets that have been idle long enough to be full again: a fresh bucket is
// the same, so memory stays bounded by the customers active in the last refill time.
func (l *Limiter) sweep(now time.Time) {
	refill := time.Duration(float64(l.burst) / float64(l.every) * float64(time.Second))
	interval := max(refill, time.Minute)
	if now.Sub(l.lastSweep) < interval {
		return
	}
	l.lastSweep = now
	for c, b := range l.buckets {
		if now.Sub(b.seen) > refill {
			delete(l.buckets, c)
		}
	}
}
