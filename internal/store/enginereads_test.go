package store_test

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/store"
)

// enginesFixture makes four jobs through the pool's own moves and returns their ids:
//   - 0 went to e1, was handed over when e1 died (its file f-0 given up there, deleted since),
//     and is PROCESSING at e2 as f-0b;
//   - 1 went to e1 and was handed over (f-1 given up there): QUEUED, at no engine;
//   - 2 ended DONE at e1 before it died;
//   - 3 is PROCESSING at e2.
func enginesFixture(t *testing.T) (*store.Store, []string) {
	t.Helper()
	ctx := context.Background()
	s, f := newFactory(t)
	ids := jobIDs(f.Jobs(t, 4, pgtest.Job{}))
	claimAt := func(engine string, n int) []string {
		t.Helper()
		cs, err := s.ClaimQueuedFor(ctx, "r1", engine, n, time.Hour, 0)
		must(t, err)
		return claimIDs(cs)
	}
	moveTo := func(id string, c store.Change) {
		t.Helper()
		_, _, err := s.Transition(ctx, id, c)
		must(t, err)
	}
	if got := claimAt("e1", 3); !slices.Equal(got, ids[:3]) {
		t.Fatalf("claimed for e1 %v, want %v", got, ids[:3])
	}
	if got := claimAt("e2", 1); !slices.Equal(got, ids[3:]) {
		t.Fatalf("claimed for e2 %v, want %v", got, ids[3:])
	}
	for i, id := range ids {
		moveTo(id, store.Change{To: job.StatusProcessing, ProviderFileID: "f-" + strconv.Itoa(i)})
	}
	moveTo(ids[2], store.Change{To: job.StatusDone, Results: &job.Results{AnonymizedLink: "https://e1/f-2"}})
	if n, err := s.HandOver(ctx, []string{"e1"}, 10); err != nil || n != 2 {
		t.Fatalf("HandOver(e1) = %d, %v; want 2", n, err)
	}
	if got := claimAt("e2", 1); !slices.Equal(got, ids[:1]) {
		t.Fatalf("claimed for e2 after the handover %v, want %v", got, ids[:1])
	}
	moveTo(ids[0], store.Change{To: job.StatusProcessing, ProviderFileID: "f-0b"})
	must(t, s.AbandonedDeleted(ctx, store.AbandonedFile{JobID: ids[0], FileID: "f-0"}))
	return s, ids
}

// TestJobsAtEngine: the jobs an engine has, by status, after claims, an ending and a handover.
func TestJobsAtEngine(t *testing.T) {
	t.Parallel()
	s, ids := enginesFixture(t)
	tests := []struct {
		name   string
		engine string
		status job.Status
		limit  int
		want   []int // indexes into the fixture's jobs, in the order returned
	}{
		{name: "any status keeps the ended jobs", engine: "e1", want: []int{2}},
		{name: "done at the dead engine", engine: "e1", status: job.StatusDone, want: []int{2}},
		{name: "the handed over jobs left the dead engine", engine: "e1", status: job.StatusProcessing},
		{name: "processing, least recently moved first", engine: "e2", status: job.StatusProcessing, want: []int{3, 0}},
		{name: "limit", engine: "e2", status: job.StatusProcessing, limit: 1, want: []int{3}},
		{name: "no job in that status", engine: "e2", status: job.StatusDone},
		{name: "unknown engine", engine: "e9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.JobsAtEngine(context.Background(), tc.engine, tc.status, tc.limit)
			must(t, err)
			want := []string{}
			for _, i := range tc.want {
				want = append(want, ids[i])
			}
			if !slices.Equal(got, want) {
				t.Errorf("JobsAtEngine(%s, %q, %d) = %v, want %v", tc.engine, tc.status, tc.limit, got, want)
			}
		})
	}
}

// TestAbandonments: the files given up, by job and engine, with what became of them.
func TestAbandonments(t *testing.T) {
	t.Parallel()
	s, ids := enginesFixture(t)
	f0 := store.Abandonment{AbandonedFile: store.AbandonedFile{JobID: ids[0], FileID: "f-0"}, EngineID: "e1", Deleted: true}
	f1 := store.Abandonment{AbandonedFile: store.AbandonedFile{JobID: ids[1], FileID: "f-1"}, EngineID: "e1"}
	tests := []struct {
		name string
		q    store.AbandonedQuery
		want []store.Abandonment // in any order: one handover gives its files up at one time
	}{
		{name: "all", want: []store.Abandonment{f0, f1}},
		{name: "of a job, deleted", q: store.AbandonedQuery{JobID: ids[0]}, want: []store.Abandonment{f0}},
		{name: "of a job, not deleted", q: store.AbandonedQuery{JobID: ids[1]}, want: []store.Abandonment{f1}},
		{name: "of a job never handed over", q: store.AbandonedQuery{JobID: ids[3]}},
		{name: "at the dead engine", q: store.AbandonedQuery{EngineID: "e1"}, want: []store.Abandonment{f0, f1}},
		{name: "at an engine that did not die", q: store.AbandonedQuery{EngineID: "e2"}},
		{name: "of a job at its engine", q: store.AbandonedQuery{JobID: ids[1], EngineID: "e1"}, want: []store.Abandonment{f1}},
		{name: "of a job at another engine", q: store.AbandonedQuery{JobID: ids[1], EngineID: "e2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Abandonments(context.Background(), tc.q)
			must(t, err)
			for i := range got {
				if got[i].AbandonedAt.IsZero() {
					t.Errorf("%s given up at no time", got[i].FileID)
				}
				got[i].AbandonedAt = time.Time{}
			}
			byFile := func(a, b store.Abandonment) int { return cmp.Compare(a.FileID, b.FileID) }
			slices.SortFunc(got, byFile)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Abandonments(%+v) = %+v, want %+v", tc.q, got, tc.want)
			}
		})
	}
	t.Run("limit", func(t *testing.T) {
		t.Parallel()
		got, err := s.Abandonments(context.Background(), store.AbandonedQuery{Limit: 1})
		if err != nil || len(got) != 1 {
			t.Errorf("Abandonments(limit 1) = %+v, %v", got, err)
		}
	})
}

