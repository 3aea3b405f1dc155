package server_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/server"
)

// The figures the issue asks for: 32 concurrent clients; 1,000 watchers at 500 events/s.
const (
	benchClients      = 32
	benchWatchers     = 1000
	benchWatchConns   = 4
	benchEventRate    = 500
	benchWriters      = 16
	benchFanoutPeriod = 3 * time.Second
	benchDrainLimit   = 5 * time.Second
)

// BenchmarkCreateJob measures CreateJob over gRPC on loopback, from benchClients goroutines
// with a connection each, against a real server and PostgreSQL (fsync off in the test cluster).
func BenchmarkCreateJob(b *testing.B) {
	srv := benchServer(b)
	clients := benchClientsFor(b, srv, benchClients)
	img := benchPNG(b)
	var worker atomic.Int64
	rec := &benchLatencies{}
	b.SetParallelism(benchParallelism())
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		client := clients[int(worker.Add(1)-1)%len(clients)]
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			_, err := client.CreateJob(context.Background(), &anonjobv1.CreateJobRequest{
				Image: &httpbody.HttpBody{ContentType: "image/png", Data: img}, Method: "blur", Face: true,
			})
			if err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		rec.add(lat)
	})
	elapsed := time.Since(start)
	b.StopTimer()
	rec.report(b, elapsed, "jobs/s")
}

// BenchmarkRawInsert is CreateJob's baseline: the same PostgreSQL and concurrency, a job row and
// its event row inserted in one transaction (one round trip, as the store sends its writes),
// with no service in between.
func BenchmarkRawInsert(b *testing.B) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(harness.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns, cfg.MinConns = benchClients, benchClients
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	rec := &benchLatencies{}
	b.SetParallelism(benchParallelism())
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			if err := rawInsert(ctx, pool); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		rec.add(lat)
	})
	elapsed := time.Since(start)
	b.StopTimer()
	rec.report(b, elapsed, "txn/s")
}

