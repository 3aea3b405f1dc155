package watch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/store"
	"github.com/anonjob/anonjob/internal/watch"
)

var harness *pgtest.Harness

func TestMain(m *testing.M) { pgtest.Main(m, &harness) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fixture struct {
	dbURL string
	store *store.Store
	hub   *watch.Hub
	// polls reports the hub's reads of the history, newest last (while a test reads them).
	polls chan poll
}

// poll is one read of the history by the hub: the position it reached, and whether a gap
// holds back events past it.
type poll struct {
	next int64
	gap  bool
	at   time.Time // when the read began
}

// newFixture starts a hub on a fresh database; writes through the store wake it.
func newFixture(t *testing.T, cfg watch.Config) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &fixture{dbURL: harness.NewDatabase(t), polls: make(chan poll, 64)}
	pool, err := store.Connect(ctx, f.dbURL, 20)
	if err != nil {
		t.Fatal(err)
	}
	f.hub = watch.NewHub(cfg, quiet)
	watch.OnPoll(f.hub, func(next int64, gap bool, began time.Time) {
		select {
		case f.polls <- poll{next, gap, began}:
		default: // nobody is reading: the hub must not wait for the test
		}
	})
	f.store = store.New(pool, store.Config{CommitHook: func(store.Commit) { f.hub.Poke() }})
	done := make(chan struct{})
	go func() { defer close(done); _ = f.hub.Run(ctx, f.store) }()
	t.Cleanup(func() { cancel(); <-done; pool.Close() })
	<-f.hub.Ready()
	return f
}

var png1x1 = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

func (f *fixture) create(t testing.TB, requestID string) job.Job {
	t.Helper()
	j, _, err := f.store.CreateJob(context.Background(), "acme", job.Spec{Method: job.MethodBlur,
		Targets: job.Targets{Face: true}, ContentType: "image/png", RequestID: requestID}, png1x1)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// subscribe watches from since until the test ends.
func (f *fixture) subscribe(t *testing.T, since int64) *watch.Subscription {
	t.Helper()
	sub, err := f.hub.Subscribe(context.Background(), since)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return sub
}

// wantRevisions wakes the hub and reads sub up to the last of want, which must be exactly
// what sub delivers.
func (f *fixture) wantRevisions(t *testing.T, sub *watch.Subscription, want ...int64) {
	t.Helper()
	f.hub.Poke()
	if got := collect(t, sub, want[len(want)-1]); !slices.Equal(got, want) {
		t.Fatalf("got revisions %v, want %v", got, want)
	}
}

// collect reads from sub until it has seen revision upTo.
func collect(t *testing.T, sub *watch.Subscription, upTo int64) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var revs []int64
	for sub.Revision() < upTo {
		b, err := sub.Next(ctx, time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", revs, err)
		}
		for _, e := range b.Events {
			revs = append(revs, e.Revision)
		}
	}
	return revs
}

