// Package watch fans committed job events out to many watchers. One Hub per process reads the
// event history in revision order and hands each batch to every subscription; a subscription
// that resumes from an older revision first replays it from the database.
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
)

// Source is the event history the hub reads.
type Source interface {
	Head(ctx context.Context) (int64, error)
	EventsAfter(ctx context.Context, after int64, limit int) (store.Tail, error)
	EventsAfterExcept(ctx context.Context, after int64, except []int64, limit int) (store.Tail, error)
	RevisionsAfter(ctx context.Context, after int64, limit int) (store.Tail, error)
	EventsBetween(ctx context.Context, after, upTo int64, limit int) ([]job.Event, error)
	TxMarker(ctx context.Context) (int64, error)
}

// DefaultFanoutRate is Config.FanoutRate's default: what two cores shared with the database
// and the receivers sustained.
const DefaultFanoutRate = 32_000

// Config tunes a Hub. Zero values take the defaults noted.
type Config struct {
	// Fallback is how often the hub reads the history with no wake-up (default 1s): it bounds
	// the delay when a notification is lost.
	Fallback time.Duration
	// GapRetry is how soon the hub reads again while a revision below a visible one is still
	// unaccounted for (default 5ms).
	GapRetry time.Duration
	// PageSize is the most events read at once (default 1000).
	PageSize int
	// RingSize is how many recent events are kept in memory for resuming watchers (default 8192).
	RingSize int
	// Buffer is how many batches a watcher may fall behind before it is cut off (default 32).
	Buffer int
	// MinInterval is the least time between two reads (default 10ms): under a stream of commits,
	// each wake-up would otherwise cost a read of its own; merged, one read takes them all.
	MinInterval time.Duration
	// FanoutRate is the most batches a second the hub aims to hand out, summed over its
	// watchers (default DefaultFanoutRate): each read is a batch for every watcher, and each batch is a
	// message to send and to receive, so with many watchers a stream of commits is read less
	// often, in larger batches. 1,000 watchers of 500 events/s read every 10ms made 100,000
	// messages a second, and the senders fell behind by seconds on two cores; read every 30ms
	// they kept up. The gap between reads stays within MinInterval and MaxInterval. The gap
	// counts every open watcher, although a batch goes only to the watchers of the customers
	// it holds: with many customers' watchers it is wider than their messages need.
	FanoutRate float64
	// MaxInterval bounds the gap between reads that FanoutRate asks for (default 100ms).
	MaxInterval time.Duration
	// FutureWait is how long a watch from a revision past the hub's position waits for the hub
	// to reach it (default 2s): a revision another replica handed out may not be settled here
	// yet. Past it the watch fails with ErrFuture.
	FutureWait time.Duration
}

func (c Config) withDefaults() Config {
	if c.Fallback <= 0 {
		c.Fallback = time.Second
	}
	if c.GapRetry <= 0 {
		c.GapRetry = 5 * time.Millisecond
	}
	if c.PageSize <= 0 {
		c.PageSize = 1000
	}
	if c.RingSize <= 0 {
		c.RingSize = 8192
	}
	if c.Buffer <= 0 {
		c.Buffer = 32
	}
	if c.MinInterval <= 0 {
		c.MinInterval = 10 * time.Millisecond
	}
	if !(c.FanoutRate > 0) || math.IsInf(c.FanoutRate, 0) { // NaN too
		c.FanoutRate = DefaultFanoutRate
	}
	if c.MaxInterval <= 0 {
		c.MaxInterval = 100 * time.Millisecond
	}
	c.MaxInterval = max(c.MaxInterval, c.MinInterval)
	if c.FutureWait <= 0 {
		c.FutureWait = 2 * time.Second
	}
	return c
}

// Batch is a run of events in revision order. Revision is the position after the batch: every
// event up to it has been delivered.
type Batch struct {
	Events   []job.Event
	Revision int64
	// Shared is the same for every watcher handed this very batch (nil once a watcher's copy
	// differs), so that work on it, such as encoding, is done once for all of them.
	Shared *Shared
}

