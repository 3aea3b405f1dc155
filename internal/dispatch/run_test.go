package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
	"github.com/anonjob/anonjob/internal/testlog"
)

// waitFor reads calls until one satisfies ok, and returns it. It gives up after a while, so
// that code that never makes the call fails its test rather than hanging it.
func waitFor(t *testing.T, calls <-chan call, ok func(call) bool) call {
	t.Helper()
	giveUp := time.NewTimer(patience)
	defer giveUp.Stop()
	for {
		select {
		case c := <-calls:
			if ok(c) {
				return c
			}
		case <-giveUp.C:
			t.Fatalf("the expected call did not come within %v", patience)
		}
	}
}

// patience bounds every wait for the code under test: far beyond what it needs, even on a
// busy machine.
const patience = 20 * time.Second

// run starts d and returns a func that stops it and waits for it.
func run(t *testing.T, d *Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	return func() { cancel(); <-done }
}

// TestRunClaimsRoomAtEngine: the dispatcher asks the engine its capacity before the first
// upload and claims no more jobs than there is room for, counting those at the engine.
func TestRunClaimsRoomAtEngine(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	s.processing = 3
	p.capacity = func(ctx context.Context) (int, error) {
		// Bounded: an engine not up yet must not hold dispatch back for long.
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > 5*time.Second || time.Until(dl) < 4*time.Second {
			t.Errorf("capacity asked with deadline %v (set %v), want about 5s", time.Until(dl), ok)
		}
		return 5, nil
	}
	cfg := testConfig()
	cfg.Capacity, cfg.Concurrency = 0, 4
	d := NewDispatcher(s, p, signer{}, cfg, nil)
	s.claims = [][]store.Claim{{queued("j1", 1), queued("j2", 1)}}
	stop := run(t, d)
	waitFor(t, p.calls, func(c call) bool { return c.op == "Upload" && c.id == "j2" })
	waitFor(t, s.calls, func(c call) bool { return c.op == "Transition" && c.id == "j2" })
	stop()
	claims := s.made("ClaimQueued")
	if len(claims) == 0 || claims[0].n != 2 || claims[0].id != cfg.Owner {
		t.Fatalf("claims %+v, want the first for 2 (capacity 5, 3 at the engine) by %s", claims, cfg.Owner)
	}
}

// TestRunLearnsCapacityLater: an engine not up at start is asked again; meanwhile its limit
// is a slow start's, and once it answers, claims keep within its capacity.
func TestRunLearnsCapacityLater(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	asked := 0
	// The engine answers only once the first claim was made, so that it is the slow start's.
	firstClaim := make(chan struct{})
	p.capacity = func(ctx context.Context) (int, error) {
		if asked++; asked == 1 {
			return 0, errors.New("connection refused")
		}
		select {
		case <-firstClaim:
			return 2, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	cfg := testConfig()
	cfg.Capacity, cfg.Concurrency = 0, 8
	logs := &testlog.Buffer{}
	d := NewDispatcher(s, p, signer{}, cfg, logs.TextLogger(slog.LevelDebug))
	stop := run(t, d)
	waitFor(t, s.calls, func(c call) bool { return c.op == "ClaimQueued" })
	close(firstClaim)
	// The answer pokes the loop, whose claim then asks for no more than the capacity.
	waitFor(t, s.calls, func(c call) bool { return c.op == "ClaimQueued" && c.n == 2 })
	stop()
	if n := s.made("ClaimQueued")[0].n; n != slowStartLimit {
		t.Errorf("first claim for %d, want %d (a slow start meanwhile)", n, slowStartLimit)
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("log %q, want the failed question", logs)
	}
}

// TestRunCapacityUnknown: an engine that does not tell its capacity is asked once. Its first
// claims are a slow start's, counting the jobs at the engine, unless the uploads at once are
// no more than that: then there is no limit and nothing to count.
func TestRunCapacityUnknown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		concurrency int
		claim       int
		counted     bool
	}{
		{"slow start", 8, slowStartLimit, true},
		{"no limit", 3, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, p := newFakeStore(), newFakeProvider() // answers ErrCapacityUnknown
			cfg := testConfig()
			cfg.Capacity, cfg.Concurrency = 0, tc.concurrency
			d := NewDispatcher(s, p, signer{}, cfg, nil)
			stop := run(t, d)
			waitFor(t, s.calls, func(c call) bool { return c.op == "ClaimQueued" })
			d.Poke()
			waitFor(t, s.calls, func(c call) bool { return c.op == "ClaimQueued" })
			stop()
			if n := len(p.made("Capacity")); n != 1 {
				t.Errorf("asked the capacity %d times, want once: the engine does not tell", n)
			}
			for _, c := range s.made("ClaimQueued") {
				if c.n != tc.claim {
					t.Errorf("claimed %d, want %d", c.n, tc.claim)
				}
			}
			if got := len(s.made("CountProcessing")) > 0; got != tc.counted {
				t.Errorf("counted the jobs at the engine: %v, want %v", got, tc.counted)
			}
		})
	}
}

