package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/store"
)

const hook = "https://client.example/hook"

// TestDeliveryOutbox: a job owes its client a webhook from the moment it ends with a
// callback_url, and only then; a redelivery queues a new message for such a job only.
func TestDeliveryOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name      string
		job       pgtest.Job
		customer  string // who asks for the redelivery; the job's owner when empty
		owed      string // file_status of the delivery the job owes; "" for none
		redeliver error
	}{
		{name: "done", job: pgtest.Job{CallbackURL: hook, Status: job.StatusDone}, owed: "done"},
		{name: "failed", job: pgtest.Job{CallbackURL: hook, Status: job.StatusFailed}, owed: "failed"},
		{name: "cancelled", job: pgtest.Job{CallbackURL: hook, Status: job.StatusCancelled}, owed: "cancelled"},
		{name: "queued owes nothing yet", job: pgtest.Job{CallbackURL: hook}, redeliver: store.ErrNotDeliverable},
		{name: "processing owes nothing yet", job: pgtest.Job{CallbackURL: hook, Status: job.StatusProcessing},
			redeliver: store.ErrNotDeliverable},
		{name: "no callback_url, nothing owed", job: pgtest.Job{Status: job.StatusDone}, redeliver: store.ErrNotDeliverable},
		{name: "another customer cannot redeliver", job: pgtest.Job{CallbackURL: hook, Status: job.StatusDone},
			customer: "other", owed: "done", redeliver: store.ErrNotDeliverable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, f := newFactory(t)
			j := f.Job(t, tc.job)
			ds, err := s.JobDeliveries(ctx, j.Customer, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tc.owed == "" {
				if len(ds) != 0 {
					t.Fatalf("owes %d deliveries, want none", len(ds))
				}
			} else {
				if len(ds) != 1 {
					t.Fatalf("owes %d deliveries, want 1", len(ds))
				}
				checkDelivery(t, ds[0], j, tc.owed)
			}
			customer := tc.customer
			if customer == "" {
				customer = j.Customer
			}
			d, err := s.Redeliver(ctx, customer, j.ID)
			if !errors.Is(err, tc.redeliver) {
				t.Fatalf("Redeliver = %v, want %v", err, tc.redeliver)
			}
			if tc.redeliver != nil {
				return
			}
			checkDelivery(t, d, j, tc.owed)
			if d.ID == ds[0].ID || d.MessageID == ds[0].MessageID {
				t.Fatalf("redelivery reuses the delivery %s / message %s", d.ID, d.MessageID)
			}
			again, err := s.JobDeliveries(ctx, j.Customer, j.ID)
			if err != nil || len(again) != 2 || again[1].ID != d.ID {
				t.Fatalf("deliveries after the redelivery: %+v, %v", again, err)
			}
		})
	}
}

func checkDelivery(t *testing.T, d store.Delivery, j job.Job, fileStatus string) {
	t.Helper()
	if d.JobID != j.ID || d.Customer != j.Customer || d.URL != hook || d.FileStatus != fileStatus ||
		d.State != "PENDING" || d.Attempts != 0 || !strings.HasPrefix(d.MessageID, "msg_") ||
		strings.Contains(d.MessageID, "-") || d.ID == "" || d.CreateTime.IsZero() || d.NextAttemptAt.IsZero() {
		t.Fatalf("delivery %+v, want a pending %s webhook of job %s", d, fileStatus, j.ID)
	}
}

