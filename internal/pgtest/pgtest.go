// Package pgtest gives each test its own PostgreSQL database, cloned from a migrated template.
// The server is TEST_DATABASE_URL (a URL whose user may create databases) or, when that is
// unset, a throwaway cluster started from the machine's PostgreSQL binaries.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/pgembed"
	"github.com/anonjob/anonjob/internal/store"
)

// Harness hands out databases. It is safe for concurrent use.
type Harness struct {
	adminURL string
	template string
	server   *pgembed.Server // nil with TEST_DATABASE_URL
	tmpDir   string
	mu       sync.Mutex // CREATE DATABASE from one template must not overlap
}

// Main starts a harness, runs the package's tests and stops it. Use it from TestMain.
func Main(m *testing.M, h **Harness) {
	ctx := context.Background()
	var err error
	*h, err = Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		os.Exit(1)
	}
	code := m.Run()
	(*h).Close(ctx)
	os.Exit(code)
}

// Start connects to TEST_DATABASE_URL or starts a throwaway cluster, and builds the template.
func Start(ctx context.Context) (*Harness, error) {
	h := &Harness{template: "anonjob_tmpl_" + randomSuffix()}
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		h.adminURL = u
	} else {
		dir, err := os.MkdirTemp("", "anonjob-pgtest-")
		if err != nil {
			return nil, err
		}
		h.tmpDir = dir
		_ = os.Chmod(dir, 0o755) // the server runs as the postgres user when we are root
		h.server, err = pgembed.Start(ctx, pgembed.Config{DataDir: dir, NoSync: true, Database: "postgres"})
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("start test cluster: %w", err)
		}
		h.adminURL = h.server.AdminURL()
	}
	if err := h.exec(ctx, "CREATE DATABASE "+h.template); err != nil {
		h.Close(ctx)
		return nil, err
	}
	pool, err := store.Connect(ctx, h.urlFor(h.template), 2)
	if err != nil {
		h.Close(ctx)
		return nil, err
	}
	err = store.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
	pool.Close()
	if err != nil {
		h.Close(ctx)
		return nil, err
	}
	return h, nil
}

// NewDatabase creates a migrated database for one test, dropped when the test ends, and
// returns its URL.
func (h *Harness) NewDatabase(t testing.TB) string {
	t.Helper()
	name := "anonjob_test_" + randomSuffix()
	h.mu.Lock()
	err := h.exec(context.Background(), fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, h.template))
	h.mu.Unlock()
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database: %v", err)
		}
	})
	return h.urlFor(name)
}

// Close drops the template and stops the cluster it started.
func (h *Harness) Close(ctx context.Context) {
	_ = h.exec(ctx, "DROP DATABASE IF EXISTS "+h.template+" WITH (FORCE)")
	if h.server != nil {
		_ = h.server.Stop(ctx)
	}
	if h.tmpDir != "" {
		_ = os.RemoveAll(h.tmpDir)
	}
}

func (h *Harness) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, h.adminURL)
	if err != nil {
		return fmt.Errorf("connect to test server: %w", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

func (h *Harness) urlFor(db string) string {
	u, err := url.Parse(h.adminURL)
	if err != nil {
		panic("pgtest: TEST_DATABASE_URL must be a URL: " + err.Error())
	}
	u.Path = "/" + db
	return u.String()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
