package workloop_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/workloop"
)

// TestRunHandlesEveryItemWithinItsConcurrency: all claimed work is handled, never more than
// Concurrency at once, and Run returns only after the items under way.
func TestRunHandlesEveryItemWithinItsConcurrency(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	queue := make([]int, 100)
	for i := range queue {
		queue[i] = i
	}
	var running, peak, done atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		workloop.Run(ctx, workloop.Config{Concurrency: 3, Tick: time.Millisecond},
			func(_ context.Context, n int) ([]int, error) {
				mu.Lock()
				defer mu.Unlock()
				n = min(n, len(queue))
				items := queue[:n]
				queue = queue[n:]
				return items, nil
			},
			func(context.Context, int) {
				r := running.Add(1)
				for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
				}
				time.Sleep(time.Millisecond)
				running.Add(-1)
				if done.Add(1) == 100 {
					cancel()
				}
			},
			func(err error) { t.Error(err) })
	}()
	<-finished
	if done.Load() != 100 || peak.Load() > 3 || running.Load() != 0 {
		t.Fatalf("handled %d, peak %d, still running %d", done.Load(), peak.Load(), running.Load())
	}
}
