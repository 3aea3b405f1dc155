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

func revisions(evs []job.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Revision
	}
	return out
}

// TestEventReads: the history a watcher replays, by revision range and page size, before and
// after a compaction.
func TestEventReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, f := newFactory(t)
	// Two jobs (three events) before the mark, one (three events) after it.
	f.Job(t, pgtest.Job{})
	f.Job(t, pgtest.Job{Status: job.StatusCancelled})
	mark := time.Now()
	late := f.Job(t, pgtest.Job{Status: job.StatusProcessing})
	if _, _, err := s.Transition(ctx, late.ID, store.Change{To: job.StatusDone}); err != nil {
		t.Fatal(err)
	}
	all, err := s.EventsAfter(ctx, 0, 100)
	if err != nil || len(all.Events) != 6 || all.Compacted != 0 || all.XMin == 0 {
		t.Fatalf("EventsAfter(0) = %+v, %v", all, err)
	}
	r := revisions(all.Events)
	if !slices.IsSorted(r) || all.Events[0].Type != job.EventCreated || all.Events[2].PreviousStatus != job.StatusQueued ||
		all.Events[5].Job.Status != job.StatusDone || all.Events[5].PreviousStatus != job.StatusProcessing {
		t.Fatalf("events %+v", all.Events)
	}
	head, err := s.Head(ctx)
	if err != nil || head != r[5] {
		t.Fatalf("Head = %d, %v; want %d", head, err, r[5])
	}
	between := []struct {
		name        string
		after, upTo int64
		limit       int
		want        []int64
	}{
		{"everything", 0, head, 100, r},
		{"a page", 0, head, 2, r[:2]},
		{"after a revision", r[1], head, 100, r[2:]},
		{"up to a revision", 0, r[3], 100, r[:4]},
		{"an empty range", r[2], r[2], 100, nil},
		{"past the head", head, head + 10, 100, nil},
	}
	for _, tc := range between {
		got, err := s.EventsBetween(ctx, tc.after, tc.upTo, tc.limit)
		if err != nil || !slices.Equal(revisions(got), tc.want) {
			t.Errorf("%s: EventsBetween(%d, %d, %d) = %v, %v; want %v", tc.name, tc.after, tc.upTo, tc.limit,
				revisions(got), err, tc.want)
		}
	}
	if tail, err := s.EventsAfter(ctx, r[3], 1); err != nil || !slices.Equal(revisions(tail.Events), r[4:5]) {
		t.Errorf("EventsAfter(%d, 1) = %v, %v", r[3], revisions(tail.Events), err)
	}
	if tail, err := s.EventsAfter(ctx, head, 10); err != nil || len(tail.Events) != 0 || tail.XMin == 0 {
		t.Errorf("EventsAfter(head) = %+v, %v; want no events and the snapshot", tail, err)
	}

	// Compaction before the mark prunes the early jobs' events; a cutoff further back moves
	// nothing, since the bound never goes back.
	for _, cutoff := range []time.Time{mark, mark.Add(-time.Hour)} {
		c, err := s.Compact(ctx, cutoff)
		if err != nil || c != r[2] {
			t.Fatalf("Compact(%v) = %d, %v; want %d", cutoff, c, err, r[2])
		}
	}
	after := []struct {
		name        string
		after, upTo int64
		want        []int64
		err         error
	}{
		{"from the start", 0, head, nil, store.ErrCompacted},
		{"from inside the pruned history", r[1], head, nil, store.ErrCompacted},
		{"from the bound", r[2], head, r[3:], nil},
		{"from after the bound", r[4], head, r[5:], nil},
	}
	for _, tc := range after {
		got, err := s.EventsBetween(ctx, tc.after, tc.upTo, 100)
		if !errors.Is(err, tc.err) || !slices.Equal(revisions(got), tc.want) {
			t.Errorf("%s: EventsBetween(%d, %d) = %v, %v; want %v, %v", tc.name, tc.after, tc.upTo,
				revisions(got), err, tc.want, tc.err)
		}
	}
	tail, err := s.EventsAfter(ctx, 0, 100)
	if err != nil || tail.Compacted != r[2] || !slices.Equal(revisions(tail.Events), r[3:]) {
		t.Fatalf("EventsAfter(0) after compaction = %v (compacted %d), %v", revisions(tail.Events), tail.Compacted, err)
	}
	if c, err := s.Compact(ctx, time.Now().Add(time.Hour)); err != nil || c != head {
		t.Fatalf("Compact(everything) = %d, %v; want %d", c, err, head)
	}
	if tail, err := s.EventsAfter(ctx, 0, 100); err != nil || len(tail.Events) != 0 || tail.Compacted != head {
		t.Fatalf("EventsAfter after compacting everything = %+v, %v", tail, err)
	}
}

// TestTxMarkersGrow: each marker takes a transaction id of its own, later than the last.
func TestTxMarkersGrow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	m, err := s.TxMarker(ctx)
	if err != nil || m == 0 {
		t.Fatalf("TxMarker = %d, %v", m, err)
	}
	if m2, err := s.TxMarker(ctx); err != nil || m2 <= m {
		t.Fatalf("second marker %d after %d, %v", m2, m, err)
	}
}
