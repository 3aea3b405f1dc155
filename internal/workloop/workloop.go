// Package workloop runs claimed work with bounded concurrency: the shape shared by the job
// dispatcher and the webhook sender, which claim rows from PostgreSQL and handle each in its
// own goroutine.
package workloop

import (
	"context"
	"sync"
	"time"
)

// Config tunes a loop.
type Config struct {
	Concurrency int             // items handled at once
	Tick        time.Duration   // how often to claim without a wake-up
	Wake        <-chan struct{} // a receive means new work may be due
}

// Run claims up to as many items as there are free slots, handles each in a goroutine, and
// claims again as soon as a slot frees, so one slow item holds up only its own slot. It stops
// claiming when ctx ends and returns once the items under way are handled. Claim errors go
// to onErr unless ctx has ended.
func Run[T any](ctx context.Context, cfg Config, claim func(ctx context.Context, n int) ([]T, error),
	handle func(ctx context.Context, item T), onErr func(error)) {
	slots := make(chan struct{}, cfg.Concurrency)
	freed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(cfg.Tick)
	defer tick.Stop()
	for {
		if free := cap(slots) - len(slots); free > 0 {
			items, err := claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				onErr(err)
			}
			for _, it := range items {
				slots <- struct{}{}
				wg.Go(func() {
					handle(ctx, it)
					<-slots
					select {
					case freed <- struct{}{}:
					default:
					}
				})
			}
			if err == nil && len(items) == free {
				continue // more may be due
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-cfg.Wake:
		case <-freed:
		case <-tick.C:
		}
	}
}
