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

// TestCreateJobRequestID: a retry with the same request_id returns the first job; the same id
// with another request is refused; request ids are per customer.
func TestCreateJobRequestID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	first, created, err := s.CreateJob(ctx, "acme", pgtest.Spec("r-1"), pgtest.PNG1x1())
	if err != nil || !created {
		t.Fatalf("CreateJob = %v, %v", created, err)
	}
	other := pgtest.Spec("r-1")
	other.Method = job.MethodPixelate
	tests := []struct {
		name     string
		customer string
		spec     job.Spec
		input    []byte
		created  bool
		same     bool
		err      error
	}{
		{"a retry", "acme", pgtest.Spec("r-1"), pgtest.PNG1x1(), false, true, nil},
		{"other bytes", "acme", pgtest.Spec("r-1"), append(pgtest.PNG1x1(), 0), false, true, job.ErrRequestIDReused},
		{"another method", "acme", other, pgtest.PNG1x1(), false, true, job.ErrRequestIDReused},
		{"another customer", "globex", pgtest.Spec("r-1"), pgtest.PNG1x1(), true, false, nil},
		{"another request id", "acme", pgtest.Spec("r-2"), pgtest.PNG1x1(), true, false, nil},
		{"no request id", "acme", pgtest.Spec(""), pgtest.PNG1x1(), true, false, nil},
	}
	for _, tc := range tests {
		j, created, err := s.CreateJob(ctx, tc.customer, tc.spec, tc.input)
		if !errors.Is(err, tc.err) || created != tc.created || (j.ID == first.ID) != tc.same {
			t.Errorf("%s: CreateJob = %s, created %v, %v; want created %v, same job %v, %v",
				tc.name, j.ID, created, err, tc.created, tc.same, tc.err)
		}
		if j.Customer != tc.customer || j.Status != job.StatusQueued || j.Spec.ContentType != "image/png" {
			t.Errorf("%s: job %+v", tc.name, j)
		}
	}
}

// TestTransitions: what each move does to a job, and that a refused move changes nothing.
func TestTransitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	res := &job.Results{OriginalLink: "o", AnonymizedLink: "a", BinaryMaskLink: "b", InstanceMaskLink: "i", MetadataLink: "m"}
	tests := []struct {
		name    string
		from    job.Status
		change  store.Change
		allowed bool
		check   func(t *testing.T, j job.Job)
	}{
		{name: "queued to processing keeps the file id", from: job.StatusQueued, allowed: true,
			change: store.Change{To: job.StatusProcessing, ProviderFileID: "f-9"},
			check: func(t *testing.T, j job.Job) {
				if j.ProviderFileID != "f-9" || j.Error != nil || j.Results != nil {
					t.Errorf("job %+v", j)
				}
			}},
		{name: "processing to done keeps every link", from: job.StatusProcessing, allowed: true,
			change: store.Change{To: job.StatusDone, Results: res},
			check: func(t *testing.T, j job.Job) {
				if j.Results == nil || *j.Results != *res || j.ProviderFileID == "" {
					t.Errorf("job %+v, results %+v", j, j.Results)
				}
			}},
		{name: "processing to failed keeps the error", from: job.StatusProcessing, allowed: true,
			change: store.Change{To: job.StatusFailed, Error: &job.Error{Code: "C", Message: "M"}},
			check: func(t *testing.T, j job.Job) {
				if j.Error == nil || *j.Error != (job.Error{Code: "C", Message: "M"}) {
					t.Errorf("job error %+v", j.Error)
				}
			}},
		{name: "queued to cancelled", from: job.StatusQueued, allowed: true, change: store.Change{To: job.StatusCancelled}},
		{name: "a customer moves its own job", from: job.StatusQueued, allowed: true,
			change: store.Change{To: job.StatusCancelled, Customer: "acme"}},
		{name: "queued to done is refused", from: job.StatusQueued, change: store.Change{To: job.StatusDone, Results: res}},
		{name: "done is final", from: job.StatusDone, change: store.Change{To: job.StatusCancelled}},
		{name: "processing back to queued is refused", from: job.StatusProcessing, change: store.Change{To: job.StatusQueued}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, f := newFactory(t)
			before := f.Job(t, pgtest.Job{Status: tc.from})
			got, prev, err := s.Transition(ctx, before.ID, tc.change)
			now, gerr := s.GetJob(ctx, before.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if !tc.allowed {
				var te *job.TransitionError
				if !errors.As(err, &te) || te.From != tc.from || te.To != tc.change.To || te.Current.ID != before.ID {
					t.Fatalf("Transition = %v, want a TransitionError from %s", err, tc.from)
				}
				if now.Revision != before.Revision || now.Status != tc.from || prev != tc.from {
					t.Fatalf("a refused move changed the job: %+v", now)
				}
				return
			}
			if err != nil || prev != tc.from || got.Status != tc.change.To || got.Revision <= before.Revision {
				t.Fatalf("Transition = %+v, %s, %v", got, prev, err)
			}
			if now.Revision != got.Revision || !now.UpdateTime.Equal(got.UpdateTime) || now.Status != got.Status {
				t.Fatalf("stored %+v, returned %+v", now, got)
			}
			tail, err := s.EventsAfter(ctx, before.Revision, 10)
			if err != nil || len(tail.Events) != 1 || tail.Events[0].Type != job.EventStatusChanged ||
				tail.Events[0].PreviousStatus != tc.from || tail.Events[0].Job.Status != tc.change.To {
				t.Fatalf("event of the move: %+v, %v", tail.Events, err)
			}
			if tc.check != nil {
				tc.check(t, got)
				tc.check(t, tail.Events[0].Job)
			}
		})
	}
}

