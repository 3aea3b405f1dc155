package store_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/store"
)

// TestCheckSchema: a migrated database is at the binary's version, and not at a later one.
func TestCheckSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	v, err := store.SchemaVersion()
	if err != nil || v < 1 {
		t.Fatalf("SchemaVersion = %d, %v", v, err)
	}
	tests := []struct {
		want int64
		err  error
	}{{v, nil}, {v - 1, nil}, {v + 1, store.ErrSchemaBehind}}
	for _, tc := range tests {
		if err := s.CheckSchema(ctx, tc.want); !errors.Is(err, tc.err) {
			t.Errorf("CheckSchema(%d) = %v, want %v", tc.want, err, tc.err)
		}
	}
}

// TestNotifyWakesListeners: a poke reaches a listener on another connection as a wake-up.
func TestNotifyWakesListeners(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := newPool(t)
	s := store.New(pool, store.Config{})
	log := slog.New(slog.DiscardHandler)
	woke := make(chan struct{}, 16)
	listened := make(chan struct{})
	go func() {
		defer close(listened)
		s.Listen(ctx, func() { woke <- struct{}{} }, log)
	}()
	// Listen wakes once when it has connected: from then on a notification reaches it.
	select {
	case <-woke:
	case <-time.After(time.Minute):
		t.Fatal("the listener never connected")
	}
	n := store.NewReplicaWaker(pool, time.Millisecond, log)
	notified := make(chan struct{})
	go func() {
		defer close(notified)
		n.Run(ctx)
	}()
	n.Poke()
	select {
	case <-woke:
	case <-time.After(time.Minute):
		t.Fatal("a poke never woke the listener")
	}
	cancel()
	<-listened
	<-notified
}
