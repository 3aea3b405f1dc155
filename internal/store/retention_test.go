package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
)

// TestDeleteEndedJobs deletes exactly the jobs that ended before the cutoff, with their
// images, deliveries, attempts and webhook receipts, and nothing of live jobs, younger ones or
// a job still owed a client webhook.
func TestDeleteEndedJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	db := s.Pool()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	// make creates a job, walks it to status and, when age is set, makes it (and its
	// history) that old.
	make := func(status job.Status, callback string, age time.Duration) string {
		t.Helper()
		sp := spec("")
		sp.CallbackURL = callback
		j, _, err := s.CreateJob(ctx, "acme", sp, png1x1)
		if err != nil {
			t.Fatal(err)
		}
		var path []job.Status
		switch status {
		case job.StatusProcessing:
			path = []job.Status{job.StatusProcessing}
		case job.StatusDone, job.StatusFailed:
			path = []job.Status{job.StatusProcessing, status}
		case job.StatusCancelled:
			path = []job.Status{job.StatusCancelled}
		}
		for _, to := range path {
			if _, _, err := s.Transition(ctx, j.ID, store.Change{To: to, ProviderFileID: "f-" + j.ID}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordReceipt(ctx, store.Receipt{JobID: j.ID, ContentType: "application/json", Payload: []byte("{}"), Outcome: "APPLIED"}); err != nil {
			t.Fatal(err)
		}
		if age > 0 {
			exec(`UPDATE jobs SET create_time = now() - $2::interval, update_time = now() - $2::interval WHERE id = $1`, j.ID, age)
			exec(`UPDATE job_events SET create_time = now() - $2::interval WHERE job_id = $1`, j.ID, age)
		}
		return j.ID
	}
	const month = 30 * 24 * time.Hour
	old := 40 * 24 * time.Hour
	oldDone := make(job.StatusDone, "", old)
	oldFailed := make(job.StatusFailed, "", old)
	oldCancelled := make(job.StatusCancelled, "", old)
	oldDelivered := make(job.StatusDone, "https://client.example/hook", old)
	// Made in order of age, so that revisions grow with time as they do outside a test.
	keep := map[string]string{}
	keep["queued for 40 days"] = make(job.StatusQueued, "", old)
	keep["processing for 40 days"] = make(job.StatusProcessing, "", old)
	keep["webhook still owed"] = make(job.StatusDone, "https://client.example/hook", old)
	keep["done 29 days ago"] = make(job.StatusDone, "", 29*24*time.Hour)
	keep["done just now"] = make(job.StatusDone, "", 0)
	// The delivered one's webhook went out (with an attempt logged); the owed one's has not.
	ds, err := s.ClaimDeliveries(ctx, 10, time.Minute)
	if err != nil || len(ds) != 2 {
		t.Fatalf("ClaimDeliveries = %d, %v", len(ds), err)
	}
	for _, d := range ds {
		state := "PENDING"
		if d.JobID == oldDelivered {
			state = "SUCCEEDED"
		}
		if err := s.FinishAttempt(ctx, d.ID, store.Attempt{Time: time.Now(), StatusCode: 204}, state, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	doomed := []string{oldDone, oldFailed, oldCancelled, oldDelivered}
	var newestDoomed int64
	for _, id := range doomed {
		j, err := s.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		newestDoomed = max(newestDoomed, j.Revision)
	}
	exec(`INSERT INTO job_inputs (job_id, data) VALUES ($1, 'x') ON CONFLICT DO NOTHING`, oldDone)

	// Small batches, until one comes back short.
	total := 0
	for {
		n, err := s.DeleteEndedJobs(ctx, time.Now().Add(-month), 3)
		if err != nil {
			t.Fatal(err)
		}
		if n > 3 {
			t.Fatalf("batch of 3 deleted %d", n)
		}
		total += n
		if n < 3 {
			break
		}
	}
	if total != len(doomed) {
		t.Fatalf("deleted %d jobs, want %d", total, len(doomed))
	}
	for what, id := range keep {
		if _, err := s.GetJob(ctx, id); err != nil {
			t.Errorf("%s: deleted (%v)", what, err)
		}
		if count(`SELECT count(*) FROM webhook_receipts WHERE job_id = $1`, id) != 1 {
			t.Errorf("%s: receipt deleted", what)
		}
	}
	for _, id := range doomed {
		if _, err := s.GetJob(ctx, id); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("job %s kept: %v", id, err)
		}
	}
	for table, sql := range map[string]string{
		"job_inputs":        `SELECT count(*) FROM job_inputs WHERE job_id = ANY($1)`,
		"deliveries":        `SELECT count(*) FROM deliveries WHERE job_id = ANY($1)`,
		"delivery_attempts": `SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.job_id = ANY($1)`,
		"webhook_receipts":  `SELECT count(*) FROM webhook_receipts WHERE job_id = ANY($1)`,
	} {
		if n := count(sql, doomed); n != 0 {
			t.Errorf("%d rows of deleted jobs left in %s", n, table)
		}
	}
	if n := count(`SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.job_id = $1`, keep["webhook still owed"]); n != 1 {
		t.Errorf("the owed webhook's attempt log has %d rows, want 1", n)
	}
	if n := count(`SELECT count(*) FROM jobs`); n != len(keep) {
		t.Errorf("%d jobs left, want %d", n, len(keep))
	}

	// A watcher resuming from before the deleted jobs' last events is told to list again
	// rather than replayed a history with holes; one from after them resumes normally.
	if _, err := s.EventsBetween(ctx, newestDoomed-1, newestDoomed+100, 100); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("EventsBetween from before the deletion = %v, want ErrCompacted", err)
	}
	evs, err := s.EventsBetween(ctx, newestDoomed, newestDoomed+1000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if slices.Contains(doomed, e.Job.ID) {
			t.Fatalf("event %d of deleted job %s replayed", e.Revision, e.Job.ID)
		}
	}
	// The next compaction prunes the deleted jobs' events; nothing else of the young jobs.
	if _, err := s.Compact(ctx, time.Now().Add(-month)); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM job_events WHERE job_id = ANY($1)`, doomed); n != 0 {
		t.Errorf("%d events of deleted jobs left after compaction", n)
	}
	if n := count(`SELECT count(*) FROM job_events WHERE job_id = $1`, keep["done just now"]); n != 3 {
		t.Errorf("a young job has %d events, want 3", n)
	}
	// Nothing more is due.
	if n, err := s.DeleteEndedJobs(ctx, time.Now().Add(-month), 100); err != nil || n != 0 {
		t.Fatalf("second pass deleted %d, %v", n, err)
	}
}