// runTwoRounds runs d until it has asked the store for the room at the engine twice: once at
// start and once after a Poke, so both rounds' claims (or their absence) are recorded.
func runTwoRounds(t *testing.T, s *fakeStore, d *Dispatcher) {
	t.Helper()
	stop := run(t, d)
	waitFor(t, s.calls, func(c call) bool { return c.op == "CountProcessing" })
	d.Poke()
	waitFor(t, s.calls, func(c call) bool { return c.op == "CountProcessing" })
	stop()
}

// TestRunFull: with the engine full, nothing is claimed until there is room.
func TestRunFull(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	s.processing = 4 // the capacity of testConfig
	d := NewDispatcher(s, p, signer{}, testConfig(), nil)
	runTwoRounds(t, s, d)
	if got := s.made("ClaimQueued"); len(got) != 0 {
		t.Errorf("claimed %+v with the engine full", got)
	}
}

func TestRunCountError(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	s.countErr = errors.New("database down")
	logs := &testlog.Buffer{}
	d := NewDispatcher(s, p, signer{}, testConfig(), logs.TextLogger(slog.LevelDebug))
	runTwoRounds(t, s, d)
	if got := s.made("ClaimQueued"); len(got) != 0 {
		t.Errorf("claimed %+v without knowing the room at the engine", got)
	}
	if !strings.Contains(logs.String(), "database down") {
		t.Errorf("log %q, want the count error", logs)
	}
}

// TestRunRenewsLeaseDuringUpload: a slow upload keeps its claim.
func TestRunRenewsLeaseDuringUpload(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	release := make(chan struct{})
	p.upload = func(_ context.Context, o celantur.UploadOptions) (celantur.File, error) {
		<-release
		return celantur.File{FileID: "f-" + o.Name}, nil
	}
	cfg := testConfig()
	cfg.Lease = 30 * time.Millisecond // renewed every 10ms
	s.claims = [][]store.Claim{{queued("j1", 1)}}
	d := NewDispatcher(s, p, signer{}, cfg, nil)
	stop := run(t, d)
	c := waitFor(t, s.calls, func(c call) bool { return c.op == "RenewClaims" })
	if !slices.Equal(c.ids, []string{"j1"}) {
		t.Errorf("renewed %v during the upload of j1", c.ids)
	}
	close(release)
	waitFor(t, s.calls, func(c call) bool { return c.op == "Transition" })
	stop()
}

// TestRunRecordDoesNotHoldUploadSlot: a record waiting on the database gives its upload slot
// to the next job, keeps its claim while it waits, and Run returns only once it is over.
func TestRunRecordDoesNotHoldUploadSlot(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	release := make(chan struct{})
	s.transition = func(id string, c store.Change) (job.Job, job.Status, error) {
		if id == "j1" {
			<-release
		}
		return job.Job{ID: id, Status: c.To, ProviderFileID: c.ProviderFileID}, job.StatusQueued, nil
	}
	cfg := testConfig()
	cfg.Concurrency, cfg.Capacity = 1, 10
	cfg.Lease = 30 * time.Millisecond // renewed every 10ms
	s.claims = [][]store.Claim{{queued("j1", 1)}, {queued("j2", 1)}}
	d := NewDispatcher(s, p, signer{}, cfg, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	waitFor(t, p.calls, func(c call) bool { return c.op == "Upload" && c.id == "j2" })
	waitFor(t, s.calls, func(c call) bool { return c.op == "RenewClaims" && slices.Contains(c.ids, "j1") })
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while a record was under way")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-done
	if tr := s.made("Transition"); len(tr) != 2 {
		t.Errorf("transitions %+v, want the records of j1 and j2", tr)
	}
}
