package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// closedLoop runs op on n workers back to back until the duration passes or count operations
// have been started (count 0: no count bound). Each worker has its own latency record, so
// recording costs no synchronization.
type closedLoop struct {
	workers  int
	duration time.Duration
	count    int64
}

// result is what a closed loop measured.
type result struct {
	ok, failed int
	elapsed    time.Duration
	latency    samples // of successful operations, sorted
	firstErr   error
}

func (r result) rate() float64 { return perSecond(r.ok, r.elapsed) }

// run calls op(ctx, worker) until a bound is reached. In-flight operations finish with ctx, so
// the last ones are measured whole.
func (l closedLoop) run(ctx context.Context, op func(ctx context.Context, worker int) error) result {
	var (
		started atomic.Int64
		wg      sync.WaitGroup
		mu      sync.Mutex
		res     result
		parts   = make([]samples, l.workers)
	)
	start := time.Now()
	deadline := start.Add(l.duration)
	for w := range l.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ok, failed int
			var firstErr error
			lat := make(samples, 0, 4096)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if l.count > 0 && started.Add(1) > l.count {
					break
				}
				t0 := time.Now()
				if err := op(ctx, w); err != nil {
					failed++
					if firstErr == nil && ctx.Err() == nil {
						firstErr = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
				ok++
			}
			parts[w] = lat
			mu.Lock()
			res.ok += ok
			res.failed += failed
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.latency = merge(parts...)
	return res
}
