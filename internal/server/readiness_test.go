package server

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// TestReadinessKeepsAFailureThatCameDuringARound: the embedded database dies while a round of
// checks is running and has already found it fine. The round's result must not make the
// replica ready again; the round after it, which finds the database back, does.
func TestReadinessKeepsAFailureThatCameDuringARound(t *testing.T) {
	t.Parallel()
	r := newReadiness(time.Hour, slog.New(slog.DiscardHandler))
	rounds := make(chan chan struct{}) // each round's database check waits to be released
	checks := map[string]func(context.Context) error{
		"database": func(ctx context.Context) error {
			release := make(chan struct{})
			select {
			case rounds <- release:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case <-release:
				return nil // fine when it looked
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.run(ctx, checks) }()
	t.Cleanup(func() { cancel(); <-done })

	ready := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.ready
	}
	waitReady := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ready() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("ready stayed %v", !want)
			}
		}
	}

	close(<-rounds) // the first round: ready
	waitReady(true)
	r.check()
	during := <-rounds         // a round has begun and found the database fine...
	r.down("database", "gone") // ...when it dies
	close(during)              // the round reports what it saw
	next := <-rounds           // the round that down asked for
	if ready() {
		t.Fatal("ready again on a round that began before the database went down")
	}
	close(next) // the database is back
	waitReady(true)
}
