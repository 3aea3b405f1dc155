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

// newFactory returns a store on a database of its own and a factory writing through it.
func newFactory(t *testing.T) (*store.Store, pgtest.Factory) {
	t.Helper()
	s := newStore(t)
	return s, pgtest.Factory{Store: s}
}

func jobIDs(jobs []job.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func claimIDs(cs []store.Claim) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Job.ID
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestClaimQueued: which QUEUED jobs a claim takes after what happened to them before, with
// the attempt count and upload intent the claim reports.
func TestClaimQueued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	past, future := -time.Second, time.Hour
	tests := []struct {
		name   string
		status job.Status // of the jobs made; QUEUED when empty
		jobs   int
		// before acts on the jobs (by id, oldest first) ahead of the claim under test.
		before func(t *testing.T, s *store.Store, ids []string)
		limit  int
		// want lists the indexes of the jobs claimed, in claim order.
		want      []int
		attempts  int
		unsettled bool
		noInput   bool
	}{
		{name: "due jobs oldest first", jobs: 3, limit: 5, want: []int{0, 1, 2}, attempts: 1},
		{name: "limit bounds a claim", jobs: 3, limit: 2, want: []int{0, 1}, attempts: 1},
		{name: "a leased job is not claimed again", jobs: 2, limit: 5, want: []int{1}, attempts: 1,
			before: func(t *testing.T, s *store.Store, ids []string) { claim(t, s, "a", 1, time.Hour) }},
		{name: "an expired lease is claimed again, its upload unsettled", jobs: 1, limit: 5, want: []int{0},
			attempts: 2, unsettled: true,
			before: func(t *testing.T, s *store.Store, ids []string) { claim(t, s, "a", 1, past) }},
		{name: "a job deferred to later waits", jobs: 2, limit: 5, want: []int{1}, attempts: 1,
			before: func(t *testing.T, s *store.Store, ids []string) {
				claim(t, s, "a", 1, time.Hour)
				must(t, s.Defer(ctx, ids[0], time.Now().Add(future), "busy"))
			}},
		{name: "a job deferred to the past is due, its upload settled", jobs: 1, limit: 5, want: []int{0},
			attempts: 2,
			before: func(t *testing.T, s *store.Store, ids []string) {
				claim(t, s, "a", 1, time.Hour)
				must(t, s.Defer(ctx, ids[0], time.Now().Add(past), "busy"))
			}},
		{name: "deferred jobs go in order of when they are due", jobs: 2, limit: 5, want: []int{1, 0},
			attempts: 2,
			before: func(t *testing.T, s *store.Store, ids []string) {
				claim(t, s, "a", 2, time.Hour)
				must(t, s.Defer(ctx, ids[0], time.Now().Add(-time.Second), "busy"))
				must(t, s.Defer(ctx, ids[1], time.Now().Add(-time.Minute), "busy"))
			}},
		{name: "a released job is due at once and its attempt taken back", jobs: 1, limit: 5, want: []int{0},
			attempts: 1,
			before: func(t *testing.T, s *store.Store, ids []string) {
				claim(t, s, "a", 1, time.Hour)
				must(t, s.Release(ctx, ids[0]))
			}},
		{name: "a job whose input is gone is claimed without it", jobs: 1, limit: 5, want: []int{0},
			attempts: 1, noInput: true,
			before: func(t *testing.T, s *store.Store, ids []string) { must(t, s.DeleteInput(ctx, ids[0])) }},
		{name: "processing jobs are not claimed", status: job.StatusProcessing, jobs: 1, limit: 5},
		{name: "ended jobs are not claimed", status: job.StatusDone, jobs: 1, limit: 5},
		{name: "a defer of a job that left QUEUED does not bring it back", status: job.StatusCancelled,
			jobs: 1, limit: 5,
			before: func(t *testing.T, s *store.Store, ids []string) {
				must(t, s.Defer(ctx, ids[0], time.Now().Add(past), "busy"))
				must(t, s.Release(ctx, ids[0]))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, f := newFactory(t)
			ids := jobIDs(f.Jobs(t, tc.jobs, pgtest.Job{Status: tc.status}))
			if tc.before != nil {
				tc.before(t, s, ids)
			}
			got := wantClaimed(t, s.ClaimQueued, tc.limit, ids, tc.want)
			for _, c := range got {
				if c.Attempts != tc.attempts {
					t.Errorf("job %s: attempts %d, want %d", c.Job.ID, c.Attempts, tc.attempts)
				}
				if c.UnsettledUpload.IsZero() == tc.unsettled {
					t.Errorf("job %s: unsettled upload at %v, want unsettled %v", c.Job.ID, c.UnsettledUpload, tc.unsettled)
				}
				if (c.Input == nil) != tc.noInput || (c.Input != nil && !slices.Equal(c.Input, pgtest.PNG1x1())) {
					t.Errorf("job %s: input %d bytes, want none %v", c.Job.ID, len(c.Input), tc.noInput)
				}
				if c.Job.Status != job.StatusQueued || c.Job.Customer != "acme" {
					t.Errorf("claimed job %+v", c.Job)
				}
			}
		})
	}
}

