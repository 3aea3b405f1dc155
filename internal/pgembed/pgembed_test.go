package pgembed_test

import (
	"context"
	"os"
	"strings"
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
