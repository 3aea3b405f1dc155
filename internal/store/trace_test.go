package store_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/store"
	"github.com/anonjob/anonjob/internal/telemetry"
)

// TestJobTraceparent: a job keeps the trace it was created in, for the work that outlives the
// request (the upload, the engine's webhook); the claim hands it to the dispatcher.
func TestJobTraceparent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	traced, _, err := s.CreateJob(telemetry.WithTraceparent(ctx, tp), "acme", pgtest.Spec("traced"), pgtest.PNG1x1())
	must(t, err)
	untraced, _, err := s.CreateJob(ctx, "acme", pgtest.Spec("untraced"), pgtest.PNG1x1())
	must(t, err)
	tests := []struct {
		name, id, want string
	}{
		{name: "created in a trace", id: traced.ID, want: tp},
		{name: "created outside any trace", id: untraced.ID},
		{name: "unknown job", id: "00000000-0000-0000-0000-000000000001"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got, err := s.JobTraceparent(ctx, tc.id); err != nil || got != tc.want {
				t.Errorf("JobTraceparent = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	cs, err := s.ClaimQueuedFor(ctx, "r1", "", 10, time.Hour, 0)
	must(t, err)
	byJob := map[string]string{}
	for _, c := range cs {
		byJob[c.Job.ID] = c.Traceparent
	}
	if len(byJob) != 2 || byJob[traced.ID] != tp || byJob[untraced.ID] != "" {
		t.Errorf("claims carry traceparents %v, want %s for %s only", byJob, tp, traced.ID)
	}
}

// sqlRecorder is a pgx.QueryTracer that keeps the statements it sees.
type sqlRecorder struct {
	mu  sync.Mutex
	sql []string
}

func (r *sqlRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sql = append(r.sql, d.SQL)
	return ctx
}

func (r *sqlRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *sqlRecorder) statements() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sql)
}

// TestWithQueryTracer: the pool's statements reach the tracer Connect is given; a nil tracer
// (tracing off) leaves the pool untraced and working.
func TestWithQueryTracer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rec  *sqlRecorder // nil: Connect is given a nil tracer
	}{
		{name: "tracer", rec: &sqlRecorder{}},
		{name: "nil tracer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var tracer pgx.QueryTracer
			if tc.rec != nil {
				tracer = tc.rec
			}
			pool, err := store.Connect(ctx, harness.NewDatabase(t), 2, store.WithQueryTracer(tracer))
			must(t, err)
			t.Cleanup(pool.Close)
			if _, err := store.New(pool, store.Config{}).JobTraceparent(ctx, "00000000-0000-0000-0000-000000000001"); err != nil {
				t.Fatal(err)
			}
			if tc.rec == nil {
				return
			}
			if !slices.ContainsFunc(tc.rec.statements(), func(q string) bool { return strings.Contains(q, "trace_parent") }) {
				t.Errorf("the tracer saw %q, not the statement run", tc.rec.statements())
			}
		})
	}
}
