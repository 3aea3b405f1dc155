package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/store"
)

// TestClaimsReadInIndexOrder: with statistics taken while the queue was empty and a burst
// queued since, a claim still reads the first due rows in index order rather than fetching and
// sorting every due row, which it would do on every claim for as long as the backlog lasted.
func TestClaimsReadInIndexOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	if _, err := pool.Exec(ctx, `ANALYZE jobs`); err != nil {
		t.Fatal(err)
	}
	s := store.New(pool, store.Config{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, _, err := s.CreateJob(ctx, "acme", pgtest.Spec(""), pgtest.PNG1x1()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, tc := range []struct {
		name, sql, index string
		args             pgx.StrictNamedArgs
	}{
		{"queued", store.ClaimQueuedSQL, "jobs_dispatch_idx",
			pgx.StrictNamedArgs{"owner": "r", "engine": "", "limit": 4, "lease": "1 minute", "wait": "0"}},
		{"polls", store.ClaimPollsSQL, "jobs_reconcile_idx",
			pgx.StrictNamedArgs{"owner": "r", "engine": "", "default": "", "limit": 4, "lease": "1 minute"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := explain(t, pool, tc.sql, tc.args)
			if !strings.Contains(plan, "Index Scan using "+tc.index) || strings.Contains(plan, "Sort") ||
				strings.Contains(plan, "Bitmap") {
				t.Errorf("claim plan reads more than the first due rows:\n%s", plan)
			}
		})
	}
}

// explain returns the plan of sql in a transaction that first sets store.IndexOrder.
func explain(t *testing.T, pool interface {
	Begin(context.Context) (pgx.Tx, error)
}, sql string, args pgx.StrictNamedArgs) string {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, store.IndexOrder); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN (COSTS OFF) "+sql, args)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