// TestTransitionOfMissingOrForeignJob: a job another customer owns is as missing as one that
// does not exist.
func TestTransitionOfMissingOrForeignJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, f := newFactory(t)
	j := f.Job(t, pgtest.Job{})
	for name, c := range map[string]struct {
		id       string
		customer string
	}{
		"missing": {"0190a0a0-0000-7000-8000-000000000000", ""},
		"foreign": {j.ID, "globex"},
	} {
		if _, _, err := s.Transition(ctx, c.id, store.Change{To: job.StatusCancelled, Customer: c.customer}); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("%s: Transition = %v, want ErrNotFound", name, err)
		}
	}
	if got, err := s.GetJob(ctx, j.ID); err != nil || got.Status != job.StatusQueued {
		t.Fatalf("job after refused moves: %+v, %v", got, err)
	}
	if _, err := s.GetCustomerJob(ctx, "globex", j.ID); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("another customer's GetCustomerJob = %v", err)
	}
	if _, err := s.GetCustomerJob(ctx, "", j.ID); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("GetCustomerJob without a customer = %v", err)
	}
	if got, err := s.GetCustomerJob(ctx, "acme", j.ID); err != nil || got.ID != j.ID {
		t.Errorf("own GetCustomerJob = %+v, %v", got, err)
	}
}

// TestListJobs: filters, order and paging of a customer's jobs.
func TestListJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, f := newFactory(t)
	queued := f.Job(t, pgtest.Job{})
	done := f.Job(t, pgtest.Job{Status: job.StatusDone})
	mark := time.Now()
	failed := f.Job(t, pgtest.Job{Status: job.StatusFailed})
	f.Job(t, pgtest.Job{Customer: "globex"})
	newest := []string{failed.ID, done.ID, queued.ID}
	tests := []struct {
		name string
		q    store.ListQuery
		want []string
	}{
		{"all, newest first", store.ListQuery{Limit: 10}, newest},
		{"a page", store.ListQuery{Limit: 2}, newest[:2]},
		{"after a cursor", store.ListQuery{Limit: 10, After: &store.Cursor{CreateTime: done.CreateTime, ID: done.ID}}, newest[2:]},
		{"by status", store.ListQuery{Limit: 10, Statuses: []job.Status{job.StatusDone, job.StatusFailed}}, newest[:2]},
		{"created after", store.ListQuery{Limit: 10, CreatedAfter: mark}, newest[:1]},
		{"created before", store.ListQuery{Limit: 10, CreatedBefore: mark}, newest[1:]},
		{"created at the bound is after it", store.ListQuery{Limit: 10, CreatedAfter: failed.CreateTime, CreatedBefore: failed.CreateTime.Add(time.Microsecond)}, newest[:1]},
		{"another customer's", store.ListQuery{Customer: "nobody", Limit: 10}, nil},
	}
	for _, tc := range tests {
		if tc.q.Customer == "" {
			tc.q.Customer = "acme"
		}
		got, err := s.ListJobs(ctx, tc.q)
		if err != nil || !slices.Equal(jobIDs(got), tc.want) {
			t.Errorf("%s: ListJobs = %v, %v; want %v", tc.name, jobIDs(got), err, tc.want)
		}
	}
}