func claim(t *testing.T, s *store.Store, owner string, n int, lease time.Duration) []store.Claim {
	t.Helper()
	cs, err := s.ClaimQueued(context.Background(), owner, n, lease)
	if err != nil || len(cs) != n {
		t.Fatalf("claim %d: %d, %v", n, len(cs), err)
	}
	return cs
}

// TestClaimPolls: which PROCESSING jobs are due for a status poll, and how many polls each has had.
func TestClaimPolls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		// next is when each PROCESSING job's first poll is scheduled, in order of creation.
		next   []time.Duration
		before func(t *testing.T, s *store.Store, ids []string)
		limit  int
		want   []int // indexes of the jobs claimed, in claim order
		polls  int
	}{
		{name: "overdue polls, most overdue first", next: []time.Duration{-time.Second, -time.Minute}, limit: 5,
			want: []int{1, 0}, polls: 1},
		{name: "limit bounds a claim", next: []time.Duration{-time.Minute, -time.Second}, limit: 1,
			want: []int{0}, polls: 1},
		{name: "a poll not yet due waits", next: []time.Duration{time.Hour, -time.Second}, limit: 5,
			want: []int{1}, polls: 1},
		{name: "a claimed poll waits for its lease", next: []time.Duration{-time.Second}, limit: 5,
			before: func(t *testing.T, s *store.Store, ids []string) {
				if cs, err := s.ClaimPolls(ctx, "a", 5, time.Hour); err != nil || len(cs) != 1 {
					t.Fatalf("first poll claim: %d, %v", len(cs), err)
				}
			}},
		{name: "a poll whose lease ran out is claimed again", next: []time.Duration{-time.Second}, limit: 5,
			want: []int{0}, polls: 2,
			before: func(t *testing.T, s *store.Store, ids []string) {
				if cs, err := s.ClaimPolls(ctx, "a", 5, -time.Second); err != nil || len(cs) != 1 {
					t.Fatalf("first poll claim: %d, %v", len(cs), err)
				}
			}},
		{name: "a rescheduled poll is due when scheduled", next: []time.Duration{time.Hour, time.Hour}, limit: 5,
			want: []int{1}, polls: 1,
			before: func(t *testing.T, s *store.Store, ids []string) {
				must(t, s.SchedulePoll(ctx, ids[1], time.Now().Add(-time.Second)))
			}},
		{name: "a dead owner's polls are due at once", next: []time.Duration{-time.Second}, limit: 5,
			want: []int{0}, polls: 2,
			before: func(t *testing.T, s *store.Store, ids []string) {
				if cs, err := s.ClaimPolls(ctx, "a", 5, time.Hour); err != nil || len(cs) != 1 {
					t.Fatalf("first poll claim: %d, %v", len(cs), err)
				}
				if n, err := s.ReleaseClaimsOf(ctx, "a"); err != nil || n != 1 {
					t.Fatalf("released %d, %v", n, err)
				}
			}},
		{name: "ended jobs are not polled", next: []time.Duration{-time.Second}, limit: 5,
			before: func(t *testing.T, s *store.Store, ids []string) {
				if _, _, err := s.Transition(ctx, ids[0], store.Change{To: job.StatusDone}); err != nil {
					t.Fatal(err)
				}
				must(t, s.SchedulePoll(ctx, ids[0], time.Now().Add(-time.Hour)))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, f := newFactory(t)
			var ids []string
			for _, next := range tc.next {
				j := f.Job(t, pgtest.Job{})
				if _, _, err := s.Transition(ctx, j.ID, store.Change{To: job.StatusProcessing,
					ProviderFileID: "file-" + j.ID, NextPollAt: time.Now().Add(next)}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, j.ID)
			}
			if tc.before != nil {
				tc.before(t, s, ids)
			}
			got := wantClaimed(t, s.ClaimPolls, tc.limit, ids, tc.want)
			for _, c := range got {
				if c.Attempts != tc.polls || c.Job.Status != job.StatusProcessing {
					t.Errorf("job %s: %d polls, status %s; want %d polls", c.Job.ID, c.Attempts, c.Job.Status, tc.polls)
				}
			}
		})
	}
}

