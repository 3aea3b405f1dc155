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
	ch    chan Batch
	err   error // why ch was closed; written under hub.mu before the close
}

// Subscribe starts a watch after revision since; 0 means from the current position on.
// A revision older than the kept history fails with ErrCompacted.
func (h *Hub) Subscribe(ctx context.Context, since int64) (*Subscription, error) {
	select {
	case <-h.ready:
	case <-h.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
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
	s.goLive() // buffering starts now, if memory covers since; else Next replays first
	return s, nil
}

// goLive registers the subscription with the hub when the ring holds every event after since,
// queueing those as its first batch. h.mu must be held.
func (s *Subscription) goLive() {
	h := s.hub
	if s.since < h.ringFloor {
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
	for !s.live {
		b, err := s.replay(ctx)
		if err != nil {
			return Batch{}, err
		}
		if len(b.Events) > 0 {
			return b, nil
		}
	}
	timer := time.NewTimer(idle)
	defer timer.Stop()
	for {
		select {
		case b, ok := <-s.ch:
			if !ok {
				return Batch{}, s.err
			}
			if b = s.after(b); len(b.Events) > 0 {
				return b, nil
			}
		case <-timer.C:
			if b, ok := s.heartbeat(); ok {
				return b, nil
			}
		case <-ctx.Done():
			return Batch{}, ctx.Err()
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
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}
