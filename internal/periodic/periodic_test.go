package periodic_test

import (
	"context"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/periodic"
)

func TestRunCallsUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		periodic.Run(ctx, time.Millisecond, func(context.Context) {
			calls++
			if calls == 3 {
				cancel()
			}
		})
	}()
	<-done
	if calls != 3 {
		t.Errorf("%d calls, want 3 (none after cancel)", calls)
	}
}

func TestRunReturnsAtOnceWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	periodic.Run(ctx, time.Hour, func(context.Context) { t.Error("called after cancel") })
}
