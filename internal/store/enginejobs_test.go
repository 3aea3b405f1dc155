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

// TestEngineWorkload: how many unfinished jobs each engine has, after claims, an ending and a
// handover (enginesFixture).
func TestEngineWorkload(t *testing.T) {
	t.Parallel()
	s, _ := enginesFixture(t)
	tests := []struct {
		name   string
		engine string
		want   int
	}{
		{name: "the live engine's two jobs", engine: "e2", want: 2},
		{name: "the dead engine: handed over or ended", engine: "e1", want: 0},
		{name: "unknown engine", engine: "e9", want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.CountProcessingAt(context.Background(), tc.engine)
			if err != nil || got != tc.want {
				t.Errorf("CountProcessingAt(%s) = %d, %v; want %d", tc.engine, got, err, tc.want)
			}
		})
	}
}

// TestFilesGivenUp: which files a handover gave up, and which of them are still to delete at
// the dead engine (f-0 was deleted by the fixture, f-1 was not).
func TestFilesGivenUp(t *testing.T) {
	t.Parallel()
	s, ids := enginesFixture(t)
	ctx := context.Background()
	abandoned := []struct {
		name      string
		job, file string
		want      bool
	}{
		{name: "given up and deleted since", job: ids[0], file: "f-0", want: true},
		{name: "given up, not deleted", job: ids[1], file: "f-1", want: true},
		{name: "the job's file at the new engine", job: ids[0], file: "f-0b"},
		{name: "a job never handed over", job: ids[3], file: "f-3"},
		{name: "another job's file", job: ids[1], file: "f-0"},
	}
	for _, tc := range abandoned {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.FileAbandoned(ctx, tc.job, tc.file)
			if err != nil || got != tc.want {
				t.Errorf("FileAbandoned(%s) = %v, %v; want %v", tc.file, got, err, tc.want)
			}
		})
	}
	undeleted := []struct {
		name   string
		engine string
		want   []store.AbandonedFile
	}{
		{name: "at the dead engine", engine: "e1", want: []store.AbandonedFile{{JobID: ids[1], FileID: "f-1"}}},
		{name: "at the live engine", engine: "e2", want: []store.AbandonedFile{}},
	}
	for _, tc := range undeleted {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.UndeletedAbandoned(ctx, tc.engine, 10)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("UndeletedAbandoned(%s) = %+v, %v; want %+v", tc.engine, got, err, tc.want)
			}
		})
	}
}

// TestDeleteEndedInputs: the images of ended jobs go, in batches, once they ended before the
// cutoff; the images of jobs that may still go to another engine stay.
func TestDeleteEndedInputs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, f := newFactory(t)
	var ended, live []string
	for _, st := range []job.Status{job.StatusDone, job.StatusFailed, job.StatusCancelled} {
		ended = append(ended, f.Job(t, pgtest.Job{Status: st}).ID)
	}
	for _, st := range []job.Status{job.StatusQueued, job.StatusProcessing} {
		live = append(live, f.Job(t, pgtest.Job{Status: st}).ID)
	}
	later := time.Now().Add(time.Hour)
	steps := []struct {
		name   string
		cutoff time.Time
		limit  int
		want   int64
	}{
		{name: "none ended before the cutoff", cutoff: time.Now().Add(-time.Hour), limit: 10, want: 0},
		{name: "one batch", cutoff: later, limit: 2, want: 2},
		{name: "the rest", cutoff: later, limit: 10, want: 1},
		{name: "nothing left", cutoff: later, limit: 10, want: 0},
	}
	for _, st := range steps { // in order: each step deletes what the one before left
		if n, err := s.DeleteEndedInputs(ctx, st.cutoff, st.limit); err != nil || n != st.want {
			t.Fatalf("%s: DeleteEndedInputs = %d, %v; want %d", st.name, n, err, st.want)
		}
	}
	for _, id := range ended {
		if _, err := s.Input(ctx, id); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("input of ended job %s: %v, want it deleted", id, err)
		}
	}
	for _, id := range live {
		if in, err := s.Input(ctx, id); err != nil || !slices.Equal(in, pgtest.PNG1x1()) {
			t.Errorf("input of live job %s: %d bytes, %v; want it kept", id, len(in), err)
		}
	}
}
