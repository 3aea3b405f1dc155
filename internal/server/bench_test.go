package server_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/loadgen"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/server/servertest"
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
	benchParallel(b, "jobs/s", func(ctx context.Context, worker int) error {
		_, err := clients[worker%len(clients)].CreateJob(ctx, loadgen.CreateJobRequest(img))
		return err
	})
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
	pool, err := loadgen.Connect(ctx, cfg, benchClients)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	raw := loadgen.Inserter{Pool: pool, Tables: loadgen.ServiceTables(), InputSize: len(benchPNG(b))}
	benchParallel(b, "txn/s", func(ctx context.Context, _ int) error { return raw.Insert(ctx) })
}

// benchParallel runs op from benchClients goroutines for b.N calls in all, then reports the
// rate of calls in unit and their p50 and p99 latency.
func benchParallel(b *testing.B, unit string, op func(ctx context.Context, worker int) error) {
	ctx := context.Background()
	var worker atomic.Int64
	var rec loadgen.Collector
	b.SetParallelism(benchParallelism())
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		w := int(worker.Add(1) - 1)
		lat := make(loadgen.Samples, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			if err := op(ctx, w); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		rec.Add(lat)
	})
	elapsed := time.Since(start)
	b.StopTimer()
	all := rec.Merged()
	b.ReportMetric(loadgen.PerSecond(len(all), elapsed), unit)
	b.ReportMetric(benchMs(all.Percentile(50)), "p50-ms")
	b.ReportMetric(benchMs(all.Percentile(99)), "p99-ms")
}

// BenchmarkWatchFanout opens benchWatchers idle watch streams and reports the memory each
// costs, then drives benchEventRate events/s for benchFanoutPeriod and reports the events
// delivered and the latency from commit (the event's event_time) to receipt. The scenario is
// one fixed-size run whatever b.N is: its figures are rates and percentiles, not ns/op.
func BenchmarkWatchFanout(b *testing.B) {
	ctx := context.Background()
	srv := benchServer(b)
	watchClients := benchClientsFor(b, srv, benchWatchConns)
	driver := loadgen.Driver{
		Client: benchClientsFor(b, srv, 1)[0], Image: benchPNG(b),
		Rate: benchEventRate, Writers: benchWriters, Duration: benchFanoutPeriod,
	}

	before := benchMemory()
	f, err := loadgen.OpenFanout(ctx, watchClients, benchWatchers)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(f.Stop)
	after := benchMemory()
	perWatcher := float64(int64(after)-int64(before)) / benchWatchers

	b.ResetTimer() // also clears reported metrics: report everything below
	d := driver.Run(ctx)
	caughtUp := f.WaitFor(ctx, d.LastRevision, benchDrainLimit)
	b.StopTimer()
	f.Stop()
	if d.Failed > 0 {
		b.Errorf("%d of %d driving calls failed, first: %v", d.Failed, d.Failed+d.Events, d.FirstErr)
	}
	if !caughtUp {
		b.Errorf("not every watcher received revision %d within %s", d.LastRevision, benchDrainLimit)
	}
	rep := f.Report()
	b.ReportMetric(d.Rate(), "driven-events/s")
	b.ReportMetric(loadgen.PerSecond(rep.Delivered, d.Elapsed), "delivered-events/s")
	b.ReportMetric(benchMs(rep.Latency.Percentile(50)), "p50-ms")
	b.ReportMetric(benchMs(rep.Latency.Percentile(99)), "p99-ms")
	if len(rep.Latency) > 0 {
		b.ReportMetric(benchMs(rep.Latency.Max()), "max-ms")
	}
	b.ReportMetric(float64(rep.Resumed), "cutoffs")
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
	cfg := servertest.Config(b, harness.NewDatabase(b))
	cfg.MaxWatchesPerCustomer = benchWatchers // the fan-out is measured, not the per-customer bound
	cfg.RateLimit = 0                         // one customer drives the whole load
	srv, _ := servertest.Start(b, cfg)
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
	img, err := loadgen.TinyPNG()
	if err != nil {
		b.Fatal(err)
	}
	return img
}

// benchMs is a duration in milliseconds, the unit of the latency metrics.
func benchMs(d time.Duration) float64 { return float64(d) / 1e6 }
