package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/store"
)

// TestDeleteEndedJobs deletes exactly the jobs that ended before the cutoff, with their
// images, deliveries, attempts and webhook receipts, and nothing of live jobs, younger ones or
// a job still owed a client webhook.
func TestDeleteEndedJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, f := newFactory(t)
	// make creates a job walked to status, with one provider webhook receipt.
	make := func(status job.Status, callback string) string {
		t.Helper()
		j := f.Job(t, pgtest.Job{Status: status, CallbackURL: callback})
		must(t, s.RecordReceipt(ctx, store.Receipt{JobID: j.ID, ContentType: "application/json", Payload: []byte("{}"), Outcome: "APPLIED"}))
		return j.ID
	}
	// Everything made before the cutoff is old; revisions grow with time, as outside a test.
	oldDone := make(job.StatusDone, "")
	oldFailed := make(job.StatusFailed, "")
	oldCancelled := make(job.StatusCancelled, "")
	oldDelivered := make(job.StatusDone, hook)
	keep := map[string]string{}
	keep["queued long ago"] = make(job.StatusQueued, "")
	keep["processing since long ago"] = make(job.StatusProcessing, "")
	keep["webhook still owed"] = make(job.StatusDone, hook)
	cutoff := time.Now()
	keep["done after the cutoff"] = make(job.StatusDone, "")
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
		must(t, s.FinishAttempt(ctx, d.ID, store.Attempt{Time: time.Now(), StatusCode: 204}, state, time.Now().Add(time.Hour)))
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
	if _, err := s.Input(ctx, oldDone); err != nil {
		t.Fatalf("input of a job to delete: %v", err)
	}

	// Small batches, until one comes back short.
	total := 0
	for {
		n, err := s.DeleteEndedJobs(ctx, cutoff, 3)
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
		if rs, err := s.Receipts(ctx, id); err != nil || len(rs) != 1 || rs[0].Outcome != "APPLIED" {
			t.Errorf("%s: receipts %+v, %v", what, rs, err)
		}
	}
	for _, id := range doomed {
		if _, err := s.GetJob(ctx, id); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("job %s kept: %v", id, err)
		}
		if _, err := s.Input(ctx, id); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("input of deleted job %s kept: %v", id, err)
		}
		// The attempts go with their deliveries (ON DELETE CASCADE).
		if d, err := s.JobDeliveries(ctx, "acme", id); err != nil || len(d) != 0 {
			t.Errorf("deliveries of deleted job %s kept: %d, %v", id, len(d), err)
		}
		if rs, err := s.Receipts(ctx, id); err != nil || len(rs) != 0 {
			t.Errorf("receipts of deleted job %s kept: %d, %v", id, len(rs), err)
		}
	}
	if d, err := s.JobDeliveries(ctx, "acme", keep["webhook still owed"]); err != nil || len(d) != 1 || len(d[0].Log) != 1 {
		t.Errorf("the owed webhook's deliveries: %+v, %v; want one with one attempt", d, err)
	}
	st, err := s.JobStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	left := int64(0)
	for _, n := range st.ByStatus {
		left += n
	}
	if left != int64(len(keep)) {
		t.Errorf("%d jobs left, want %d", left, len(keep))
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
	// The next compaction prunes the deleted jobs' events; nothing of the young job.
	if _, err := s.Compact(ctx, cutoff); err != nil {
		t.Fatal(err)
	}
	tail, err := s.EventsAfter(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	young := 0
	for _, e := range tail.Events {
		if slices.Contains(doomed, e.Job.ID) {
			t.Errorf("event %d of deleted job %s left after compaction", e.Revision, e.Job.ID)
		}
		if e.Job.ID == keep["done after the cutoff"] {
			young++
		}
	}
	if young != 3 {
		t.Errorf("the young job has %d events, want 3", young)
	}
	// Nothing more is due.
	if n, err := s.DeleteEndedJobs(ctx, cutoff, 100); err != nil || n != 0 {
		t.Fatalf("second pass deleted %d, %v", n, err)
	}
}
