package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/store"
)

// Concurrent transitions share transactions (one writer, so they queue into groups), and each
// still gets its own answer: moves that apply, moves the state machine or the file check
// refuses, twins of which exactly one applies, and a change the database refuses, which fails
// only its own call. Input deletion and receipts go with the moves that apply, and only those.
func TestGroupedTransitionsGiveEachCallItsOwnAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	s := store.New(pool, store.Config{GroupCommit: store.GroupCommit{TransitionWriters: 1}})
	const n = 10
	ids := make([]string, 3*n)
	for i := range ids {
		j, _, err := s.CreateJob(ctx, "acme", pgtest.Spec(""), pgtest.PNG1x1())
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = j.ID
	}
	// The second ten are at the engine already.
	for i := n; i < 2*n; i++ {
		if _, _, err := s.Transition(ctx, ids[i], store.Change{To: job.StatusProcessing, ProviderFileID: fmt.Sprint("g-", i)}); err != nil {
			t.Fatal(err)
		}
	}
	type call struct {
		name   string
		id     string
		change store.Change
		check  func(j job.Job, err error) error
	}
	applied := func(to job.Status) func(job.Job, error) error {
		return func(j job.Job, err error) error {
			if err != nil || j.Status != to {
				return fmt.Errorf("got %s, %w; want %s", j.Status, err, to)
			}
			return nil
		}
	}
	refused := func(j job.Job, err error) error {
		if te := (*job.TransitionError)(nil); !errors.As(err, &te) {
			return fmt.Errorf("got %w, want a transition error", err)
		}
		return nil
	}
	var calls []call
	for i := range n {
		up := store.Change{To: job.StatusProcessing, ProviderFileID: fmt.Sprint("f-", i), DropInput: true}
		// Twins: exactly one applies (checked below).
		calls = append(calls, call{"upload", ids[i], up, nil}, call{"upload twin", ids[i], up, nil})
		rec := &store.Receipt{JobID: ids[n+i], ContentType: "application/json", Payload: []byte(`{}`), FileID: fmt.Sprint("g-", n+i), FileStatus: "done", Outcome: "APPLIED"}
		calls = append(calls,
			call{"webhook of another file", ids[n+i], store.Change{To: job.StatusDone, IfFileID: "other", Receipt: rec}, refused},
			call{"webhook", ids[n+i], store.Change{To: job.StatusDone, IfFileID: fmt.Sprint("g-", n+i), Receipt: rec}, applied(job.StatusDone)},
			// The file id is job n+i's already: the unique index refuses the change.
			call{"file of another job", ids[2*n+i], store.Change{To: job.StatusProcessing, ProviderFileID: fmt.Sprint("g-", n+i)}, func(_ job.Job, err error) error {
				if err == nil || errors.As(err, new(*job.TransitionError)) {
					return fmt.Errorf("got %w, want the database's refusal", err)
				}
				return nil
			}},
		)
	}
	results := make([]error, len(calls))
	jobs := make([]job.Job, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() { jobs[i], _, results[i] = s.Transition(ctx, c.id, c.change) })
	}
	wg.Wait()
	twins := map[string]int{}
	for i, c := range calls {
		if c.check == nil {
			if results[i] == nil {
				twins[c.id]++
			} else if err := refused(jobs[i], results[i]); err != nil {
				t.Errorf("%s of %s: %v", c.name, c.id, err)
			}
			continue
		}
		if err := c.check(jobs[i], results[i]); err != nil {
			t.Errorf("%s of %s: %v", c.name, c.id, err)
		}
	}
	count := func(q string) (k int) {
		if err := pool.QueryRow(ctx, q).Scan(&k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	for i := range n {
		if twins[ids[i]] != 1 {
			t.Errorf("job %s: %d of its twin uploads applied, want 1", ids[i], twins[ids[i]])
		}
	}
	// Inputs are gone exactly for the uploads that applied; receipts exist for the webhooks
	// that applied; the refused jobs are as they were.
	if k := count(`SELECT count(*) FROM job_inputs`); k != 2*n {
		t.Errorf("%d inputs left, want %d", k, 2*n)
	}
	if k := count(`SELECT count(*) FROM webhook_receipts`); k != n {
		t.Errorf("%d receipts, want %d", k, n)
	}
	if k := count(`SELECT count(*) FROM jobs WHERE status = 'QUEUED'`); k != n {
		t.Errorf("%d jobs still queued, want %d", k, n)
	}
	// Every move that applied has exactly one event.
	if k := count(`SELECT count(*) FROM job_events WHERE type = 'STATUS_CHANGED'`); k != 3*n {
		t.Errorf("%d status events, want %d", k, 3*n)
	}
}

// TestTransitionCallerGoneBeforeItsGroup: a Transition whose caller gives up while it waits for
// a group leaves the queue and is never written; the call queued behind it still is.
func TestTransitionCallerGoneBeforeItsGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	s := store.New(pool, store.Config{GroupCommit: store.GroupCommit{TransitionWriters: 1}})
	ids := jobIDs(pgtest.Factory{Store: s}.Jobs(t, 3, pgtest.Job{})) // held, gone, kept
	up := func(i int) store.Change {
		return store.Change{To: job.StatusProcessing, ProviderFileID: fmt.Sprint("f-", i)}
	}
	// The one writer's first group waits for the row lock this transaction holds, so the
	// calls after it queue.
	tx, err := pool.Begin(ctx)
	must(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE`, ids[0])
	must(t, err)
	transition := func(ctx context.Context, i int) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, _, err := s.Transition(ctx, ids[i], up(i))
			done <- err
		}()
		return done
	}
	held := transition(ctx, 0)
	waitFor(t, func() bool {
		var n int
		must(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n))
		return n == 1
	})
	goneCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	gone := transition(goneCtx, 1)
	waitFor(t, func() bool { return slices.Equal(store.QueuedTransitions(s), ids[1:2]) })
	kept := transition(ctx, 2)
	waitFor(t, func() bool { return slices.Equal(store.QueuedTransitions(s), ids[1:]) })

	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Transition: %v, want context.Canceled", err)
	}
	if q := store.QueuedTransitions(s); !slices.Equal(q, ids[2:]) {
		t.Fatalf("queued after the caller left: %v, want %v", q, ids[2:])
	}
	must(t, tx.Rollback(ctx))
	for name, done := range map[string]<-chan error{"held": held, "kept": kept} {
		if err := <-done; err != nil {
			t.Errorf("%s Transition: %v", name, err)
		}
	}
	for i, want := range []job.Status{job.StatusProcessing, job.StatusQueued, job.StatusProcessing} {
		if j, err := s.GetJob(ctx, ids[i]); err != nil || j.Status != want {
			t.Errorf("job %d: %s, %v; want %s", i, j.Status, err, want)
		}
	}
}

// lockedJobs makes n queued jobs in a store with one transition writer and the given lock
// timeout, and locks the first locked of them in tx, which the test ends (or its cleanup).
func lockedJobs(t *testing.T, lockTimeout time.Duration, n, locked int) (*store.Store, []string, pgx.Tx) {
	t.Helper()
	ctx := context.Background()
	pool := newPool(t)
	s := store.New(pool, store.Config{GroupCommit: store.GroupCommit{TransitionWriters: 1, LockTimeout: lockTimeout}})
	ids := jobIDs(pgtest.Factory{Store: s}.Jobs(t, n, pgtest.Job{}))
	tx, err := pool.Begin(ctx)
	must(t, err)
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	_, err = tx.Exec(ctx, `SELECT 1 FROM jobs WHERE id = ANY($1) FOR UPDATE`, ids[:locked])
	must(t, err)
	return s, ids, tx
}

// A group write held up (here by a row lock) past its caller's deadline is cancelled in the
// server, and the caller learns so: the dispatcher whose record timed out deletes the engine's
// file, so the change must not commit once the hold ends.
func TestTransitionNotWrittenAfterItsCallerGaveUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, ids, tx := lockedJobs(t, 10*time.Second, 1, 1)
	id := ids[0]

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, _, err := s.Transition(short, id, store.Change{To: job.StatusProcessing, ProviderFileID: "f-given-up"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Transition past its deadline: %v, want context.DeadlineExceeded", err)
	}
	must(t, tx.Rollback(ctx)) // the hold ends
	// With one writer, this change is written after whatever the first group does.
	j, _, err := s.Transition(ctx, id, store.Change{To: job.StatusProcessing, ProviderFileID: "f-retry"})
	if err != nil {
		t.Fatalf("the retry's transition: %v (job %s with file %q)", err, j.Status, j.ProviderFileID)
	}
	if j.ProviderFileID != "f-retry" {
		t.Fatalf("job has file %q, want the retry's f-retry", j.ProviderFileID)
	}
}

// With one transition writer, a group that meets row locks held elsewhere waits only for the
// lock timeout: then its calls are written one by one, the calls on the locked jobs fail with
// job.ErrBusy, and the other call commits while the locks are still held.
func TestTransitionGroupLockWaitIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, ids, _ := lockedJobs(t, 200*time.Millisecond, 4, 3) // three locked, one free, to the end

	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			_, _, errs[i] = s.Transition(ctx, id, store.Change{To: job.StatusProcessing, ProviderFileID: fmt.Sprint("f-", i)})
		})
	}
	wg.Wait() // the lock is still held: nothing here waited for it to go

	for i, err := range errs[:3] {
		var pgErr *pgconn.PgError
		if !errors.Is(err, job.ErrBusy) || !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
			t.Errorf("transition of locked job %d: %v, want job.ErrBusy from lock_not_available (55P03)", i, err)
		}
	}
	if errs[3] != nil {
		t.Errorf("transition of the free job: %v", errs[3])
	}
	if j, err := s.GetJob(ctx, ids[3]); err != nil || j.Status != job.StatusProcessing {
		t.Errorf("free job is %s, %v; want PROCESSING", j.Status, err)
	}
}
