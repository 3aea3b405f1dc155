package main

import (
	"context"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// driven is what drive committed.
type driven struct {
	events, failed int
	elapsed        time.Duration
	lastRevision   int64
	firstErr       error
}

// drive commits events at a steady rate for a duration: each writer alternates between
// creating a job and cancelling the job it just created, one event per call. The rate is an
// open-loop schedule, so slow calls do not lower the offered load until every writer is busy.
func drive(ctx context.Context, client anonjobv1.JobServiceClient, rate float64, writers int, d time.Duration) driven {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tokens := make(chan struct{}, writers)
	start := time.Now()
	go func() {
		defer close(tokens)
		interval := time.Duration(float64(time.Second) / rate)
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
	var res driven
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pending string // a job this writer created and will cancel next
			for range tokens {
				// Calls run to completion even past the deadline, so every counted event committed.
				callCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				var j *anonjobv1.Job
				var err error
				if pending == "" {
					var r *anonjobv1.CreateJobResponse
					r, err = client.CreateJob(callCtx, &anonjobv1.CreateJobRequest{
						Image:  &httpbody.HttpBody{ContentType: "image/png", Data: tinyPNG},
						Method: "blur", Face: true,
					})
					j = r.GetJob()
					pending = j.GetId()
				} else {
					var r *anonjobv1.CancelJobResponse
					r, err = client.CancelJob(callCtx, &anonjobv1.CancelJobRequest{Id: pending})
					j, pending = r.GetJob(), ""
				}
				done()
				mu.Lock()
				if err != nil {
					res.failed++
					if res.firstErr == nil {
						res.firstErr = err
					}
				} else {
					res.events++
					res.lastRevision = max(res.lastRevision, j.GetRevision())
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}
