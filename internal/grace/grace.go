// Package grace lets work under way outlive a cancellation for a while: a shutdown stops new
// work at once but gives an upload or a webhook already sent the time to finish, instead of
// cutting it off and doing it again elsewhere.
package grace

import (
	"context"
	"time"
)

// Context returns a context that ends d after ctx ends (or when cancel is called), keeping
// ctx's values.
func Context(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	g, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		select {
		case <-g.Done():
		case <-time.After(d):
			cancel()
		}
	})
	return g, func() {
		stop()
		cancel() // also ends a grace period under way
	}
}
