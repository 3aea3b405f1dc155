package pgembed_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/pgembed"
)

// TestSecondStartOnOneDataDir: a second server on a data dir in use is refused, and the
// refusal leaves the first one working.
func TestSecondStartOnOneDataDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	first, err := pgembed.Start(ctx, pgembed.Config{DataDir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Stop(ctx) }()
	if url, ok := pgembed.RunningURL(dir); !ok || url != first.URL() {
		t.Fatalf("RunningURL = %q, %v", url, ok)
	}
	if _, err := pgembed.Start(ctx, pgembed.Config{DataDir: dir, NoSync: true}); err == nil || !strings.Contains(err.Error(), "already runs") {
		t.Fatalf("second start: %v", err)
	}
	conn, err := pgx.Connect(ctx, first.URL())
	if err != nil {
		t.Fatalf("first server after the refused start: %v", err)
	}
	_ = conn.Close(ctx)
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := pgembed.RunningURL(dir); ok {
		t.Fatal("RunningURL after Stop")
	}
}

// TestRestartsAfterKill: a server killed behind our back is started again, with its data, and
// the exit and the restart are reported.
func TestRestartsAfterKill(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exited, restarted := make(chan error, 1), make(chan struct{}, 1)
	// Durable (no NoSync): what committed before the kill must be there after it.
	srv, err := pgembed.Start(ctx, pgembed.Config{DataDir: dir,
		OnExit: func(err error) { exited <- err }, OnRestart: func() { restarted <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(ctx) }()
	conn, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	first := srv.PID()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil {
		t.Fatal("OnExit without the exit's reason")
	}
	<-restarted
	if srv.PID() == first {
		t.Fatal("same process after the restart")
	}
	conn, err = pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatalf("connect after the restart: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var v int
	if err := conn.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v); err != nil || v != 42 {
		t.Fatalf("data after the restart: %d, %v", v, err)
	}
	// Stop is final: no restart follows it.
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-restarted:
		t.Fatal("restarted after Stop")
	default:
	}
}
