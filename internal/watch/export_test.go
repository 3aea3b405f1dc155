package watch

import (
	"context"
	"time"
)

// OnPoll makes h report every read of the history to f; call it before Run.
func OnPoll(h *Hub, f func(next int64, gap bool, began time.Time)) { h.polled = f }

// WaitPos waits until h has published every event up to rev: the hub signals each move of its
// position, so nothing polls.
func WaitPos(ctx context.Context, h *Hub, rev int64) error {
	for {
		h.mu.Lock()
		pos, advanced := h.pos, h.advanced
		h.mu.Unlock()
		if pos >= rev {
			return nil
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