// TestRenewClaims renews exactly the owner's live claims, uploads and polls alike.
func TestRenewClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, s *store.Store, f pgtest.Factory) []string
		want  int64
	}{
		{name: "live upload claims", want: 2, setup: func(t *testing.T, s *store.Store, f pgtest.Factory) []string {
			f.Jobs(t, 2, pgtest.Job{})
			return claimIDs(claim(t, s, "a", 2, time.Hour))
		}},
		{name: "an expired upload lease is not renewed", want: 0, setup: func(t *testing.T, s *store.Store, f pgtest.Factory) []string {
			f.Job(t, pgtest.Job{})
			return claimIDs(claim(t, s, "a", 1, -time.Second))
		}},
		{name: "another owner's claims are not renewed", want: 0, setup: func(t *testing.T, s *store.Store, f pgtest.Factory) []string {
			f.Job(t, pgtest.Job{})
			return claimIDs(claim(t, s, "other", 1, time.Hour))
		}},
		{name: "a poll under way", want: 1, setup: func(t *testing.T, s *store.Store, f pgtest.Factory) []string {
			j := f.Job(t, pgtest.Job{})
			if _, _, err := s.Transition(ctx, j.ID, store.Change{To: job.StatusProcessing, NextPollAt: time.Now().Add(-time.Second)}); err != nil {
				t.Fatal(err)
			}
			cs, err := s.ClaimPolls(ctx, "a", 1, -time.Second)
			if err != nil || len(cs) != 1 {
				t.Fatalf("poll claim: %d, %v", len(cs), err)
			}
			return claimIDs(cs)
		}},
		{name: "a claim whose job moved on", want: 0, setup: func(t *testing.T, s *store.Store, f pgtest.Factory) []string {
			f.Job(t, pgtest.Job{})
			ids := claimIDs(claim(t, s, "a", 1, time.Hour))
			if _, _, err := s.Transition(ctx, ids[0], store.Change{To: job.StatusCancelled}); err != nil {
				t.Fatal(err)
			}
			return ids
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, f := newFactory(t)
			ids := tc.setup(t, s, f)
			n, err := s.RenewClaims(ctx, "a", ids, time.Hour)
			if err != nil || n != tc.want {
				t.Fatalf("renewed %d, %v; want %d", n, err, tc.want)
			}
			if n == 0 {
				return
			}
			// A renewed upload lease keeps the job from the next claimer.
			if again, err := s.ClaimQueued(ctx, "b", 5, time.Hour); err != nil || len(again) != 0 {
				t.Fatalf("claimed %d renewed jobs, %v", len(again), err)
			}
			if again, err := s.ClaimPolls(ctx, "b", 5, time.Hour); err != nil || len(again) != 0 {
				t.Fatalf("claimed %d renewed polls, %v", len(again), err)
			}
		})
	}
}