// Shared computes values once for all watchers of a batch: one per key, such as the
// watchers' customer.
type Shared struct {
	mu sync.Mutex
	v  map[string]*sharedValue
}

type sharedValue struct {
	once sync.Once
	v    any
}

// Do returns f's result for key, calling f only the first time for that key.
func (s *Shared) Do(key string, f func() any) any {
	s.mu.Lock()
	if s.v == nil {
		s.v = map[string]*sharedValue{}
	}
	sv, ok := s.v[key]
	if !ok {
		sv = &sharedValue{}
		s.v[key] = sv
	}
	s.mu.Unlock()
	sv.once.Do(func() { sv.v = f() })
	return sv.v
}

// Errors a watcher can get. All of them are resumable except ErrCompacted, which means the
// watcher must re-list.
var (
	ErrCompacted = errors.New("revision is older than the kept event history")
	ErrTooSlow   = errors.New("watcher fell too far behind")
	ErrClosed    = errors.New("watch hub is shutting down")
	// ErrFuture means the asked revision is past every revision this hub has reached; the
	// error is a *FutureError naming the current one.
	ErrFuture = errors.New("revision is in the future")
)

// FutureError is a watch from a revision past the newest one.
type FutureError struct {
	Since, Current int64
}

func (e *FutureError) Error() string {
	return fmt.Sprintf("revision %d is past the newest revision %d", e.Since, e.Current)
}

// Unwrap makes errors.Is(err, ErrFuture) hold.
func (e *FutureError) Unwrap() error { return ErrFuture }

// Hub reads the event history and fans it out. Create it with NewHub and start Run.
type Hub struct {
	src  Source // set by Run before ready is closed
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	ready chan struct{} // closed once pos is known
	done  chan struct{} // closed when Run ends
	// advanced is closed, and replaced, whenever pos moves: watches from a revision ahead of
	// pos wait on it.
	advanced chan struct{}

	mu        sync.Mutex
	pos       int64       // every event up to pos has been published
	ring      []job.Event // recent events, ascending
	ringFloor int64       // ring holds every event in (ringFloor, pos]
	compacted int64
	subs      map[*Subscription]struct{}
	// watchers counts the subscriptions not yet closed, live or still replaying. With none,
	// the hub follows the history by its revisions alone (see poll).
	watchers int
	closed   bool
	// want is the highest revision a watch waits for: until pos reaches it, the hub settles
	// revisions handed out (by any replica) even where no later event shows a gap.
	want int64

	// Only touched by Run's goroutine:
	marker  *marker // pending proof that the revisions up to its ceiling are final
	settled int64   // every revision up to settled is final: committed or never will be
	// polled, when set (by tests, before Run), sees every read of the history: the position
	// it reached, whether a gap holds back what lies past it, and when the read began.
	polled func(next int64, gap bool, began time.Time)
	// held are events read past a gap (a revision still in flight below them), ascending and
	// all past pos: the next read leaves them out instead of reading and decoding them again.
	held []job.Event
}

// marker proves revisions settled: once the database's xmin passes xid, every revision up to
// ceiling has committed or never will.
type marker struct {
	xid     int64
	ceiling int64
}

// NewHub makes a hub; Run starts it on a source.
func NewHub(cfg Config, log *slog.Logger) *Hub {
	return &Hub{
		cfg:      cfg.withDefaults(),
		log:      log,
		wake:     make(chan struct{}, 1),
		ready:    make(chan struct{}),
		done:     make(chan struct{}),
		advanced: make(chan struct{}),
		subs:     make(map[*Subscription]struct{}),
	}
}

// Poke tells the hub that new events may have committed. It never blocks.
func (h *Hub) Poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Ready is closed once the hub knows its starting position and accepts watchers.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Pos returns the revision up to which every event has been published.
func (h *Hub) Pos() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pos
}

