package watch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
)

// Subscription is one watcher's view of the hub: it replays history after its start revision,
// then follows live batches. It is used by one goroutine.
type Subscription struct {
	hub   *Hub
	since int64 // every event up to since has been returned
	live  bool
	// closed is set by the first Close, under hub.mu: the hub counts open subscriptions.
	closed bool
	ch     chan Batch
	err    error // why ch was closed; written under hub.mu before the close
	// idle is the heartbeat timer, made once and reset by each Next: a new timer per batch
	// cost a thousand watchers at a hundred batches a second an allocation and a timer-heap
	// insertion each.
	idle *time.Timer
}

// Subscribe starts a watch after revision since; 0 means from the current position on.
// A revision older than the kept history fails with ErrCompacted; one past the hub's position
// waits up to FutureWait for the hub to reach it, then fails with a *FutureError.
func (h *Hub) Subscribe(ctx context.Context, since int64) (*Subscription, error) {
	select {
	case <-h.ready:
	case <-h.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := h.reach(ctx, since); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if since == 0 {
		since = h.pos
	}
	if since < h.compacted {
		return nil, fmt.Errorf("%w: revision %d, history starts after %d", ErrCompacted, since, h.compacted)
	}
	s := &Subscription{hub: h, since: since, ch: make(chan Batch, h.cfg.Buffer)}
	if h.watchers++; h.watchers == 1 {
		// A read begun with no watch open is not published (see Hub.publish): read again
		// now rather than at the next commit or the fallback.
		h.Poke()
	}
	s.goLive() // buffering starts now, if memory covers since; else Next replays first
	return s, nil
}

// reach waits until the hub's position is at least since, or FutureWait has passed. A revision
// never handed out, past the database's head, fails at once.
func (h *Hub) reach(ctx context.Context, since int64) error {
	h.mu.Lock()
	pos := h.pos
	h.mu.Unlock()
	if since <= pos {
		return nil
	}
	if head, err := h.src.Head(ctx); err == nil && since > head {
		return &FutureError{Since: since, Current: pos}
	}
	h.mu.Lock()
	h.want = max(h.want, since)
	h.mu.Unlock()
	timeout := time.NewTimer(h.cfg.FutureWait)
	defer timeout.Stop()
	for {
		h.mu.Lock()
		pos, advanced := h.pos, h.advanced
		h.mu.Unlock()
		if since <= pos {
			return nil
		}
		h.Poke() // read now: the revision may have committed on another replica
		select {
		case <-advanced:
		case <-timeout.C:
			return &FutureError{Since: since, Current: pos}
		case <-h.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// goLive registers the subscription with the hub when the ring holds every event after since,
// queueing those as its first batch. h.mu must be held.
func (s *Subscription) goLive() {
	h := s.hub
	if s.since < h.ringFloor || s.closed {
		return
	}
	var evs []job.Event
	for i := len(h.ring) - 1; i >= 0 && h.ring[i].Revision > s.since; i-- {
		evs = h.ring[i:]
	}
	if len(evs) > 0 {
		s.ch <- Batch{Events: append([]job.Event(nil), evs...), Revision: h.pos}
	}
	h.subs[s] = struct{}{}
	s.live = true
}

// Revision returns the position of the subscription: every event up to it has been returned.
func (s *Subscription) Revision() int64 { return s.since }

// Next returns the next batch. When nothing happens for idle, it returns an empty batch (a
// heartbeat) carrying the current position. After an error the subscription is finished; its
// revision is where a new one should resume.
func (s *Subscription) Next(ctx context.Context, idle time.Duration) (Batch, error) {
	var quiet <-chan time.Time // the idle timer, while the replay cannot read the history
	wait := 50 * time.Millisecond
	for !s.live {
		b, err := s.replay(ctx)
		switch {
		case err == nil:
			if len(b.Events) > 0 {
				return b, nil
			}
			continue
		case errors.Is(err, ErrCompacted), errors.Is(err, ErrClosed), ctx.Err() != nil:
			return Batch{}, err
		}
		// The database is unreachable (restarting, say): the history is still there, so
		// wait for it rather than end the watch, with heartbeats meanwhile.
		if quiet == nil {
			t := time.NewTimer(idle)
			defer t.Stop()
			quiet = t.C
		}
		select {
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		case <-s.hub.done:
			return Batch{}, ErrClosed
		case <-quiet:
			return Batch{Revision: s.since}, nil
		case <-time.After(wait):
			wait = min(2*wait, 2*time.Second)
		}
	}
	if b, ok, err := s.waiting(); ok {
		return b, err // a batch already waiting needs no timer
	}
	if s.idle == nil {
		s.idle = time.NewTimer(idle)
	} else {
		s.idle.Reset(idle) // since Go 1.23 a reset timer never delivers a stale tick
	}
	defer s.idle.Stop()
	for {
		select {
		case b, ok := <-s.ch:
			if !ok {
				return Batch{}, s.err
			}
			if b = s.after(b); len(b.Events) > 0 {
				return b, nil
			}
		case <-s.idle.C:
			if b, ok := s.heartbeat(); ok {
				return b, nil
			}
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		}
	}
}

// waiting returns the first batch already waiting with events for this watcher, or the
// channel's end; ok is false when nothing is waiting.
func (s *Subscription) waiting() (b Batch, ok bool, err error) {
	for {
		select {
		case b, open := <-s.ch:
			if !open {
				return Batch{}, true, s.err
			}
			if b = s.after(b); len(b.Events) > 0 {
				return b, true, nil
			}
		default:
			return Batch{}, false, nil
		}
	}
}

// after trims events already returned, and advances the position.
func (s *Subscription) after(b Batch) Batch {
	i := 0
	for i < len(b.Events) && b.Events[i].Revision <= s.since {
		i++
	}
	if i > 0 {
		b.Events, b.Shared = b.Events[i:], nil
	}
	s.since = max(s.since, b.Revision)
	return b
}

// heartbeat reports the hub position, unless a batch is already waiting: the position must
// never run ahead of events not yet returned.
func (s *Subscription) heartbeat() (Batch, bool) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(s.ch) > 0 {
		return Batch{}, false
	}
	if _, ok := h.subs[s]; !ok {
		return Batch{}, false // closed: the channel reports why
	}
	s.since = max(s.since, h.pos)
	return Batch{Revision: s.since}, true
}

// replay returns settled history after since from the database, until the ring covers since
// and the subscription goes live.
func (s *Subscription) replay(ctx context.Context) (Batch, error) {
	h := s.hub
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return Batch{}, ErrClosed
	}
	if s.goLive(); s.live {
		h.mu.Unlock()
		return Batch{}, nil
	}
	upTo, compacted := h.pos, h.compacted
	h.mu.Unlock()
	if s.since < compacted {
		return Batch{}, fmt.Errorf("%w: revision %d, history starts after %d", ErrCompacted, s.since, compacted)
	}
	evs, err := h.src.EventsBetween(ctx, s.since, upTo, h.cfg.PageSize)
	if errors.Is(err, store.ErrCompacted) {
		return Batch{}, fmt.Errorf("%w: revision %d", ErrCompacted, s.since)
	}
	if err != nil {
		return Batch{}, fmt.Errorf("replay events after %d: %w", s.since, err)
	}
	b := Batch{Events: evs, Revision: upTo}
	if len(evs) == h.cfg.PageSize {
		b.Revision = evs[len(evs)-1].Revision
	}
	s.since = b.Revision
	return b, nil
}

// Close ends the subscription and releases its place in the hub.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if !s.closed {
		s.closed = true
		h.watchers--
	}
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}
