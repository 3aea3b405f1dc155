package dispatch

import (
	"testing"
	"time"
)

// TestFlowHalvesDownToOneThenPauses: each congestion halves the limit, never below one; only a
// refusal at one pauses uploads.
func TestFlowHalvesDownToOneThenPauses(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1e9, 0)}
	f := newFlow(4, 32, c.now)
	for _, want := range []struct {
		limit  int
		paused bool
	}{{2, false}, {1, false}, {1, true}} {
		began := f.start(1)
		c.t = c.t.Add(time.Millisecond)
		limit, paused := f.refused(began, time.Minute, 0)
		if limit != want.limit || paused != want.paused {
			t.Fatalf("refused: limit %d paused %v, want %d, %v", limit, paused, want.limit, want.paused)
		}
		if got := f.room(0, 0); (got == 0) != paused {
			t.Fatalf("room %d while paused %v", got, paused)
		}
	}
	// A refusal of an upload begun before the last cut is the same congestion: no new cut.
	began := f.start(1)
	c.t = c.t.Add(time.Minute)
	f.refused(f.start(1), 0, 0) // begun after the cut above, refused now: cuts (and pauses again)
	if limit, paused := f.refused(began, time.Hour, 0); limit != 1 || paused {
		t.Fatalf("a stale refusal: limit %d paused %v, want 1 and no new pause", limit, paused)
	}
	c.t = c.t.Add(minPause)
	if got := f.room(0, 0); got != 1 {
		t.Fatalf("room after the shortest pause = %d, want 1", got)
	}
}