// TestCountByStatus: how a set of jobs stands.
func TestCountByStatus(t *testing.T) {
	t.Parallel()
	s, ids := enginesFixture(t)
	tests := []struct {
		name string
		ids  []string
		want map[job.Status]int
	}{
		{name: "all", ids: ids, want: map[job.Status]int{job.StatusProcessing: 2, job.StatusQueued: 1, job.StatusDone: 1}},
		{name: "some", ids: []string{ids[0], ids[2]}, want: map[job.Status]int{job.StatusProcessing: 1, job.StatusDone: 1}},
		{name: "an id twice counts once", ids: []string{ids[2], ids[2]}, want: map[job.Status]int{job.StatusDone: 1}},
		{name: "unknown ids", ids: []string{"00000000-0000-0000-0000-000000000001"}, want: map[job.Status]int{}},
		{name: "none", want: map[job.Status]int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.CountByStatus(context.Background(), tc.ids)
			must(t, err)
			if !maps.Equal(got, tc.want) {
				t.Errorf("CountByStatus = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTransitionAfter: a provider webhook's end of a job, with the record of its file first
// where the dispatcher has not recorded it yet. The record applies only to a job without a
// file, and never for a file given up at a dead engine (enginesFixture: ids[1] went back to
// QUEUED when e1 died, f-1 given up there).
func TestTransitionAfter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, ids := enginesFixture(t)
	fresh, _, err := s.CreateJob(ctx, "acme", pgtest.Spec(""), pgtest.PNG1x1())
	must(t, err)
	recorded, _, err := s.CreateJob(ctx, "acme", pgtest.Spec(""), pgtest.PNG1x1())
	must(t, err)
	_, _, err = s.Transition(ctx, recorded.ID, store.Change{To: job.StatusProcessing, ProviderFileID: "w-2"})
	must(t, err)
	cases := []struct {
		name, id, file string
		want           job.Status // "" for a refusal
		wantFile       string
	}{
		{"webhook before the record", fresh.ID, "w-1", job.StatusDone, "w-1"},
		{"record came first", recorded.ID, "w-2", job.StatusDone, "w-2"},
		{"file given up at a dead engine", ids[1], "f-1", "", ""},
		{"another file than the job's", ids[3], "x", "", "f-3"},
		{"a new file after the handover", ids[1], "f-1c", job.StatusDone, "f-1c"},
	}
	for _, tc := range cases { // in order: two cases share ids[1]
		record := store.Change{To: job.StatusProcessing, ProviderFileID: tc.file, IfNoFile: true}
		end := store.Change{To: job.StatusDone, IfFileID: tc.file, Results: &job.Results{AnonymizedLink: "https://e/" + tc.file}}
		j, _, err := s.TransitionAfter(ctx, tc.id, record, end)
		var te *job.TransitionError
		switch {
		case tc.want == "" && !errors.As(err, &te):
			t.Errorf("%s: got %s, %v; want a refusal", tc.name, j.Status, err)
			continue
		case tc.want != "" && (err != nil || j.Status != tc.want):
			t.Errorf("%s: got %s, %v; want %s", tc.name, j.Status, err, tc.want)
			continue
		}
		cur, err := s.GetJob(ctx, tc.id)
		must(t, err)
		if cur.ProviderFileID != tc.wantFile {
			t.Errorf("%s: file %q, want %q", tc.name, cur.ProviderFileID, tc.wantFile)
		}
	}
	// The early webhook's job went QUEUED, PROCESSING, DONE: two events after its creation.
	tail, err := s.EventsAfter(ctx, fresh.Revision, 100)
	must(t, err)
	var moves []job.Status
	for _, e := range tail.Events {
		if e.Job.ID == fresh.ID {
			moves = append(moves, e.Job.Status)
		}
	}
	if !slices.Equal(moves, []job.Status{job.StatusProcessing, job.StatusDone}) {
		t.Errorf("events of the early webhook's job: %v", moves)
	}
}
