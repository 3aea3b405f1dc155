package dispatch

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/anonjob/anonjob/internal/periodic"
)

// leases keeps the claims of the work under way on this replica alive: one statement renews
// them all every third of the lease, so a lease can be short (a dead replica's jobs go to
// another soon) and yet never runs out under an upload or poll that is merely slow.
type leases struct {
	renew func(ctx context.Context, ids []string) (int64, error)
	every time.Duration
	log   *slog.Logger

	mu   sync.Mutex
	held map[string]int // job id -> holders (an id is held once, but be safe)
}

func newLeases(renew func(ctx context.Context, ids []string) (int64, error), lease time.Duration, log *slog.Logger) *leases {
	return &leases{renew: renew, every: lease / 3, log: log, held: map[string]int{}}
}

// hold keeps renewing id's claim until the returned func is called.
func (l *leases) hold(id string) (drop func()) {
	l.mu.Lock()
	l.held[id]++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.held[id]--; l.held[id] <= 0 {
				delete(l.held, id)
			}
		})
	}
}

func (l *leases) ids() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.held))
	for id := range l.held {
		ids = append(ids, id)
	}
	return ids
}

// run renews the held claims until ctx ends.
func (l *leases) run(ctx context.Context) {
	periodic.Run(ctx, l.every, l.renewHeld)
}

func (l *leases) renewHeld(ctx context.Context) {
	ids := l.ids()
	if len(ids) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, l.every)
	n, err := l.renew(rctx, ids)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("renew claims", "jobs", len(ids), "err", err)
		}
		return
	}
	if int(n) < len(ids) {
		// Settled meanwhile (the common case), or lost: a lease that ran out while the
		// database was unreachable may have gone to another replica.
		l.log.Debug("claims not renewed", "held", len(ids), "renewed", n)
	}
}
