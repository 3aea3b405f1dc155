package loadgen

import (
	"context"
	"sync"
	"time"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// Driver commits job events at a steady rate: each writer alternates between creating a job
// and cancelling the job it just created, one event per call.
type Driver struct {
	Client   anonjobv1.JobServiceClient
	Image    []byte        // the PNG each CreateJob sends
	Rate     float64       // events per second, greater than 0
	Writers  int           // concurrent callers, at least 1
	Duration time.Duration // how long events are scheduled
}

// Driven is what a Driver committed.
type Driven struct {
	Events, Failed int
	Elapsed        time.Duration
	LastRevision   int64 // the newest revision a successful call returned
	FirstErr       error
}

// Rate is the committed events per second.
func (d Driven) Rate() float64 { return PerSecond(d.Events, d.Elapsed) }

// Run drives events for d.Duration (or until ctx ends). The rate is an open-loop schedule, so
// slow calls do not lower the offered load until every writer is busy. Calls run to
// completion even past the deadline, so every counted event committed.
func (d Driver) Run(ctx context.Context) Driven {
	ctx, cancel := context.WithTimeout(ctx, d.Duration)
	defer cancel()
	tokens := make(chan struct{}, d.Writers)
	start := time.Now()
	go func() {
		defer close(tokens)
		interval := time.Duration(float64(time.Second) / d.Rate)
		for i := 0; ; i++ {
			due := start.Add(time.Duration(i) * interval)
			if wait := time.Until(due); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			select {
			case <-ctx.Done():
				return
			case tokens <- struct{}{}:
			}
		}
	}()

	var mu sync.Mutex
	var res Driven
	var wg sync.WaitGroup
	for range d.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pending string // a job this writer created and will cancel next
			for range tokens {
				callCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				j, err := d.event(callCtx, &pending)
				done()
				mu.Lock()
				if err != nil {
					res.Failed++
					if res.FirstErr == nil {
						res.FirstErr = err
					}
				} else {
					res.Events++
					res.LastRevision = max(res.LastRevision, j.GetRevision())
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

// event commits one event: it cancels *pending if set, and otherwise creates a job and
// leaves its id in *pending.
func (d Driver) event(ctx context.Context, pending *string) (*anonjobv1.Job, error) {
	if *pending == "" {
		r, err := d.Client.CreateJob(ctx, CreateJobRequest(d.Image))
		*pending = r.GetJob().GetId()
		return r.GetJob(), err
	}
	r, err := d.Client.CancelJob(ctx, &anonjobv1.CancelJobRequest{Id: *pending})
	*pending = ""
	return r.GetJob(), err
}