// Run reads and publishes the events of src until ctx ends, then cuts every watcher off with
// ErrClosed. It must be called once.
func (h *Hub) Run(ctx context.Context, src Source) error {
	h.src = src // published to Subscribe by closing ready
	defer h.shutdown()
	if err := h.start(ctx); err != nil {
		return err
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last time.Time
	gap := h.cfg.MinInterval // the least time between reads, for the watchers at the last read
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.wake:
			if d := time.Until(last.Add(gap)); d > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(d):
				}
			}
		case <-timer.C:
		}
		last = time.Now()
		wait, err := h.catchUp(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			h.log.Warn("read event history", "err", err)
			wait = h.cfg.Fallback
		}
		if gap = h.interval(); gap > h.cfg.MinInterval {
			// A retry after a gap hands out a batch too: keep it to the watchers' pace.
			wait = max(wait, time.Until(last.Add(gap)))
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// interval is the least time between two reads for the watchers now open.
func (h *Hub) interval() time.Duration {
	h.mu.Lock()
	n := h.watchers
	h.mu.Unlock()
	return h.cfg.readInterval(n)
}

// readInterval spaces reads so that n watchers get at most FanoutRate batches a second.
func (c Config) readInterval(n int) time.Duration {
	secs := float64(n) / c.FanoutRate
	if secs >= c.MaxInterval.Seconds() { // also before a huge value overflows a Duration
		return c.MaxInterval
	}
	return max(time.Duration(secs*float64(time.Second)), c.MinInterval)
}

// start sets pos to the newest revision handed out, once all revisions up to it are settled.
func (h *Hub) start(ctx context.Context) error {
	for {
		head, err := h.src.Head(ctx)
		if err == nil {
			var xid int64
			if xid, err = h.src.TxMarker(ctx); err == nil {
				h.marker = &marker{xid: xid, ceiling: head}
				err = h.settle(ctx)
			}
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h.log.Warn("start watch hub", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(h.cfg.Fallback):
		}
	}
	h.mu.Lock()
	h.pos, h.ringFloor, h.settled = h.marker.ceiling, h.marker.ceiling, h.marker.ceiling
	h.marker = nil
	h.mu.Unlock()
	close(h.ready)
	return nil
}

// settle waits until the marker has passed.
func (h *Hub) settle(ctx context.Context) error {
	for {
		t, err := h.src.EventsAfter(ctx, h.marker.ceiling, 0)
		if err != nil {
			return err
		}
		if t.XMin > h.marker.xid {
			h.mu.Lock()
			h.compacted = t.Compacted
			h.mu.Unlock()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(h.cfg.GapRetry):
		}
	}
}

// catchUp publishes everything readable and says how long to wait before reading again.
func (h *Hub) catchUp(ctx context.Context) (time.Duration, error) {
	for {
		full, gap, err := h.poll(ctx)
		if err != nil {
			return 0, err
		}
		if gap {
			return h.cfg.GapRetry, nil
		}
		if !full {
			return h.cfg.Fallback, nil
		}
	}
}

// poll reads one page after pos and publishes the settled prefix of it. A revision that is
// missing below a visible one is either in flight or will never commit (its transaction rolled
// back, or a conflict consumed it); the marker tells which without waiting on a clock.
func (h *Hub) poll(ctx context.Context) (full, gap bool, err error) {
	var began time.Time
	if h.polled != nil {
		began = time.Now()
	}
	h.mu.Lock()
	pos, want, bare := h.pos, h.want, h.unwatched()
	h.mu.Unlock()
	held := h.held[:0:0]
	except := make([]int64, 0, len(h.held))
	for _, ev := range h.held {
		if ev.Revision > pos && !bare {
			held, except = append(held, ev), append(except, ev.Revision)
		}
	}
	var t store.Tail
	if bare {
		t, err = h.src.RevisionsAfter(ctx, pos, h.cfg.PageSize)
	} else {
		t, err = h.src.EventsAfterExcept(ctx, pos, except, h.cfg.PageSize)
	}
	if err != nil {
		return false, false, err
	}
	if m := h.marker; m != nil && t.XMin > m.xid {
		h.settled = max(h.settled, m.ceiling)
		h.marker = nil
	}
	evs := mergeEvents(held, t.Events)
	full = len(t.Events) == h.cfg.PageSize
	// Every revision up to bound is final and, if it committed, in this page or held: a full
	// page says nothing of what lies past its last event.
	bound := h.settled
	if full {
		bound = min(bound, t.Events[len(t.Events)-1].Revision)
	}
	next := pos
	var out []job.Event
	for len(evs) > 0 && (evs[0].Revision <= bound || evs[0].Revision == next+1) {
		out, next, evs = append(out, evs[0]), evs[0].Revision, evs[1:]
	}
	next = max(next, bound)
	if m := h.marker; m != nil && m.ceiling <= next {
		h.marker = nil // the gap it was taken for has filled
	}
	gap = len(evs) > 0
	h.held = nil
	if gap && len(evs) <= h.cfg.PageSize && !bare {
		h.held = evs // more than a page behind a gap: read again rather than hold
	}
	if gap && h.marker == nil {
		// Take the marker after the read: every transaction holding a revision below the
		// newest visible one had its transaction id before that read.
		xid, err := h.src.TxMarker(ctx)
		if err != nil {
			return false, false, fmt.Errorf("gap at revision %d: %w", next+1, err)
		}
		h.marker = &marker{xid: xid, ceiling: evs[len(evs)-1].Revision}
	}
	if !gap && h.marker == nil && want > next {
		// A watch waits for a revision past every visible event: it was handed out, maybe to
		// a transaction that rolled back, and only a marker can settle it.
		if gap, err = h.settleHead(ctx, next); err != nil {
			return false, false, err
		}
	}
	h.publish(out, next, t.Compacted, bare)
	if h.polled != nil {
		h.polled(next, gap, began)
	}
	return full, gap, nil
}

// settleHead takes a marker for every revision handed out so far, if any lies past next, and
// reports whether it did (the caller then reads again soon, as for a gap).
func (h *Hub) settleHead(ctx context.Context, next int64) (bool, error) {
	head, err := h.src.Head(ctx)
	if err != nil || head <= next {
		return false, err
	}
	xid, err := h.src.TxMarker(ctx)
	if err != nil {
		return false, fmt.Errorf("settle revisions up to %d: %w", head, err)
	}
	h.marker = &marker{xid: xid, ceiling: head}
	return true, nil
}

// unwatched reports that no watch is open or waiting. Then nobody needs the events' jobs:
// the hub reads only their revisions, to keep its position and the proof of settled
// revisions, and keeps no ring (a watch that starts later replays from the database). Under
// creates with nobody watching, reading and decoding every job was a sixth of anonjobd's CPU.
// h.mu must be held.
func (h *Hub) unwatched() bool { return h.watchers == 0 && h.want <= h.pos }

// publish moves the position to next and hands evs to the live watchers. bare events carry
// only their revisions: then the ring is emptied, and if a watch started since the read,
// nothing moves, so that the next read fetches the events it needs.
func (h *Hub) publish(evs []job.Event, next, compacted int64, bare bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.compacted = compacted
	if next == h.pos || (bare && !h.unwatched()) {
		return
	}
	h.pos = next
	close(h.advanced)
	h.advanced = make(chan struct{})
	if bare {
		h.ring, h.ringFloor = nil, next
		return
	}
	h.ring = append(h.ring, evs...)
	if over := len(h.ring) - h.cfg.RingSize; over > h.cfg.RingSize/4 {
		h.ringFloor = h.ring[over-1].Revision
		h.ring = append([]job.Event(nil), h.ring[over:]...)
	}
	if len(evs) == 0 {
		return // only revisions that will never commit were passed
	}
	b := Batch{Events: evs, Revision: next, Shared: &Shared{}}
	for s := range h.subs {
		select {
		case s.ch <- b:
		default:
			h.drop(s, ErrTooSlow)
		}
	}
}

// drop removes a subscription and ends its channel with err. h.mu must be held.
func (h *Hub) drop(s *Subscription, err error) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	s.err = err
	close(s.ch)
}

func (h *Hub) shutdown() {
	close(h.done)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.drop(s, ErrClosed)
	}
}

// mergeEvents merges two ascending event lists without common revisions.
func mergeEvents(a, b []job.Event) []job.Event {
	if len(a) == 0 {
		return b
	}
	out := make([]job.Event, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].Revision < b[0].Revision {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}
