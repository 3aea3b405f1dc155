package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/server"
)

// TestJobRetentionRuns checks the wiring: a server started with a job retention deletes the
// ended jobs past it, and keeps the rest (store's TestDeleteEndedJobs checks exactly what).
func TestJobRetentionRuns(t *testing.T) {
	t.Parallel()
	dbURL := harness.NewDatabase(t)
	first := startOn(t, dbURL, func(c *server.Config) { c.JobRetention = 0 })
	ctx := context.Background()
	old := first.createJob(t).GetId()
	if _, err := first.jobs.CancelJob(ctx, &anonjobv1.CancelJobRequest{Id: old}); err != nil {
		t.Fatal(err)
	}
	live := first.createJob(t).GetId()
	first.srv.Close()
	// A retention shorter than the time since the cancel: the cancelled job is past it, and
	// the queued one, older still, has not ended.
	second := startOn(t, dbURL, func(c *server.Config) { c.JobRetention = time.Microsecond })
	waitFor(t, "the old job to be deleted", func() bool {
		_, err := second.st.GetJob(ctx, old)
		return errors.Is(err, job.ErrNotFound)
	})
	if _, err := second.st.GetJob(ctx, live); err != nil {
		t.Fatalf("a queued job was deleted")
	}
}
