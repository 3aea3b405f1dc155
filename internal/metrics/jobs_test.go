package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/anonjob/anonjob/internal/store"
)

type fakeStats struct {
	calls int
	stats store.JobStats
	err   error
}

func (f *fakeStats) JobStats(context.Context) (store.JobStats, error) {
	f.calls++
	return f.stats, f.err
}

func TestJobsCollectorCachesAndReports(t *testing.T) {
	t.Parallel()
	src := &fakeStats{stats: store.JobStats{ByStatus: map[string]int64{"QUEUED": 3, "DONE": 7}, OldestQueued: 90 * time.Second}}
	c := NewJobsCollector(src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	want := `
# HELP anonjob_jobs Jobs in the database by status.
# TYPE anonjob_jobs gauge
anonjob_jobs{status="CANCELLED"} 0
anonjob_jobs{status="DONE"} 7
anonjob_jobs{status="FAILED"} 0
anonjob_jobs{status="PROCESSING"} 0
anonjob_jobs{status="QUEUED"} 3
# HELP anonjob_jobs_oldest_queued_age_seconds How long the oldest queued job has waited; 0 when none is queued.
# TYPE anonjob_jobs_oldest_queued_age_seconds gauge
anonjob_jobs_oldest_queued_age_seconds 90
# HELP anonjob_jobs_queued Jobs waiting to be sent to the engine.
# TYPE anonjob_jobs_queued gauge
anonjob_jobs_queued 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if src.calls != 1 {
		t.Fatalf("two scrapes within the cache ran %d queries, want 1", src.calls)
	}
	now = now.Add(2 * time.Second)
	src.err = errors.New("database down")
	if n := testutil.CollectAndCount(c); n != 0 || src.calls != 2 {
		t.Fatalf("after the cache expired with the database down: %d samples, %d queries", n, src.calls)
	}
}
