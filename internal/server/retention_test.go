package server_test

import (
	"context"
	"testing"
	"time"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
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
	if _, err := first.db.Exec(ctx, `UPDATE jobs SET update_time = now() - interval '2 hours'`); err != nil {
		t.Fatal(err)
	}
	first.srv.Close()
	second := startOn(t, dbURL, func(c *server.Config) { c.JobRetention = time.Hour })
	waitFor(t, "the old job to be deleted", func() bool {
		return second.count(`SELECT count(*) FROM jobs WHERE id = $1`, old) == 0
	})
	if n := second.count(`SELECT count(*) FROM jobs WHERE id = $1`, live); n != 1 {
		t.Fatalf("a queued job was deleted")
	}
}