// TestCountsAndInputs: the engine's load as the dispatcher counts it, the job stats and the
// inputs dropped once the provider has them.
func TestCountsAndInputs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, f := newFactory(t)
	queued := f.Job(t, pgtest.Job{})
	f.Jobs(t, 2, pgtest.Job{Status: job.StatusProcessing})
	done := f.Job(t, pgtest.Job{Status: job.StatusDone})
	if n, err := s.CountProcessing(ctx); err != nil || n != 2 {
		t.Fatalf("CountProcessing = %d, %v; want 2", n, err)
	}
	st, err := s.JobStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"QUEUED": 1, "PROCESSING": 2, "DONE": 1}
	if len(st.ByStatus) != len(want) {
		t.Errorf("JobStats = %v, want %v", st.ByStatus, want)
	}
	for k, v := range want {
		if st.ByStatus[k] != v {
			t.Errorf("JobStats[%s] = %d, want %d", k, st.ByStatus[k], v)
		}
	}
	if st.OldestQueued < 0 || st.OldestQueued > time.Hour {
		t.Errorf("OldestQueued = %v", st.OldestQueued)
	}
	// Inputs of jobs handed to the provider before the cutoff go; the queued job's stays.
	n, err := s.DeleteInputsBefore(ctx, time.Now().Add(time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("DeleteInputsBefore = %d, %v; want 3", n, err)
	}
	if n, err := s.DeleteInputsBefore(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("DeleteInputsBefore an hour ago = %d, %v; want 0", n, err)
	}
	for id, want := range map[string]bool{queued.ID: true, done.ID: false} {
		in, err := s.Input(ctx, id)
		if got := err == nil && slices.Equal(in, pgtest.PNG1x1()); got != want {
			t.Errorf("job %s: input kept %v (%v), want %v", id, got, err, want)
		}
	}
}

// TestDispatchState reports the bookkeeping that claims, defers and polls leave on a job.
func TestDispatchState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, f := newFactory(t)
	j := f.Job(t, pgtest.Job{})
	at := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	steps := []struct {
		name string
		do   func() error
		want store.DispatchState
	}{
		{"new", func() error { return nil }, store.DispatchState{}},
		{"claimed", func() error { _, err := s.ClaimQueued(ctx, "a", 1, time.Hour); return err },
			store.DispatchState{Attempts: 1, ClaimedBy: "a"}},
		{"deferred", func() error { return s.Defer(ctx, j.ID, at, "engine busy") },
			store.DispatchState{Attempts: 1, LastAttemptError: "engine busy", NextAttemptAt: at}},
		{"polled", func() error {
			_, _, err := s.Transition(ctx, j.ID, store.Change{To: job.StatusProcessing, NextPollAt: at})
			return err
		}, store.DispatchState{Attempts: 1, LastAttemptError: "engine busy", NextAttemptAt: at, NextPollAt: at}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := s.DispatchState(ctx, j.ID)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if st.want.NextAttemptAt.IsZero() {
			st.want.NextAttemptAt = got.NextAttemptAt // the creation time, whatever it was
		}
		if got.Attempts != st.want.Attempts || got.LastAttemptError != st.want.LastAttemptError ||
			!got.NextAttemptAt.Equal(st.want.NextAttemptAt) || got.Polls != st.want.Polls ||
			!got.NextPollAt.Equal(st.want.NextPollAt) || got.ClaimedBy != st.want.ClaimedBy ||
			got.LeaseUntil.IsZero() != (st.want.ClaimedBy == "") {
			t.Errorf("%s: DispatchState = %+v, want %+v", st.name, got, st.want)
		}
	}
	if _, err := s.DispatchState(ctx, "0190a0a0-0000-7000-8000-000000000000"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("DispatchState of a missing job = %v", err)
	}
}

// wantClaimed claims up to limit jobs for owner "b" for an hour, and fails the test unless the
// claims are of exactly the jobs ids[i] of want, in order.
func wantClaimed(t *testing.T, claim func(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.Claim, error),
	limit int, ids []string, want []int) []store.Claim {
	t.Helper()
	got, err := claim(context.Background(), "b", limit, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var wantIDs []string
	for _, i := range want {
		wantIDs = append(wantIDs, ids[i])
	}
	if !slices.Equal(claimIDs(got), wantIDs) {
		t.Fatalf("claimed %v, want %v", claimIDs(got), wantIDs)
	}
	return got
}
