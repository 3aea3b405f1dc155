package pgembed_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
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

// TestPasswordRequired: the cluster trusts no one: pg_hba has no trust line, a connection
// without the password is refused, and the password file is private.
func TestPasswordRequired(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pg, err := pgembed.Start(ctx, pgembed.Config{DataDir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pg.Stop(ctx) }()
	u, err := url.Parse(pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	hba, err := os.ReadFile(filepath.Join(pgembed.ClusterDir(pg), "pg_hba.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(hba), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") && f[len(f)-1] == "trust" {
			t.Fatalf("pg_hba trusts: %q", line)
		}
	}
	u.User = url.User("postgres")
	if conn, err := pgx.Connect(ctx, u.String()); err == nil {
		_ = conn.Close(ctx)
		t.Fatal("connected without the password")
	}
	u.User = url.UserPassword("postgres", "wrong")
	if conn, err := pgx.Connect(ctx, u.String()); err == nil {
		_ = conn.Close(ctx)
		t.Fatal("connected with a wrong password")
	}
	fi, err := os.Stat(filepath.Join(dir, pgembed.PasswordFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatalf("with the password: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if os.Geteuid() == 0 {
		// As root the server runs as its own OS user, not the shared postgres account.
		var dir string
		if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		u, err := user.Lookup(pgembed.ServerUser)
		if err != nil {
			t.Fatalf("no %s user: %v", pgembed.ServerUser, err)
		}
		if got := fmt.Sprint(fi.Sys().(*syscall.Stat_t).Uid); got != u.Uid {
			t.Fatalf("cluster owned by uid %s, want %s (%s)", got, u.Uid, pgembed.ServerUser)
		}
	}
}

// TestTrustClusterMovesToPasswords: a cluster left with pg_hba "trust" (by an earlier
// version) requires the password after its next start.
func TestTrustClusterMovesToPasswords(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pg, err := pgembed.Start(ctx, pgembed.Config{DataDir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	hba := filepath.Join(pgembed.ClusterDir(pg), "pg_hba.conf")
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(hba, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("local all all trust\n")
	_ = f.Close()
	pg, err = pgembed.Start(ctx, pgembed.Config{DataDir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pg.Stop(ctx) }()
	b, err := os.ReadFile(hba)
	if err != nil || strings.Contains(string(b), "trust\n") {
		t.Fatalf("pg_hba after the start: %q %v", b, err)
	}
	u, _ := url.Parse(pg.URL())
	u.User = url.User("postgres")
	if conn, err := pgx.Connect(ctx, u.String()); err == nil {
		_ = conn.Close(ctx)
		t.Fatal("connected without the password")
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
