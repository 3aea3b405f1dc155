package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/loadgen"
)

type lifecycleCmd struct {
	serverFlags `embed:""`
	EngineAddr  string        `name:"engine-addr" help:"Where to serve the zero-cost engine stand-in (loopback only); start anonjobd with --provider-url http://<this>." required:""`
	Count       int           `help:"Jobs to send through." default:"10000"`
	Clients     int           `help:"Concurrent CreateJob callers." default:"32"`
	Timeout     time.Duration `help:"Longest wait for every job to end." default:"5m"`
}

// Run sends --count jobs through the whole path: CreateJob, the dispatcher, the stand-in
// engine (which answers the upload and sends the webhook at once), the provider webhook, and
// DONE as seen on a watch stream.
func (c *lifecycleCmd) Run(ctx context.Context, log *slog.Logger) error {
	if c.Count < 1 || c.Clients < 1 || c.Timeout <= 0 {
		return errors.New("--count and --clients must be at least 1, --timeout positive")
	}
	host, _, err := net.SplitHostPort(c.EngineAddr)
	if err != nil {
		return fmt.Errorf("--engine-addr: %w", err)
	}
	if err := checkLoopback(host); err != nil {
		return fmt.Errorf("--engine-addr: %w", err)
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", c.EngineAddr)
	if err != nil {
		return fmt.Errorf("--engine-addr: %w", err)
	}
	clients, closeConns, err := c.jobClients(1)
	if err != nil {
		_ = lis.Close()
		return err
	}
	defer closeConns()
	res, err := runLifecycle(ctx, log, lis, clients[0], c.Count, c.Clients, c.Timeout)
	if err != nil {
		return err
	}
	res.print(os.Stdout)
	return nil
}

// lifecycleResult is what a run measured.
type lifecycleResult struct {
	jobs, failed int
	elapsed      time.Duration // first create to last end
	latency      loadgen.Samples
	webhooksLost int64
}

func (r lifecycleResult) print(w io.Writer) {
	_, _ = fmt.Fprintf(w, "create-to-DONE latency: %s\n", r.latency.Summary())
	if r.failed > 0 || r.webhooksLost > 0 {
		_, _ = fmt.Fprintf(w, "jobs failed: %d; webhooks the stand-in could not deliver: %d\n", r.failed, r.webhooksLost)
	}
	_, _ = fmt.Fprintf(w, "lifecycle: %d jobs in %.2f s = %.0f jobs/s, create-to-DONE p50 %.1f ms, p99 %.1f ms\n",
		r.jobs, r.elapsed.Seconds(), loadgen.PerSecond(r.jobs, r.elapsed),
		float64(r.latency.Percentile(50))/float64(time.Millisecond), float64(r.latency.Percentile(99))/float64(time.Millisecond))
}

// runLifecycle serves the stand-in on lis and sends count jobs through client.
func runLifecycle(ctx context.Context, log *slog.Logger, lis net.Listener, client anonjobv1.JobServiceClient,
	count, clients int, timeout time.Duration) (lifecycleResult, error) {
	standIn := loadgen.NewStandIn("http://"+lis.Addr().String(), log)
	srv := &http.Server{Handler: standIn.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	defer func() {
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
		standIn.Close()
	}()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	watch, err := client.WatchJobs(ctx, &anonjobv1.WatchJobsRequest{})
	if err != nil {
		return lifecycleResult{}, fmt.Errorf("watch: %w", err)
	}
	if _, err := watch.Recv(); err != nil { // the opening heartbeat: the watch is in place
		return lifecycleResult{}, fmt.Errorf("watch: %w", err)
	}
	img, err := loadgen.TinyPNG()
	if err != nil {
		return lifecycleResult{}, err
	}

	var mu sync.Mutex
	started := make(map[string]time.Time, count) // job id -> when its CreateJob was sent
	ended := make(map[string]time.Time, count)   // job id -> when its end was seen
	var failed int
	createErr := make(chan error, 1)
	first := time.Now()
	go func() {
		next := make(chan struct{})
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for range next {
					t := time.Now()
					resp, err := client.CreateJob(ctx, loadgen.CreateJobRequest(img))
					if err != nil {
						select {
						case createErr <- fmt.Errorf("CreateJob: %w", err):
						default:
						}
						cancel()
						return
					}
					mu.Lock()
					started[resp.GetJob().GetId()] = t
					mu.Unlock()
				}
			})
		}
		for range count {
			select {
			case next <- struct{}{}:
			case <-ctx.Done():
			}
		}
		close(next)
		wg.Wait()
	}()

	// A job's end may be seen before its CreateJob answer: ends are kept by id and matched
	// with the creates afterwards.
	for len(ended) < count {
		msg, err := watch.Recv()
		if err != nil {
			select {
			case cerr := <-createErr:
				return lifecycleResult{}, cerr
			default:
			}
			mu.Lock()
			n := len(ended)
			mu.Unlock()
			return lifecycleResult{}, fmt.Errorf("watch after %d of %d jobs ended: %w", n, count, err)
		}
		now := time.Now()
		for _, ev := range msg.GetEvents() {
			j := ev.GetJob()
			switch j.GetStatus() {
			case anonjobv1.JobStatus_JOB_STATUS_DONE, anonjobv1.JobStatus_JOB_STATUS_FAILED, anonjobv1.JobStatus_JOB_STATUS_CANCELLED:
			default:
				continue
			}
			mu.Lock()
			if _, seen := ended[j.GetId()]; !seen {
				ended[j.GetId()] = now
				if j.GetStatus() != anonjobv1.JobStatus_JOB_STATUS_DONE {
					failed++
				}
			}
			mu.Unlock()
		}
	}
	last := time.Time{}
	var lat loadgen.Samples
	mu.Lock()
	for id, end := range ended {
		if end.After(last) {
			last = end
		}
		if start, ok := started[id]; ok {
			lat = append(lat, end.Sub(start))
		}
	}
	mu.Unlock()
	return lifecycleResult{jobs: count, failed: failed, elapsed: last.Sub(first),
		latency: loadgen.Merge(lat), webhooksLost: standIn.FailedWebhooks()}, nil
}