// rawInsert writes what CreateJob's transaction writes to jobs and job_events.
func rawInsert(ctx context.Context, pool *pgxpool.Pool) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	snap := fmt.Sprintf(`{"id":%q,"status":"QUEUED","revision":0,"method":"blur","face":true,`+
		`"license_plate":false,"person":false,"vehicle":false,"request_id":null,"callback_url":null,`+
		`"content_type":"image/png","input_size":67,"provider_file_id":null,"error_code":null,`+
		`"error_message":null,"original_link":null,"anonymized_link":null,"binary_mask_link":null,`+
		`"instance_mask_link":null,"metadata_link":null,"create_time":%q,"update_time":%q}`, id, now, now)
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO jobs (id, status, revision, method, face, license_plate, person,
		vehicle, content_type, input_size)
		VALUES ($1, 'QUEUED', nextval('job_revision_seq'), 'blur', true, false, false, false, 'image/png', 67)`, id)
	batch.Queue(`INSERT INTO job_events (revision, job_id, type, job)
		VALUES (currval('job_revision_seq'), $1, 'CREATED', $2::jsonb)`, id, snap)
	if err := pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("raw insert: %w", err)
	}
	return nil
}

// BenchmarkWatchFanout opens benchWatchers idle watch streams and reports the memory each
// costs, then drives benchEventRate events/s for benchFanoutPeriod and reports the events
// delivered and the latency from commit (the event's event_time) to receipt. The scenario is
// one fixed-size run whatever b.N is: its figures are rates and percentiles, not ns/op.
func BenchmarkWatchFanout(b *testing.B) {
	ctx := context.Background()
	srv := benchServer(b)
	watchClients := benchClientsFor(b, srv, benchWatchConns)
	driver := benchClientsFor(b, srv, 1)[0]
	img := benchPNG(b)

	before := benchMemory()
	f := openBenchFanout(b, watchClients, benchWatchers)
	after := benchMemory()
	perWatcher := float64(int64(after)-int64(before)) / benchWatchers

	b.ResetTimer() // also clears reported metrics: report everything below
	d := benchDrive(ctx, driver, img)
	caughtUp := f.waitFor(d.lastRevision, benchDrainLimit)
	b.StopTimer()
	f.stop()
	if d.failed > 0 {
		b.Errorf("%d of %d driving calls failed, first: %v", d.failed, d.failed+d.events, d.firstErr)
	}
	if !caughtUp {
		b.Errorf("not every watcher received revision %d within %s", d.lastRevision, benchDrainLimit)
	}
	var delivered, resumed int
	var lat []time.Duration
	for _, w := range f.watchers {
		delivered += w.count
		resumed += w.resumed
		lat = append(lat, w.latency...)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(d.events)/d.elapsed.Seconds(), "driven-events/s")
	b.ReportMetric(float64(delivered)/d.elapsed.Seconds(), "delivered-events/s")
	b.ReportMetric(float64(benchPercentile(lat, 50))/1e6, "p50-ms")
	b.ReportMetric(float64(benchPercentile(lat, 99))/1e6, "p99-ms")
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
	}
	b.ReportMetric(float64(resumed), "cutoffs")
	// Both ends of each stream live in this process, so this is an upper bound of the server's share.
	b.ReportMetric(perWatcher, "B/watcher")
}

// benchMemory is the heap and stack in use after a collection.
func benchMemory() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

func benchServer(b *testing.B) *server.Server {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := server.Defaults()
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.DatabaseURL = harness.NewDatabase(b)
	cfg.Log = slog.New(slog.DiscardHandler)
	srv, err := server.Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	select {
	case <-srv.Hub.Ready():
	case <-ctx.Done():
		b.Fatal("watch hub not ready")
	}
	return srv
}

// benchClientsFor dials n separate connections, as n separate clients would have.
func benchClientsFor(b *testing.B, srv *server.Server, n int) []anonjobv1.JobServiceClient {
	b.Helper()
	_, key, err := auth.CreateKey(context.Background(), srv.Store, "bench")
	if err != nil {
		b.Fatal(err)
	}
	out := make([]anonjobv1.JobServiceClient, n)
	for i := range out {
		conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(auth.Bearer(key)))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		out[i] = anonjobv1.NewJobServiceClient(conn)
	}
	return out
}

// benchParallelism makes RunParallel start benchClients goroutines.
func benchParallelism() int {
	p := runtime.GOMAXPROCS(0)
	return (benchClients + p - 1) / p
}

func benchPNG(b *testing.B) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// benchLatencies gathers per-goroutine latencies.
type benchLatencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *benchLatencies) add(lat []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, lat...)
}

func (l *benchLatencies) report(b *testing.B, elapsed time.Duration, unit string) {
	slices.Sort(l.all)
	b.ReportMetric(float64(len(l.all))/elapsed.Seconds(), unit)
	b.ReportMetric(float64(benchPercentile(l.all, 50))/1e6, "p50-ms")
	b.ReportMetric(float64(benchPercentile(l.all, 99))/1e6, "p99-ms")
}

// benchPercentile is the nearest-rank percentile of sorted samples.
func benchPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// benchFanout is a set of watch streams recording commit-to-receipt latency per event.
type benchFanout struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	watchers []*benchWatcher
}

type benchWatcher struct {
	seen    atomic.Int64 // newest revision received
	count   int
	resumed int
	latency []time.Duration
}

// openBenchFanout opens n streams over the clients and returns once each had its first
// message, the heartbeat carrying the revision it starts from.
func openBenchFanout(b *testing.B, clients []anonjobv1.JobServiceClient, n int) *benchFanout {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &benchFanout{cancel: cancel, watchers: make([]*benchWatcher, n)}
	b.Cleanup(f.stop)
	ready := make(chan error, n)
	for i := range n {
		w := &benchWatcher{}
		f.watchers[i] = w
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			w.run(ctx, clients[i%len(clients)], ready)
		}()
	}
	for range n {
		if err := <-ready; err != nil {
			b.Fatalf("open watcher: %v", err)
		}
	}
	return f
}

// run follows a stream until ctx ends, resuming from its revision when the server cuts it off
// (counted: a cut-off is what the targets rule out).
func (w *benchWatcher) run(ctx context.Context, client anonjobv1.JobServiceClient, ready chan<- error) {
	first := true
	for ctx.Err() == nil {
		stream, err := client.WatchJobs(ctx, &anonjobv1.WatchJobsRequest{SinceRevision: w.seen.Load()})
		if err != nil {
			if first {
				ready <- err
			}
			return
		}
		for {
			msg, err := stream.Recv()
			if err != nil {
				if first {
					ready <- err
					return
				}
				if ctx.Err() != nil {
					return
				}
				w.resumed++
				break
			}
			now := time.Now()
			for _, e := range msg.GetEvents() {
				w.latency = append(w.latency, now.Sub(e.GetEventTime().AsTime()))
			}
			w.count += len(msg.GetEvents())
			w.seen.Store(msg.GetRevision())
			if first {
				first = false
				ready <- nil
			}
		}
	}
}

func (f *benchFanout) waitFor(rev int64, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if !slices.ContainsFunc(f.watchers, func(w *benchWatcher) bool { return w.seen.Load() < rev }) {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func (f *benchFanout) stop() {
	f.cancel()
	f.wg.Wait()
}

type benchDriven struct {
	events, failed int
	elapsed        time.Duration
	lastRevision   int64
	firstErr       error
}

// benchDrive commits benchEventRate events/s for benchFanoutPeriod on an open-loop schedule:
// writers alternate between creating a job and cancelling the one they created, one event
// per call.
func benchDrive(ctx context.Context, client anonjobv1.JobServiceClient, img []byte) benchDriven {
	tokens := make(chan struct{}, benchWriters)
	start := time.Now()
	go func() {
		defer close(tokens)
		interval := time.Second / benchEventRate
		for i := 0; ; i++ {
			due := start.Add(time.Duration(i) * interval)
			if due.Sub(start) >= benchFanoutPeriod {
				return
			}
			time.Sleep(time.Until(due))
			tokens <- struct{}{}
		}
	}()
	var mu sync.Mutex
	var res benchDriven
	var wg sync.WaitGroup
	for range benchWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pending string
			for range tokens {
				var j *anonjobv1.Job
				var err error
				if pending == "" {
					var r *anonjobv1.CreateJobResponse
					r, err = client.CreateJob(ctx, &anonjobv1.CreateJobRequest{
						Image: &httpbody.HttpBody{ContentType: "image/png", Data: img}, Method: "blur", Face: true,
					})
					j = r.GetJob()
					pending = j.GetId()
				} else {
					var r *anonjobv1.CancelJobResponse
					r, err = client.CancelJob(ctx, &anonjobv1.CancelJobRequest{Id: pending})
					j, pending = r.GetJob(), ""
				}
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
