package dispatch

import (
	"math"
	"testing"
	"time"
)

// clock is a settable now for the flow control.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// fill starts as many uploads as there is room for with atEngine jobs at the engine, as the
// dispatcher's claim does, and returns how many and when they began.
func fill(f *flow, atEngine int) (n int, began time.Time) {
	uploads, _ := f.uploads()
	n = f.room(atEngine, uploads)
	return n, f.start(n)
}

// accept has the engine accept n uploads.
func accept(f *flow, n int) {
	for range n {
		f.accepted()
	}
}

func TestFlowLimit(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1e9, 0)}
	f := newFlow(8, 32, c.now)
	if got := f.room(3, 2); got != 3 {
		t.Fatalf("room at capacity 8 with 3 at the engine and 2 uploading = %d, want 3", got)
	}
	// A burst of refusals of uploads sent under one limit cuts it once.
	began := f.start(4)
	c.t = c.t.Add(time.Millisecond)
	for range 3 {
		f.refused(began, time.Hour, 0)
	}
	if limit, _ := f.state(); limit != 4 {
		t.Fatalf("limit after one burst of 429s = %v, want 4", limit)
	}
	// A refusal of an upload sent after the cut cuts again.
	later := f.start(1)
	f.refused(later, time.Hour, 0)
	if limit, _ := f.state(); limit != 2 {
		t.Fatalf("limit after a second 429 = %v, want 2", limit)
	}
	// Accepted uploads grow it back by one per limit accepted, up to the capacity only.
	f.accepted() // the fourth of the first burst
	for range 100 {
		f.start(1)
		f.accepted()
	}
	if limit, uploading := f.state(); limit != 8 || uploading != 0 {
		t.Fatalf("after 100 accepted: limit %v, %d uploading; want 8, 0", limit, uploading)
	}
}

func TestFlowPausesOnlyAtOne(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1e9, 0)}
	f := newFlow(1, 32, c.now)
	began := f.start(1)
	c.t = c.t.Add(time.Millisecond)
	if _, paused := f.refused(began, 30*time.Second, 0); !paused {
		t.Fatal("a refusal at limit 1 did not pause")
	}
	if got := f.room(0, 0); got != 0 {
		t.Fatalf("room while paused = %d", got)
	}
	c.t = c.t.Add(30 * time.Second)
	if got := f.room(0, 0); got != 1 {
		t.Fatalf("room after the Retry-After = %d, want 1", got)
	}
	// No Retry-After: the shortest pause.
	began = f.start(1)
	c.t = c.t.Add(time.Millisecond)
	f.refused(began, 0, 0)
	if f.room(0, 0) != 0 {
		t.Fatal("not paused")
	}
	c.t = c.t.Add(minPause)
	if f.room(0, 0) != 1 {
		t.Fatal("still paused after the minimum pause")
	}
}

// TestFlowSlowStart: an engine that has not told its capacity meets slowStartLimit uploads
// first, and more only as it accepts them.
func TestFlowSlowStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		concurrency int
		// run drives the flow from its start, the engine holding every job it accepted.
		run       func(t *testing.T, f *flow, c *clock)
		wantLimit float64
	}{
		{"first contact is slowStartLimit uploads", 32, func(t *testing.T, f *flow, c *clock) {
			if n, _ := fill(f, 0); n != slowStartLimit {
				t.Errorf("first contact: %d uploads, want %d", n, slowStartLimit)
			}
		}, slowStartLimit},
		{"doubles per round of limit accepted uploads", 32, func(t *testing.T, f *flow, c *clock) {
			held := 0
			for _, want := range []float64{8, 16} {
				limit, _ := f.state()
				for accepted := 0; accepted < int(limit); {
					n, _ := fill(f, held)
					accept(f, n)
					held, accepted = held+n, accepted+n
				}
				if got, _ := f.state(); got != want {
					t.Errorf("after a round of %v accepted: limit %v, want %v", limit, got, want)
				}
			}
		}, 16},
		{"a trickle of jobs does not grow it", 32, func(t *testing.T, f *flow, c *clock) {
			for range 100 {
				f.room(0, 0)
				f.start(1)
				f.accepted()
			}
		}, slowStartLimit},
		{"the first 429 halves it and ends the slow start", 32, func(t *testing.T, f *flow, c *clock) {
			_, began := fill(f, 0)
			c.t = c.t.Add(time.Millisecond)
			if limit, paused := f.refused(began, time.Hour, 0); limit != 2 || paused {
				t.Errorf("first 429: limit %d paused %v, want 2 and no pause", limit, paused)
			}
			f.refused(began, time.Hour, 0) // of the same burst: no second cut
			accept(f, 1)                   // additive increase from here: 1/limit, not one
		}, 2.5},
		{"lifted at the dispatcher's concurrency", 8, func(t *testing.T, f *flow, c *clock) {
			n, _ := fill(f, 0)
			accept(f, n)
			if _, limited := f.uploads(); limited {
				t.Error("limited past the dispatcher's concurrency")
			}
			if got := f.room(500, 20); got != math.MaxInt {
				t.Errorf("room past the slow start = %d", got)
			}
		}, math.Inf(1)},
		{"none when the concurrency is as small", slowStartLimit, func(t *testing.T, f *flow, c *clock) {
			if got := f.room(0, 0); got != math.MaxInt {
				t.Errorf("room = %d: the uploads at once are the smaller bound", got)
			}
		}, math.Inf(1)},
		{"a told capacity ends it", 32, func(t *testing.T, f *flow, c *clock) {
			f.setCapacity(3)
			n, _ := fill(f, 0)
			accept(f, n)
		}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &clock{t: time.Unix(1e9, 0)}
			f := newFlow(0, tc.concurrency, c.now)
			tc.run(t, f, c)
			if limit, _ := f.state(); limit != tc.wantLimit {
				t.Errorf("limit %v, want %v", limit, tc.wantLimit)
			}
		})
	}
}

// TestFlowWithoutLimit: past its slow start an engine of unknown capacity is not held back
// until it refuses; then the limit is half of what was in flight, growing without a ceiling.
func TestFlowWithoutLimit(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1e9, 0)}
	f := newFlow(0, slowStartLimit, c.now) // no slow start
	// No limit until the first refusal: a hosted provider that never refuses is never held back.
	if got := f.room(500, 20); got != math.MaxInt {
		t.Fatalf("room before any 429 = %d", got)
	}
	if _, limited := f.uploads(); limited {
		t.Fatal("limited before any 429")
	}
	f.start(19)
	began := f.start(1)
	c.t = c.t.Add(time.Millisecond)
	// 500 at the engine and 20 uploading, this one among them.
	if limit, paused := f.refused(began, time.Hour, 500); limit != 260 || paused {
		t.Fatalf("first 429 with 520 in flight: limit %d paused %v, want 260 and no pause", limit, paused)
	}
	for range 19 {
		f.ended()
	}
	for range 260 {
		f.start(1)
		f.accepted()
	}
	if limit, _ := f.state(); math.Abs(limit-261) > 0.01 {
		t.Fatalf("limit after 260 accepted = %v, want about 261", limit)
	}
	f.setCapacity(5)
	if got := f.room(0, 0); got != 5 {
		t.Fatalf("room once the capacity is told = %d, want 5", got)
	}
	f.start(1)
	f.ended() // an upload that failed otherwise leaves the limit alone
	if limit, uploading := f.state(); limit != 5 || uploading != 0 {
		t.Fatalf("after a failed upload: limit %v, %d uploading", limit, uploading)
	}
}
