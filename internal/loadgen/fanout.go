package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// Fanout is a set of watchers that record, for every event they receive, the time from the
// event's commit (its event_time, from the database clock of this same machine) to receipt.
type Fanout struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	watchers []*watcher
}

type watcher struct {
	seen    atomic.Int64 // newest revision received
	resumed int
	count   int
	latency Samples
}

// FanoutReport is what the watchers of a Fanout received.
type FanoutReport struct {
	Delivered int     // events received, summed over the watchers
	Resumed   int     // streams the server cut off and the watcher resumed
	Latency   Samples // commit-to-receipt, sorted
}

// OpenFanout opens n watch streams spread over the clients and returns once every stream has
// had its first message (the heartbeat with the starting revision). The streams run until
// Stop or until ctx ends. opts go with every WatchJobs call (SkimJobs, say).
func OpenFanout(ctx context.Context, clients []anonjobv1.JobServiceClient, n int, opts ...grpc.CallOption) (*Fanout, error) {
	ctx, cancel := context.WithCancel(ctx)
	f := &Fanout{cancel: cancel, watchers: make([]*watcher, n)}
	ready := make(chan struct{}, n)
	failed := make(chan error, n)
	for i := range n {
		w := &watcher{}
		f.watchers[i] = w
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			if err := w.run(ctx, clients[i%len(clients)], ready, opts); err != nil && ctx.Err() == nil {
				failed <- err
			}
		}()
	}
	for range n {
		select {
		case <-ready:
		case err := <-failed:
			f.Stop()
			return nil, fmt.Errorf("open watcher: %w", err)
		case <-ctx.Done():
			f.Stop()
			return nil, fmt.Errorf("open watchers: %w", ctx.Err())
		}
	}
	return f, nil
}

// run follows one stream until ctx ends, resuming from its revision when the server cuts it
// off after it opened (counted in resumed).
func (w *watcher) run(ctx context.Context, client anonjobv1.JobServiceClient, ready chan<- struct{}, opts []grpc.CallOption) error {
	first := true
	for {
		stream, err := client.WatchJobs(ctx, &anonjobv1.WatchJobsRequest{SinceRevision: w.seen.Load()}, opts...)
		if err != nil {
			return fmt.Errorf("WatchJobs: %w", err)
		}
		var msg anonjobv1.WatchJobsResponse // reused: SkimJobs then fills the same events again
		for {
			err := stream.RecvMsg(&msg)
			if err != nil {
				if ctx.Err() != nil {
					return nil //nolint:nilerr // the run is over, not the watcher
				}
				// Before its first message a stream was refused (say, over the per-customer
				// bound), not cut off: resuming would only be refused again.
				if c := status.Code(err); !first && (c == codes.ResourceExhausted || c == codes.Unavailable) {
					w.resumed++
					break
				}
				return fmt.Errorf("WatchJobs receive: %w", err)
			}
			now := time.Now()
			for _, e := range msg.GetEvents() {
				w.latency = append(w.latency, now.Sub(e.GetEventTime().AsTime()))
			}
			w.count += len(msg.GetEvents())
			w.seen.Store(msg.GetRevision())
			if first {
				first = false
				ready <- struct{}{}
			}
		}
	}
}

// WaitFor waits until every watcher has received revision rev, at most timeout, and reports
// whether they all did.
func (f *Fanout) WaitFor(ctx context.Context, rev int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		behind := false
		for _, w := range f.watchers {
			if w.seen.Load() < rev {
				behind = true
				break
			}
		}
		if !behind {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// Stop ends every stream and waits for the watchers; it may be called more than once.
func (f *Fanout) Stop() {
	f.cancel()
	f.wg.Wait()
}

// Report merges what the watchers recorded; call it after Stop.
func (f *Fanout) Report() FanoutReport {
	var r FanoutReport
	parts := make([]Samples, 0, len(f.watchers))
	for _, w := range f.watchers {
		r.Delivered += w.count
		r.Resumed += w.resumed
		parts = append(parts, w.latency)
	}
	r.Latency = Merge(parts...)
	return r
}
