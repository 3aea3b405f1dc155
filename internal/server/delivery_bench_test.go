package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/store"
)

// BenchmarkDeliveries measures client webhooks delivered per second to a fast loopback
// receiver: b.N jobs end at once, and the clock runs until the receiver has them all.
func BenchmarkDeliveries(b *testing.B) {
	var got atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got.Add(1) }))
	defer rcv.Close()
	e := benchEnv(b)
	ctx := context.Background()
	ids := benchJobs(b, e.st, rcv.URL)
	b.ResetTimer()
	start := time.Now()
	for _, id := range ids {
		if _, _, err := e.srv.Store.Transition(ctx, id, store.Change{To: job.StatusCancelled}); err != nil {
			b.Fatal(err)
		}
	}
	for got.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
}

// BenchmarkTransitionOutbox measures what writing the outbox row adds to a job's end: the
// same transition, for jobs with and without a callback_url.
func BenchmarkTransitionOutbox(b *testing.B) {
	for _, tc := range []struct {
		name, callback string
	}{{"without-callback", ""}, {"with-callback", "https://127.0.0.1:9/hook"}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			// No server: nothing else runs, so the transaction alone is measured.
			pool, err := store.Connect(ctx, harness.NewDatabase(b), 4)
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			st := store.New(pool, store.Config{})
			ids := benchJobs(b, st, tc.callback)
			for _, id := range ids {
				if _, _, err := st.Transition(ctx, id, store.Change{To: job.StatusProcessing, ProviderFileID: "f-" + id}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for _, id := range ids {
				if _, _, err := st.Transition(ctx, id, store.Change{To: job.StatusDone, Results: &job.Results{AnonymizedLink: "https://e/a"}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchJobs creates b.N queued jobs of acme with callback as their callback_url.
func benchJobs(b *testing.B, st *store.Store, callback string) []string {
	b.Helper()
	ids := make([]string, b.N)
	for i := range ids {
		j, _, err := st.CreateJob(context.Background(), "acme", job.Spec{Method: job.MethodBlur, Targets: job.Targets{Face: true},
			ContentType: "image/png", CallbackURL: callback}, benchPNG(b))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = j.ID
	}
	return ids
}

// benchEnv starts a server for a benchmark (the senders deliver to loopback).
func benchEnv(b *testing.B) *env {
	b.Helper()
	return startOn(b, harness.NewDatabase(b), func(*server.Config) {})
}
