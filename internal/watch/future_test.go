package watch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/watch"
)

// TestSubscribeFromTheFuture: a revision never handed out fails at once; one handed out but
// not committed yet is waited for up to FutureWait; once the hub has it, the watch starts there.
func TestSubscribeFromTheFuture(t *testing.T) {
	t.Parallel()
	f := newFixture(t, watch.Config{FutureWait: 200 * time.Millisecond})
	ctx := t.Context()
	pos := f.hub.Pos()
	var fe *watch.FutureError
	if _, err := f.hub.Subscribe(ctx, pos+1000); !errors.As(err, &fe) || fe.Since != pos+1000 || fe.Current != pos {
		t.Fatalf("Subscribe(past the head) = %v, want a FutureError at %d", err, pos)
	}
	tx, held := heldRevision(t, f.dbURL)
	if _, err := f.hub.Subscribe(ctx, held); !errors.Is(err, watch.ErrFuture) {
		t.Fatalf("Subscribe(in flight) = %v, want ErrFuture after the wait", err)
	}
	short, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.hub.Subscribe(short, held); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe with an ended context = %v", err)
	}
	commitHeld(t, tx, held)
	waitPos(t, f.hub, held)
	sub, err := f.hub.Subscribe(ctx, held)
	if err != nil {
		t.Fatalf("Subscribe(%d) once published: %v", held, err)
	}
	defer sub.Close()
	if sub.Revision() != held {
		t.Errorf("watch starts at %d, want %d", sub.Revision(), held)
	}
	sub.Close()
	sub.Close() // twice changes nothing
}
