// Package periodic runs a background chore at a fixed interval, for the loops of several
// layers (lease renewal, key refresh) that would otherwise each write the ticker out again.
package periodic

import (
	"context"
	"time"
)

// Run calls f every interval until ctx ends; the first call is one interval after the start.
// A call that overruns delays the next one rather than stacking calls up.
func Run(ctx context.Context, interval time.Duration, f func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f(ctx)
	}
}
