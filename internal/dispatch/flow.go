package dispatch

import (
	"math"
	"sync"
	"time"
)

// flow keeps the engine full and no fuller. At most limit jobs are in flight, counting those
// the engine has (PROCESSING) and those being uploaded. A refused job is not parked: it stays
// due, and goes as soon as there is room. Only when the engine refuses even a single job in
// flight do uploads pause, for its Retry-After.
//
// For an engine that told its capacity, limit starts at the capacity, halves when the engine
// refuses an upload with 429 and grows back by one for every limit uploads it accepts
// (additive increase, multiplicative decrease, as TCP does), never above the capacity.
//
// An engine that has not told its capacity gets a slow start, as TCP's window does: limit
// starts at slowStartLimit and grows by one for every upload the engine accepts, so that it
// doubles with every round of limit accepted uploads, as long as the jobs in flight use at
// least half of it (a trickle of jobs proves nothing about the engine's room, and must not
// grow the limit for a later burst to meet). The first 429 halves it and ends the slow start;
// additive increase and multiplicative decrease follow, without a ceiling. A limit that
// reaches the dispatcher's concurrency without a 429 is lifted: one replica never has more
// uploads under way than that, so beyond it they, not the limit, bound how far past its room
// the engine is pushed before it answers 429. Without a limit the first 429 sets it to half
// of what was then in flight.
type flow struct {
	mu        sync.Mutex
	capacity  float64 // +Inf when unknown
	limit     float64 // +Inf for an engine of unknown capacity past its slow start, until it refuses
	slowStart bool    // unknown capacity, no 429 yet: limit grows by one per accepted upload
	ceiling   float64 // where the slow start ends: the dispatcher's concurrency
	inFlight  int     // jobs in flight as last counted, plus the uploads begun since
	uploading int
	cut       time.Time // last cut: refusals of uploads begun before it are the same congestion
	paused    time.Time // no uploads before this
	now       func() time.Time
}

// slowStartLimit is where the limit of an engine of unknown capacity starts: small, so that
// first contact with an engine that holds little costs few refused uploads, and a few rounds
// of doubling reach the dispatcher's concurrency.
const slowStartLimit = 4

// minPause is the shortest pause after a refusal at the lowest limit, for engines that send
// no Retry-After.
const minPause = time.Second

// newFlow makes the flow control for an engine of the given capacity (0: unknown) and a
// dispatcher with the given number of uploads at once.
func newFlow(capacity, concurrency int, now func() time.Time) *flow {
	f := &flow{capacity: math.Inf(1), limit: math.Inf(1), ceiling: float64(concurrency), now: now}
	switch {
	case capacity > 0:
		f.capacity, f.limit = float64(capacity), float64(capacity)
	case concurrency > slowStartLimit: // else the uploads at once are the smaller bound
		f.limit, f.slowStart = slowStartLimit, true
	}
	return f
}

// setCapacity records the capacity the engine told.
func (f *flow) setCapacity(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.capacity = float64(n)
	f.limit = f.capacity
	f.slowStart = false
}

// uploads is the number of uploads under way, and whether there is a limit at all (without
// one the jobs at the engine need not be counted). The dispatcher reads it before counting
// the jobs at the engine: an upload that ends between the two reads is then counted twice
// rather than not at all, since its job is recorded at the engine before it stops counting
// here.
func (f *flow) uploads() (n int, limited bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uploading, !math.IsInf(f.limit, 1)
}

// room is how many more uploads may start, with atEngine jobs at the engine and uploads under
// way as read before counting them.
func (f *flow) room(atEngine, uploads int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight = atEngine + uploads
	if f.now().Before(f.paused) {
		return 0
	}
	if math.IsInf(f.limit, 1) {
		return math.MaxInt
	}
	return max(0, int(f.limit)-atEngine-uploads)
}

// start records n uploads beginning now and returns when they began.
func (f *flow) start(n int) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploading += n
	f.inFlight += n
	return f.now()
}

// accepted ends an upload the engine took, once the job is recorded as being at the engine.
func (f *flow) accepted() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploading--
	if !f.slowStart {
		f.limit = min(f.capacity, f.limit+1/f.limit)
		return
	}
	if f.limit >= 2*float64(f.inFlight) {
		return // not using the limit: no news of the engine's room
	}
	if f.limit++; f.limit >= f.ceiling {
		f.limit, f.slowStart = math.Inf(1), false
	}
}

// refused ends an upload, begun at began, that the engine answered with 429. atEngine is the
// number of jobs at the engine, needed only when there is no limit (an engine of unknown
// capacity past its slow start), which becomes half of what was then in flight.
func (f *flow) refused(began time.Time, retryAfter time.Duration, atEngine int) (limit int, paused bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploading--
	if began.Before(f.cut) {
		return int(f.limit), false // sent under the old limit: already answered by the last cut
	}
	now := f.now()
	f.slowStart = false
	if math.IsInf(f.limit, 1) {
		f.limit = float64(max(2, atEngine+f.uploading+1)) // halved below
	}
	if f.limit < 2 {
		f.paused = now.Add(max(retryAfter, minPause))
		paused = true
	}
	f.limit = max(1, f.limit/2)
	f.cut = now
	return int(f.limit), paused
}

// ended ends an upload that failed otherwise: it says nothing about the engine's room.
func (f *flow) ended() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploading--
}

// state reports the limit and the uploads under way, for logs and tests.
func (f *flow) state() (limit float64, uploading int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.limit, f.uploading
}