// TestDeliveryAttempts: claims of due deliveries, the attempts they log, and what a release
// or a retry schedule does to the next claim.
func TestDeliveryAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		// after acts on the first claim of the job's one delivery.
		after func(t *testing.T, s *store.Store, d store.Delivery)
		// firstLease is the first claim's lease; an hour when zero.
		firstLease   time.Duration
		reclaimed    bool // the next claim takes the delivery again
		attempts     int  // the delivery's attempts as the next claim (or the log) tells
		state        string
		loggedStatus []int // status codes of the logged attempts
	}{
		{name: "a claimed delivery is leased", attempts: 1, state: "PENDING",
			after: func(*testing.T, *store.Store, store.Delivery) {}},
		{name: "an expired lease is claimed again", reclaimed: true, attempts: 2, state: "PENDING",
			firstLease: -time.Second, after: func(*testing.T, *store.Store, store.Delivery) {}},
		{name: "a released attempt is not counted", reclaimed: true, attempts: 1, state: "PENDING",
			after: func(t *testing.T, s *store.Store, d store.Delivery) { must(t, s.ReleaseDelivery(ctx, d.ID)) }},
		{name: "a failed attempt retried later waits", attempts: 1, state: "PENDING", loggedStatus: []int{500},
			after: func(t *testing.T, s *store.Store, d store.Delivery) {
				must(t, s.FinishAttempt(ctx, d.ID, store.Attempt{Time: time.Now(), StatusCode: 500, Latency: 3 * time.Millisecond},
					"PENDING", time.Now().Add(time.Hour)))
			}},
		{name: "a failed attempt retried now is due", reclaimed: true, attempts: 2, state: "PENDING", loggedStatus: []int{0},
			after: func(t *testing.T, s *store.Store, d store.Delivery) {
				must(t, s.FinishAttempt(ctx, d.ID, store.Attempt{Time: time.Now(), Error: "connection refused"},
					"PENDING", time.Now().Add(-time.Second)))
			}},
		{name: "a delivered webhook is done", attempts: 1, state: "SUCCEEDED", loggedStatus: []int{204},
			after: func(t *testing.T, s *store.Store, d store.Delivery) {
				must(t, s.FinishAttempt(ctx, d.ID, store.Attempt{Time: time.Now(), StatusCode: 204}, "SUCCEEDED", time.Now()))
				// A late release of a finished delivery changes nothing.
				must(t, s.ReleaseDelivery(ctx, d.ID))
			}},
		{name: "a given-up webhook is done", attempts: 1, state: "FAILED", loggedStatus: []int{410},
			after: func(t *testing.T, s *store.Store, d store.Delivery) {
				must(t, s.FinishAttempt(ctx, d.ID, store.Attempt{Time: time.Now(), StatusCode: 410}, "FAILED", time.Now()))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, f := newFactory(t)
			j := f.Job(t, pgtest.Job{CallbackURL: hook, Status: job.StatusDone})
			lease := tc.firstLease
			if lease == 0 {
				lease = time.Hour
			}
			first, err := s.ClaimDeliveries(ctx, 5, lease)
			if err != nil || len(first) != 1 || first[0].JobID != j.ID || first[0].Attempts != 1 {
				t.Fatalf("first claim: %+v, %v", first, err)
			}
			tc.after(t, s, first[0])
			next, err := s.ClaimDeliveries(ctx, 5, time.Hour)
			if err != nil || (len(next) == 1) != tc.reclaimed || len(next) > 1 {
				t.Fatalf("next claim: %+v, %v; want reclaimed %v", next, err, tc.reclaimed)
			}
			ds, err := s.JobDeliveries(ctx, j.Customer, j.ID)
			if err != nil || len(ds) != 1 {
				t.Fatalf("JobDeliveries = %+v, %v", ds, err)
			}
			d := ds[0]
			if d.Attempts != tc.attempts || d.State != tc.state {
				t.Errorf("delivery after: %d attempts, %s; want %d, %s", d.Attempts, d.State, tc.attempts, tc.state)
			}
			if len(d.Log) != len(tc.loggedStatus) {
				t.Fatalf("attempt log %+v, want status codes %v", d.Log, tc.loggedStatus)
			}
			for i, a := range d.Log {
				if a.StatusCode != tc.loggedStatus[i] || a.Time.IsZero() || (a.StatusCode == 0) != (a.Error != "") {
					t.Errorf("attempt %d = %+v, want status %d", i, a, tc.loggedStatus[i])
				}
			}
			if tc.name == "a failed attempt retried later waits" && d.Log[0].Latency != 3*time.Millisecond {
				t.Errorf("logged latency %v, want 3ms", d.Log[0].Latency)
			}
			if other, err := s.JobDeliveries(ctx, "other", j.ID); err != nil || len(other) != 0 {
				t.Errorf("another customer sees %d deliveries, %v", len(other), err)
			}
		})
	}
}

// TestDeliveryClaimLimit: a claim takes at most limit due deliveries, the longest due first.
func TestDeliveryClaimLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, f := newFactory(t)
	jobs := f.Jobs(t, 3, pgtest.Job{CallbackURL: hook, Status: job.StatusDone})
	got, err := s.ClaimDeliveries(ctx, 2, time.Hour)
	if err != nil || len(got) != 2 || got[0].JobID != jobs[0].ID || got[1].JobID != jobs[1].ID {
		t.Fatalf("ClaimDeliveries(2) = %+v, %v", got, err)
	}
	rest, err := s.ClaimDeliveries(ctx, 2, time.Hour)
	if err != nil || len(rest) != 1 || rest[0].JobID != jobs[2].ID {
		t.Fatalf("second ClaimDeliveries = %+v, %v", rest, err)
	}
}
