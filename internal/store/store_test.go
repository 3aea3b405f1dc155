package store_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/store"
)

var harness *pgtest.Harness

func TestMain(m *testing.M) { pgtest.Main(m, &harness) }

func newStore(t *testing.T) *store.Store {
	t.Helper()
	return store.New(newPool(t), store.Config{})
}

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := store.Connect(context.Background(), harness.NewDatabase(t), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestCreateAndTransition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	j, created, err := s.CreateJob(ctx, "acme", pgtest.Spec(""), pgtest.PNG1x1())
	if err != nil || !created {
		t.Fatalf("CreateJob = %v, %v", created, err)
	}
	if j.Status != job.StatusQueued || j.Revision == 0 || j.InputSize != int64(len(pgtest.PNG1x1())) {
		t.Fatalf("created job = %+v", j)
	}
	p, prev, err := s.Transition(ctx, j.ID, store.Change{To: job.StatusProcessing, ProviderFileID: "f-1"})
	if err != nil || prev != job.StatusQueued || p.ProviderFileID != "f-1" || p.Revision <= j.Revision {
		t.Fatalf("Transition = %+v, %v, %v", p, prev, err)
	}
	_, _, err = s.Transition(ctx, j.ID, store.Change{To: job.StatusQueued})
	var te *job.TransitionError
	if !errors.As(err, &te) || te.From != job.StatusProcessing {
		t.Fatalf("disallowed transition err = %v", err)
	}
	got, _ := s.GetJob(ctx, j.ID)
	if got.Revision != p.Revision || got.Status != job.StatusProcessing {
		t.Fatalf("disallowed transition changed the job: %+v", got)
	}
	tail, err := s.EventsAfter(ctx, 0, 10)
	if err != nil || len(tail.Events) != 2 || tail.Events[1].PreviousStatus != job.StatusQueued ||
		tail.Events[1].Job.ProviderFileID != "f-1" || tail.XMin == 0 {
		t.Fatalf("EventsAfter = %+v, %v", tail, err)
	}
	_ = slog.Default()
}
