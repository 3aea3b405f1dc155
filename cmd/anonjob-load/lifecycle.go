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

	"google.golang.org/grpc"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/loadgen"
)

type lifecycleCmd struct {
	serverFlags `embed:""`
	EngineAddr  string        `name:"engine-addr" help:"Where to serve the zero-cost engine stand-in (loopback only); start anonjobd with --provider-url http://<this>." required:""`
	Count       int           `help:"Jobs to send through." default:"10000"`
	Clients     int           `help:"Concurrent CreateJob callers." default:"32"`
	Rate        float64       `help:"Jobs created per second on a fixed schedule (0: as fast as the callers go); each job's latency counts from its scheduled time, so a slow create is not hidden by the jobs it delays." default:"0"`
	Timeout     time.Duration `help:"Longest wait for every job to end." default:"5m"`
}

// Run sends --count jobs through the whole path: CreateJob, the dispatcher, the stand-in
// engine (which answers the upload and sends the webhook at once), the provider webhook, and
// DONE as seen on a watch stream.
func (c *lifecycleCmd) Run(ctx context.Context, log *slog.Logger) error {
	if c.Count < 1 || c.Clients < 1 || c.Timeout <= 0 || c.Rate < 0 {
		return errors.New("--count and --clients must be at least 1, --timeout positive, --rate 0 or more")
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
	res, err := runLifecycle(ctx, log, lis, clients[0], lifecycleLoad{count: c.Count, clients: c.Clients, rate: c.Rate}, c.Timeout)
	if err != nil {
		return err
	}
	res.print(os.Stdout)
	return nil
}

// lifecycleLoad is what a run sends: count jobs from clients concurrent callers, at rate jobs
// per second (0: as fast as they go).
type lifecycleLoad struct {
	count, clients int
	rate           float64
}

// lifecycleResult is what a run measured.
type lifecycleResult struct {
	rate         float64 // the schedule's jobs per second; 0: none
	jobs, failed int
	elapsed      time.Duration // first create to last end
	latency      loadgen.Samples
	webhooksLost int64
}

func (r lifecycleResult) print(w io.Writer) {
	if r.rate > 0 {
		_, _ = fmt.Fprintf(w, "schedule: %.0f jobs/s (latency from each job's scheduled time)\n", r.rate)
	}
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
	load lifecycleLoad, timeout time.Duration) (lifecycleResult, error) {
	standIn, stop := serveStandIn(ctx, lis, log)
	defer stop()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	watch, err := openWatch(ctx, client)
	if err != nil {
		return lifecycleResult{}, err
	}
	img, err := loadgen.TinyPNG()
	if err != nil {
		return lifecycleResult{}, err
	}

	r := &lifecycleRun{
		client: client, img: img, count: load.count, cancel: cancel, createErr: make(chan error, 1),
		started: make(map[string]time.Time, load.count), ended: make(map[string]time.Time, load.count),
	}
	first := time.Now()
	go r.createAll(ctx, load.clients, load.rate)
	if err := r.awaitEnds(watch); err != nil {
		return lifecycleResult{}, err
	}
	res := r.result(first)
	res.rate = load.rate
	res.webhooksLost = standIn.FailedWebhooks()
	return res, nil
}

// serveStandIn serves the stand-in engine on lis until stop is called. Shutting down has a
// few seconds of its own, not bound by ctx, so an interrupted run still closes it in order.
func serveStandIn(ctx context.Context, lis net.Listener, log *slog.Logger) (standIn *loadgen.StandIn, stop func()) {
	standIn = loadgen.NewStandIn("http://"+lis.Addr().String(), log)
	srv := &http.Server{Handler: standIn.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	return standIn, func() {
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
		standIn.Close()
	}
}

// openWatch returns a watch on every job once its opening heartbeat has come: from then on
// no job's end can be missed.
func openWatch(ctx context.Context, client anonjobv1.JobServiceClient) (grpc.ServerStreamingClient[anonjobv1.WatchJobsResponse], error) {
	watch, err := client.WatchJobs(ctx, &anonjobv1.WatchJobsRequest{})
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	if _, err := watch.Recv(); err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	return watch, nil
}

// lifecycleRun is what the CreateJob callers and the watch reader share during one run.
type lifecycleRun struct {
	client    anonjobv1.JobServiceClient
	img       []byte
	count     int
	cancel    context.CancelFunc // the first failed CreateJob ends the run
	createErr chan error         // that failure, for the watch reader to report in place of its own

	mu      sync.Mutex
	started map[string]time.Time // job id -> when its CreateJob was sent
	ended   map[string]time.Time // job id -> when its end was seen
	failed  int
}

// createAll sends count CreateJobs, clients at a time: each as soon as a caller is free, or,
// with a rate, at its place in a fixed schedule (or as soon after it as a caller is free).
func (r *lifecycleRun) createAll(ctx context.Context, clients int, rate float64) {
	next := make(chan time.Time)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() { r.createEach(ctx, next) })
	}
	start := time.Now()
	for i := range r.count {
		var due time.Time // unpaced: latency counts from when a caller sends the job
		if rate > 0 {
			due = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
		}
		select {
		case next <- due:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
}

// createEach sends one CreateJob per time from next, until next closes or a call fails; the
// time is when the job was due, from which its latency counts (zero: from now).
func (r *lifecycleRun) createEach(ctx context.Context, next <-chan time.Time) {
	for t := range next {
		if t.IsZero() {
			t = time.Now()
		}
		resp, err := r.client.CreateJob(ctx, loadgen.CreateJobRequest(r.img))
		if err != nil {
			select {
			case r.createErr <- fmt.Errorf("CreateJob: %w", err):
			default:
			}
			r.cancel()
			return
		}
		r.mu.Lock()
		r.started[resp.GetJob().GetId()] = t
		r.mu.Unlock()
	}
}

// awaitEnds reads the watch until every job has ended. A job's end may be seen before its
// CreateJob answer: ends are kept by id and matched with the creates afterwards.
func (r *lifecycleRun) awaitEnds(watch grpc.ServerStreamingClient[anonjobv1.WatchJobsResponse]) error {
	for len(r.ended) < r.count {
		msg, err := watch.Recv()
		if err != nil {
			return r.watchFailed(err)
		}
		r.recordEnds(msg.GetEvents(), time.Now())
	}
	return nil
}

// watchFailed explains a broken watch. A failed CreateJob cancels the run and so breaks the
// watch too; its error is the cause, and is reported instead.
func (r *lifecycleRun) watchFailed(err error) error {
	select {
	case cerr := <-r.createErr:
		return cerr
	default:
	}
	r.mu.Lock()
	n := len(r.ended)
	r.mu.Unlock()
	return fmt.Errorf("watch after %d of %d jobs ended: %w", n, r.count, err)
}

// recordEnds notes the first end seen of each job among events.
func (r *lifecycleRun) recordEnds(events []*anonjobv1.JobEvent, now time.Time) {
	for _, ev := range events {
		j := ev.GetJob()
		switch j.GetStatus() {
		case anonjobv1.JobStatus_JOB_STATUS_DONE, anonjobv1.JobStatus_JOB_STATUS_FAILED, anonjobv1.JobStatus_JOB_STATUS_CANCELLED:
		default:
			continue
		}
		r.mu.Lock()
		if _, seen := r.ended[j.GetId()]; !seen {
			r.ended[j.GetId()] = now
			if j.GetStatus() != anonjobv1.JobStatus_JOB_STATUS_DONE {
				r.failed++
			}
		}
		r.mu.Unlock()
	}
}

// result matches ends with creates; elapsed runs from first to the last end.
func (r *lifecycleRun) result(first time.Time) lifecycleResult {
	last := time.Time{}
	var lat loadgen.Samples
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, end := range r.ended {
		if end.After(last) {
			last = end
		}
		if start, ok := r.started[id]; ok {
			lat = append(lat, end.Sub(start))
		}
	}
	return lifecycleResult{jobs: r.count, failed: r.failed, elapsed: last.Sub(first), latency: loadgen.Merge(lat)}
}
