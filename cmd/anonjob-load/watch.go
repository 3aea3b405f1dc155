package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

type watchCmd struct {
	Addr     string        `help:"anonjobd gRPC address (loopback only)." default:"localhost:9090" env:"ANONJOB_ADDR"`
	APIKey   string        `name:"api-key" help:"API key; default: the dev key in anonjob-data/dev-api-key." env:"ANONJOB_API_KEY"`
	Watchers int           `help:"Concurrent WatchJobs streams." default:"1000"`
	Conns    int           `help:"gRPC connections the watchers are spread over." default:"4"`
	Rate     float64       `help:"Target events per second (a CreateJob or a CancelJob is one event each)." default:"500"`
	Writers  int           `help:"Concurrent callers driving the events." default:"16"`
	Duration time.Duration `help:"How long events are driven." default:"10s"`
	Drain    time.Duration `help:"Longest wait after the last event for every watcher to receive it." default:"10s"`
}

func (c *watchCmd) Run(ctx context.Context, log *slog.Logger) error {
	if c.Watchers < 1 || c.Conns < 1 || c.Writers < 1 || c.Rate <= 0 || c.Rate > 100_000 ||
		c.Duration <= 0 || c.Duration > time.Hour {
		return errors.New("--watchers, --conns and --writers must be at least 1, --rate in (0, 100000], --duration in (0, 1h]")
	}
	conns, err := dialLoopback(c.Addr, apiKey(c.APIKey), c.Conns+1) // the last one drives the events
	if err != nil {
		return err
	}
	defer closeAll(conns)
	var watchClients []anonjobv1.JobServiceClient
	for _, cc := range conns[:c.Conns] {
		watchClients = append(watchClients, anonjobv1.NewJobServiceClient(cc))
	}
	driver := anonjobv1.NewJobServiceClient(conns[c.Conns])

	log.Info("opening watchers", "watchers", c.Watchers, "conns", c.Conns)
	f, err := openFanout(ctx, watchClients, c.Watchers)
	if err != nil {
		return err
	}
	defer f.stop()

	log.Info("driving events", "rate", c.Rate, "writers", c.Writers, "duration", c.Duration)
	d := drive(ctx, driver, c.Rate, c.Writers, c.Duration)
	if d.events == 0 {
		return fmt.Errorf("driving events: nothing committed: %w", d.firstErr)
	}
	drained := f.waitFor(ctx, d.lastRevision, c.Drain)
	f.stop()
	rep := f.report()

	w := os.Stdout
	_, _ = fmt.Fprintf(w, "WatchJobs fan-out: %d watchers over %d gRPC connections to %s\n", c.Watchers, c.Conns, c.Addr)
	_, _ = fmt.Fprintf(w, "  driven    %8.0f events/s (target %.0f; %d events in %s, %d failed calls)\n",
		perSecond(d.events, d.elapsed), c.Rate, d.events, d.elapsed.Round(time.Millisecond), d.failed)
	if d.firstErr != nil {
		_, _ = fmt.Fprintf(w, "            first error: %v\n", d.firstErr)
	}
	_, _ = fmt.Fprintf(w, "  delivered %8.0f events/s in total, %.0f per watcher; %d of %d expected (%.2f%%)\n",
		perSecond(rep.delivered, d.elapsed), perSecond(rep.delivered, d.elapsed)/float64(c.Watchers),
		rep.delivered, d.events*c.Watchers, 100*float64(rep.delivered)/float64(d.events*c.Watchers))
	_, _ = fmt.Fprintf(w, "  commit-to-receipt latency: %s\n", rep.latency.summary())
	_, _ = fmt.Fprintf(w, "  watchers cut off and resumed: %d; all caught up within --drain: %v\n", rep.resumed, drained)
	return nil
}

// fanout is a set of watchers that record, for every event they receive, the time from the
// event's commit (its event_time, from the database clock of this same machine) to receipt.
type fanout struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	watchers []*watcher
	start    int64 // revision the watchers started after
}

type watcher struct {
	seen    atomic.Int64 // newest revision received
	resumed int
	count   int
	latency samples
	err     error
}

type fanoutReport struct {
	delivered int
	resumed   int
	latency   samples
}

// openFanout opens n watch streams spread over the clients and returns once every stream has
// had its first message (the heartbeat with the starting revision).
func openFanout(ctx context.Context, clients []anonjobv1.JobServiceClient, n int) (*fanout, error) {
	ctx, cancel := context.WithCancel(ctx)
	f := &fanout{cancel: cancel, watchers: make([]*watcher, n)}
	ready := make(chan int64, n)
	failed := make(chan error, n)
	for i := range n {
		w := &watcher{}
		f.watchers[i] = w
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			w.err = w.run(ctx, clients[i%len(clients)], ready)
			if w.err != nil && ctx.Err() == nil {
				failed <- w.err
			}
		}()
	}
	for range n {
		select {
		case rev := <-ready:
			f.start = max(f.start, rev)
		case err := <-failed:
			f.stop()
			return nil, fmt.Errorf("open watcher: %w", err)
		case <-ctx.Done():
			f.stop()
			return nil, ctx.Err()
		}
	}
	return f, nil
}

// run follows one stream, resuming after a resumable cut-off, until ctx ends.
func (w *watcher) run(ctx context.Context, client anonjobv1.JobServiceClient, ready chan<- int64) error {
	first := true
	for {
		stream, err := client.WatchJobs(ctx, &anonjobv1.WatchJobsRequest{SinceRevision: w.seen.Load()})
		if err != nil {
			return err
		}
		for {
			msg, err := stream.Recv()
			if err != nil {
				if ctx.Err() != nil {
					return nil //nolint:nilerr // the run is over, not the watcher
				}
				if c := status.Code(err); c == codes.ResourceExhausted || c == codes.Unavailable {
					w.resumed++
					break
				}
				return err
			}
			now := time.Now()
			for _, e := range msg.GetEvents() {
				w.latency = append(w.latency, now.Sub(e.GetEventTime().AsTime()))
			}
			w.count += len(msg.GetEvents())
			w.seen.Store(msg.GetRevision())
			if first {
				first = false
				ready <- msg.GetRevision()
			}
		}
	}
}

// waitFor waits until every watcher has received revision rev, at most timeout.
func (f *fanout) waitFor(ctx context.Context, rev int64, timeout time.Duration) bool {
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

// stop ends every stream and waits for the watchers; it may be called more than once.
func (f *fanout) stop() {
	f.cancel()
	f.wg.Wait()
}

// report merges what the watchers recorded; call it after stop.
func (f *fanout) report() fanoutReport {
	var r fanoutReport
	parts := make([]samples, 0, len(f.watchers))
	for _, w := range f.watchers {
		r.delivered += w.count
		r.resumed += w.resumed
		parts = append(parts, w.latency)
	}
	r.latency = merge(parts...)
	return r
}