// heldRevision takes a revision the way a writer does, in a transaction left open.
func heldRevision(t *testing.T, dbURL string) (pgx.Tx, int64) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rev int64
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint, nextval('job_revision_seq')`).Scan(new(int64), &rev); err != nil {
		t.Fatal(err)
	}
	return tx, rev
}

// commitHeld commits a job and its event with the held revision.
func commitHeld(t *testing.T, tx pgx.Tx, rev int64) {
	t.Helper()
	ctx := context.Background()
	id := fmt.Sprintf("0190c6f2-0000-7000-8000-%012d", rev)
	if _, err := tx.Exec(ctx, `
		INSERT INTO jobs (id, customer, status, revision, method, face, license_plate, person, vehicle, content_type, input_size)
		VALUES ($1, 'acme', 'QUEUED', $2, 'blur', true, false, false, false, 'image/png', 1)`, id, rev); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO job_events (revision, job_id, type, job)
		SELECT revision, id, 'CREATED', to_jsonb(jobs) FROM jobs WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// gapReads waits until the hub has read the history n times finding a gap, and returns the
// position the last of those reads reached. Reads queued before the call may count, so the
// caller makes the gap first.
func (f *fixture) gapReads(t *testing.T, n int) int64 {
	t.Helper()
	f.hub.Poke()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		select {
		case p := <-f.polls:
			if p.gap {
				if n--; n == 0 {
					return p.next
				}
			}
		case <-ctx.Done():
			t.Fatalf("the hub found no gap: %v", ctx.Err())
		}
	}
}

// waitPos waits until the hub has published every event up to rev.
func waitPos(t *testing.T, h *watch.Hub, rev int64) {
	t.Helper()
	h.Poke()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := watch.WaitPos(ctx, h, rev); err != nil {
		t.Fatalf("the hub did not reach %d (at %d): %v", rev, h.Pos(), err)
	}
}

func TestHubHoldsBackRevisionsAboveOneInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t, watch.Config{})
	sub := f.subscribe(t, 0)
	tx, held := heldRevision(t, f.dbURL)
	later := f.create(t, "")
	if later.Revision != held+1 {
		t.Fatalf("later revision %d, held %d", later.Revision, held)
	}
	// The later job is committed and visible, but the held revision may still commit: nothing
	// past it may be published, however often the hub reads.
	if pos := max(f.gapReads(t, 3), f.hub.Pos()); pos >= held {
		t.Fatalf("hub published %d while %d was in flight", pos, held)
	}
	commitHeld(t, tx, held)
	f.wantRevisions(t, sub, held, later.Revision)
}

func TestHubPassesRevisionsThatNeverCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, watch.Config{})
	ctx := context.Background()
	sub := f.subscribe(t, 0)
	tx, held := heldRevision(t, f.dbURL)
	f.create(t, "dup") // held+1
	// A request_id conflict consumes a revision without an event.
	f.create(t, "dup")
	last := f.create(t, "")
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	f.wantRevisions(t, sub, held+1, last.Revision)
}

// TestSettledRangeBeyondAFullPage: a gap proven final up to some revision must not let the hub
// skip events it has not read yet because its page was full.
func TestSettledRangeBeyondAFullPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, watch.Config{PageSize: 2})
	ctx := context.Background()
	sub := f.subscribe(t, 0)
	// Write without waking the hub, so that its next read sees everything at once.
	unseen := &fixture{store: store.New(f.store.Pool(), store.Config{})}
	t1, r1 := heldRevision(t, f.dbURL)
	unseen.create(t, "") // r1+1
	t3, r3 := heldRevision(t, f.dbURL)
	t4, r4 := heldRevision(t, f.dbURL)
	last := unseen.create(t, "") // r1+4
	// The hub sees r1+1 and r1+4 with gaps between, and takes its marker with ceiling r1+4.
	f.gapReads(t, 1)
	commitHeld(t, t3, r3)
	commitHeld(t, t4, r4)
	if err := t1.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	f.wantRevisions(t, sub, r1+1, r3, r4, last.Revision)
}

func TestSlowWatcherIsCutOffWithoutSlowingOthers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, watch.Config{Buffer: 2})
	ctx := context.Background()
	slow := f.subscribe(t, 0)
	start := slow.Revision()
	fast := f.subscribe(t, 0)
	var all []int64
	for range 6 {
		j := f.create(t, "")
		f.hub.Poke()
		all = append(all, collect(t, fast, j.Revision)...)
	}
	if len(all) != 6 {
		t.Fatalf("fast watcher got %v", all)
	}
	// The slow one gets what was buffered, then a resumable error.
	var got []int64
	for {
		b, err := slow.Next(ctx, time.Second)
		if errors.Is(err, watch.ErrTooSlow) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Events {
			got = append(got, e.Revision)
		}
	}
	resumed := f.subscribe(t, slow.Revision())
	got = append(got, collect(t, resumed, all[len(all)-1])...)
	if !slices.Equal(got, all) || slow.Revision() < start {
		t.Fatalf("slow watcher with resume got %v, want %v", got, all)
	}
}

func TestResumeReplaysFromDatabaseBeyondTheRing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, watch.Config{RingSize: 4, PageSize: 3})
	first := f.create(t, "")
	var want []int64
	var last job.Job
	for range 20 {
		last = f.create(t, "")
		want = append(want, last.Revision)
	}
	waitPos(t, f.hub, last.Revision)
	f.wantRevisions(t, f.subscribe(t, first.Revision), want...)
}

func TestCompactedRevisionIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, watch.Config{})
	ctx := context.Background()
	first := f.create(t, "")
	f.create(t, "")
	if _, err := f.store.Compact(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	last := f.create(t, "") // the hub learns of the compaction when it reads again
	waitPos(t, f.hub, last.Revision)
	if _, err := f.hub.Subscribe(ctx, first.Revision); !errors.Is(err, watch.ErrCompacted) {
		t.Fatalf("Subscribe(%d) = %v, want ErrCompacted", first.Revision, err)
	}
	if sub, err := f.hub.Subscribe(ctx, last.Revision); err != nil {
		t.Fatalf("Subscribe(%d) after compaction: %v", last.Revision, err)
	} else {
		sub.Close()
	}
}

// TestEveryEventOnceInOrderUnderConcurrency is the watch guarantee: while many transactions
// commit concurrently (some rolling back, some consuming revisions without events), watchers
// that disconnect and resume at random each see every event exactly once, in order.
func TestEveryEventOnceInOrderUnderConcurrency(t *testing.T) {
	t.Parallel()
	f := newFixture(t, watch.Config{RingSize: 64, PageSize: 50})
	ctx := context.Background()
	start := f.hub.Pos()
	const writers, perWriter, watchers = 12, 40, 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range perWriter {
				switch rng.IntN(5) {
				case 0: // a retried request: the second insert consumes a revision, no event
					f.create(t, "r"+string(rune('a'+w))+string(rune('a'+i%26)))
				case 1: // a transaction that takes a revision, holds it a while, and rolls back
					tx, _ := heldRevision(t, f.dbURL)
					for range rng.IntN(3) {
						_, _ = tx.Exec(ctx, `SELECT 1`)
					}
					_ = tx.Rollback(ctx)
				default:
					j := f.create(t, "")
					if rng.IntN(2) == 0 {
						if _, _, err := f.store.Transition(ctx, j.ID, store.Change{To: job.StatusCancelled}); err != nil {
							t.Error(err)
						}
					}
				}
			}
		}()
	}
	results := make([][]int64, watchers)
	stop := make(chan struct{})
	var wwg sync.WaitGroup
	for w := range watchers {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			since := start
			for {
				sub, err := f.hub.Subscribe(ctx, since)
				if err != nil {
					t.Error(err)
					return
				}
				// Read a random number of batches, then drop the connection and resume.
				for n := rng.IntN(6); n >= 0; n-- {
					b, err := sub.Next(ctx, 20*time.Millisecond)
					if err != nil {
						t.Error(err)
						sub.Close()
						return
					}
					for _, e := range b.Events {
						results[w] = append(results[w], e.Revision)
					}
				}
				since = sub.Revision()
				sub.Close()
				select {
				case <-stop:
					if since >= f.hub.Pos() {
						return
					}
				default:
				}
			}
		}()
	}
	wg.Wait()
	// Let the hub publish the last event, then let watchers catch up. (Revisions past the last
	// event that never committed are not waited for: nothing follows them to settle.)
	tail, err := f.store.EventsAfter(ctx, 0, 1<<20)
	if err != nil || len(tail.Events) == 0 {
		t.Fatalf("read the history: %d events, %v", len(tail.Events), err)
	}
	head := tail.Events[len(tail.Events)-1].Revision
	waitPos(t, f.hub, head)
	close(stop)
	wwg.Wait()

	want, err := f.store.EventsBetween(ctx, start, head, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < writers*perWriter/2 {
		t.Fatalf("only %d events were written", len(want))
	}
	for w, got := range results {
		if len(got) != len(want) {
			t.Errorf("watcher %d got %d events, want %d", w, len(got), len(want))
			continue
		}
		for i := range want {
			if got[i] != want[i].Revision {
				t.Errorf("watcher %d: event %d is revision %d, want %d", w, i, got[i], want[i].Revision)
				break
			}
		}
	}
}

// countingSource counts the hub's two kinds of reads of the history.
type countingSource struct {
	*store.Store
	bare, full atomic.Int64
}

func (c *countingSource) RevisionsAfter(ctx context.Context, after int64, limit int) (store.Tail, error) {
	c.bare.Add(1)
	return c.Store.RevisionsAfter(ctx, after, limit)
}

func (c *countingSource) EventsAfterExcept(ctx context.Context, after int64, except []int64, limit int) (store.Tail, error) {
	c.full.Add(1)
	return c.Store.EventsAfterExcept(ctx, after, except, limit)
}

// TestHubWithoutWatchersReadsOnlyRevisions: with no watch open the hub follows the history by
// revisions alone, and a watch that then resumes from before them still gets every event,
// with its job, once and in order; with a watch open the hub reads the events again.
func TestHubWithoutWatchersReadsOnlyRevisions(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	dbURL := harness.NewDatabase(t)
	pool, err := store.Connect(ctx, dbURL, 10)
	if err != nil {
		t.Fatal(err)
	}
	hub := watch.NewHub(watch.Config{}, quiet)
	src := &countingSource{Store: store.New(pool, store.Config{CommitHook: func(store.Commit) { hub.Poke() }})}
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx, src) }()
	t.Cleanup(func() { cancel(); <-done; pool.Close() })
	<-hub.Ready()
	f := &fixture{store: src.Store, hub: hub}

	start := hub.Pos()
	src.full.Store(0)
	var ids []string
	for i := range 5 {
		ids = append(ids, f.create(t, fmt.Sprintf("bare-%d", i)).ID)
	}
	last := f.create(t, "bare-last")
	ids = append(ids, last.ID)
	waitPos(t, hub, last.Revision)
	if n := src.full.Load(); n != 0 {
		t.Errorf("%d reads of the events' jobs with no watch open", n)
	}
	if src.bare.Load() == 0 {
		t.Fatal("no read of revisions alone")
	}

	// A watch resuming from before those events replays them from the database.
	sub := f.subscribe(t, start)
	more := f.create(t, "watched")
	ids = append(ids, more.ID)
	hub.Poke()
	var got []string
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	for sub.Revision() < more.Revision {
		b, err := sub.Next(rctx, time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		for _, e := range b.Events {
			got = append(got, e.Job.ID)
		}
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("the watch got jobs %v, want %v", got, ids)
	}
	if src.full.Load() == 0 {
		t.Error("the events were not read with their jobs once a watch was open")
	}
}

// TestManyWatchersSpaceTheReads: with more watchers than FanoutRate allows at MinInterval,
// commits in a stream are read less often, in batches of several, and every watcher still gets
// every event once and in order.
func TestManyWatchersSpaceTheReads(t *testing.T) {
	t.Parallel()
	// Ten watchers at 50 batches a second: one read per 200ms at most.
	const spacing = 200 * time.Millisecond
	f := newFixture(t, watch.Config{MinInterval: time.Millisecond, FanoutRate: 50, MaxInterval: time.Hour, Fallback: time.Hour})
	var subs []*watch.Subscription
	for range 10 {
		subs = append(subs, f.subscribe(t, 0))
	}
	var want []int64
	for i := range 8 {
		want = append(want, f.create(t, fmt.Sprintf("spaced-%d", i)).Revision)
		f.hub.Poke()
		time.Sleep(20 * time.Millisecond)
	}
	for i, sub := range subs {
		if got := collect(t, sub, want[len(want)-1]); !slices.Equal(got, want) {
			t.Fatalf("watcher %d got revisions %v, want %v", i, got, want)
		}
	}
	// The reads that reached the test's commits; those before may have seen fewer watchers.
	var polls []poll
	for len(f.polls) > 0 {
		if p := <-f.polls; p.next >= want[0] {
			polls = append(polls, p)
		}
	}
	if len(polls) == 0 {
		t.Fatal("no read of the commits reported")
	}
	for i := 1; i < len(polls); i++ {
		// The hub spaces the starts of its reads (a read's own time varies with the
		// machine's load); half the spacing still tells spaced reads from reads at
		// MinInterval.
		if d := polls[i].at.Sub(polls[i-1].at); d < spacing/2 {
			t.Errorf("reads %d and %d only %v apart, want about %v", i-1, i, d, spacing)
		}
	}
}
