package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// ClosedLoop runs an operation on Workers workers back to back until Duration passes or Count
// operations have been started (Count 0: no count bound). Each worker keeps its own latency
// record, so recording costs no synchronization.
type ClosedLoop struct {
	Workers  int
	Duration time.Duration
	Count    int64
}

// Result is what a closed loop measured.
type Result struct {
	OK, Failed int
	Elapsed    time.Duration
	Latency    Samples // of successful operations, sorted
	FirstErr   error
}

// Rate is the successful operations per second.
func (r Result) Rate() float64 { return PerSecond(r.OK, r.Elapsed) }

// Run calls op(ctx, worker) until a bound is reached. In-flight operations finish with ctx, so
// the last ones are measured whole.
func (l ClosedLoop) Run(ctx context.Context, op func(ctx context.Context, worker int) error) Result {
	var (
		started atomic.Int64
		wg      sync.WaitGroup
		mu      sync.Mutex
		res     Result
		parts   = make([]Samples, l.Workers)
	)
	start := time.Now()
	deadline := start.Add(l.Duration)
	for w := range l.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ok, failed int
			var firstErr error
			lat := make(Samples, 0, 4096)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if l.Count > 0 && started.Add(1) > l.Count {
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
			res.OK += ok
			res.Failed += failed
			if res.FirstErr == nil {
				res.FirstErr = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Latency = Merge(parts...)
	return res
}
