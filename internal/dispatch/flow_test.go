package dispatch

import (
	"math"
	"testing"
	"time"
)

// clock is a settable now for the flow control.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestFlowLimit(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1e9, 0)}
	f := newFlow(8, c.now)
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
	f := newFlow(1, c.now)
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

func TestFlowWithoutCapacity(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1e9, 0)}
	f := newFlow(0, c.now)
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
