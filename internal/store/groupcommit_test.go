package store_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/store"
)

// heldGroups returns a store with one group writer whose first group (of one job) is held until
// release is called, so that every CreateJob started meanwhile lands in the second group.
func heldGroups(t *testing.T, setup func(*store.Store)) (s *store.Store, sizes func() []int, held <-chan struct{}, release func()) {
	t.Helper()
	pool := newPool(t)
	s = store.New(pool, store.Config{GroupCommit: store.GroupCommit{Writers: 1}})
	if setup != nil {
		setup(s)
	}
	var mu sync.Mutex
	var got []int
	heldCh, releaseCh := make(chan struct{}), make(chan struct{})
	store.OnGroupWrite(s, func(n int) {
		mu.Lock()
		got = append(got, n)
		first := len(got) == 1
		mu.Unlock()
		if first {
			close(heldCh)
			<-releaseCh
		}
	})
	return s, func() []int { mu.Lock(); defer mu.Unlock(); return append([]int(nil), got...) }, heldCh, func() { close(releaseCh) }
}

type createResult struct {
	j       job.Job
	created bool
	err     error
}

func TestGroupCommitGivesEachRequestItsOwnAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// An earlier job whose request_id the group reuses, once as a retry and once for other bytes.
	var old job.Job
	s, sizes, held, release := heldGroups(t, func(s *store.Store) {
		var err error
		if old, _, err = s.CreateJob(ctx, "acme", pgtest.Spec("old"), pgtest.PNG1x1()); err != nil {
			t.Fatal(err)
		}
	})
	other := append([]byte(nil), pgtest.PNG1x1()...)
	other[len(other)-1] ^= 1
	bad := pgtest.Spec("bad")
	bad.Method = "bogus" // refused by the table's CHECK: fails the group it is in

	cases := []struct {
		name     string
		customer string
		spec     job.Spec
		input    []byte
		check    func(t *testing.T, r createResult, all map[string]createResult)
	}{
		{"plain", "acme", pgtest.Spec(""), pgtest.PNG1x1(), created},
		{"with request id", "acme", pgtest.Spec("a"), pgtest.PNG1x1(), func(t *testing.T, r createResult, _ map[string]createResult) {
			if r.err != nil { // which of the twins creates the job is up to the database
				t.Errorf("err = %v", r.err)
			}
		}},
		{"same request id in the same group", "acme", pgtest.Spec("a"), pgtest.PNG1x1(), func(t *testing.T, r createResult, all map[string]createResult) {
			// Exactly one of the two creates the job; the other gets that job back.
			first := all["with request id"]
			if r.err != nil || first.err != nil || r.created == first.created || r.j.ID != first.j.ID {
				t.Errorf("twin requests = %+v and %+v, want one job, created once", r, first)
			}
		}},
		{"same request id, other customer", "globex", pgtest.Spec("a"), pgtest.PNG1x1(), created},
		{"retry of an earlier request", "acme", pgtest.Spec("old"), pgtest.PNG1x1(), func(t *testing.T, r createResult, _ map[string]createResult) {
			if r.err != nil || r.created || r.j.ID != old.ID {
				t.Errorf("retry = %+v, want the earlier job %s, not created", r, old.ID)
			}
		}},
		{"earlier request id, other bytes", "acme", pgtest.Spec("old"), other, func(t *testing.T, r createResult, _ map[string]createResult) {
			if !errors.Is(r.err, job.ErrRequestIDReused) {
				t.Errorf("reused request_id err = %v, want ErrRequestIDReused", r.err)
			}
		}},
		{"row the database refuses", "acme", bad, pgtest.PNG1x1(), func(t *testing.T, r createResult, _ map[string]createResult) {
			if r.err == nil || r.created {
				t.Errorf("bad row = %+v, want an error", r)
			}
		}},
	}

	first := make(chan createResult, 1)
	go func() {
		j, c, err := s.CreateJob(ctx, "acme", pgtest.Spec("first"), pgtest.PNG1x1())
		first <- createResult{j, c, err}
	}()
	<-held
	results := make(map[string]createResult, len(cases))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Go(func() {
			j, c, err := s.CreateJob(ctx, tc.customer, tc.spec, tc.input)
			mu.Lock()
			results[tc.name] = createResult{j, c, err}
			mu.Unlock()
		})
	}
	waitFor(t, func() bool { return store.QueuedCreates(s) == len(cases) })
	release()
	wg.Wait()
	if r := <-first; r.err != nil || !r.created {
		t.Fatalf("held request = %+v", r)
	}
	if got := sizes(); len(got) < 2 || got[1] != len(cases) {
		t.Fatalf("group sizes = %v, want the second group to hold all %d requests", got, len(cases))
	}
	if st := s.GroupCommitStats(); st.Fallbacks != 1 {
		t.Errorf("stats = %+v, want the group with the bad row written again one by one", st)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, results[tc.name], results) })
	}
	// Nothing of the refused row reached the database, and each created job has its event.
	tail, err := s.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	createdJobs := 2 // old and first
	for _, r := range results {
		if r.created {
			createdJobs++
		}
	}
	if len(tail.Events) != createdJobs {
		t.Errorf("%d CREATED events, want one per created job (%d)", len(tail.Events), createdJobs)
	}
}

func TestGroupCommitOneTransactionForAGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, sizes, held, release := heldGroups(t, nil)
	go func() { _, _, _ = s.CreateJob(ctx, "acme", pgtest.Spec(""), pgtest.PNG1x1()) }()
	<-held
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, _, err := s.CreateJob(ctx, "acme", pgtest.Spec(""), pgtest.PNG1x1())
			errs <- err
		})
	}
	waitFor(t, func() bool { return store.QueuedCreates(s) == n })
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := sizes(); len(got) != 2 || got[1] != n {
		t.Fatalf("group sizes = %v, want [1 %d]", got, n)
	}
	if st := s.GroupCommitStats(); st.Groups != 2 || st.Jobs != n+1 || st.Fallbacks != 0 {
		t.Fatalf("stats = %+v, want 2 groups of %d jobs in all", st, n+1)
	}
}

func TestGroupCommitSplitsLargeInputsInOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, sizes, held, release := heldGroups(t, nil)
	go func() { _, _, _ = s.CreateJob(ctx, "acme", pgtest.Spec(""), pgtest.PNG1x1()) }()
	<-held
	// 3 MiB each: the group's statements cannot all carry two of them.
	inputs := make([][]byte, 5)
	for i := range inputs {
		inputs[i] = pgtest.PNG1x1()
		if i%2 == 0 {
			inputs[i] = append(bytes.Repeat([]byte{byte(i)}, 3<<20), inputs[i]...)
		}
	}
	ids := make([]string, len(inputs))
	var wg sync.WaitGroup
	for i, in := range inputs {
		wg.Go(func() {
			j, created, err := s.CreateJob(ctx, "acme", pgtest.Spec(""), in)
			if err != nil || !created {
				t.Errorf("CreateJob %d = %v, %v", i, created, err)
			}
			ids[i] = j.ID
		})
	}
	waitFor(t, func() bool { return store.QueuedCreates(s) == len(inputs) })
	release()
	wg.Wait()
	if got := sizes(); len(got) != 2 || got[1] != len(inputs) {
		t.Fatalf("group sizes = %v, want [1 %d]", got, len(inputs))
	}
	if st := s.GroupCommitStats(); st.Groups != 2 || st.Fallbacks != 0 {
		t.Fatalf("stats = %+v, want the large group written in one transaction", st)
	}
	for i, id := range ids {
		got, err := s.Input(ctx, id)
		if err != nil || !bytes.Equal(got, inputs[i]) {
			t.Errorf("input of job %d: %d bytes, %v; want its own %d bytes", i, len(got), err, len(inputs[i]))
		}
	}
}

func TestGroupCommitCallerGoneBeforeItsGroup(t *testing.T) {
	t.Parallel()
	s, sizes, held, release := heldGroups(t, nil)
	go func() { _, _, _ = s.CreateJob(context.Background(), "acme", pgtest.Spec(""), pgtest.PNG1x1()) }()
	<-held
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := s.CreateJob(ctx, "acme", pgtest.Spec("gone"), pgtest.PNG1x1())
		done <- err
	}()
	waitFor(t, func() bool { return store.QueuedCreates(s) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled CreateJob err = %v", err)
	}
	release()
	waitFor(t, func() bool { return len(sizes()) == 1 && store.QueuedCreates(s) == 0 })
	if _, _, err := s.CreateJob(context.Background(), "acme", pgtest.Spec("gone"), pgtest.PNG1x1()); err != nil {
		t.Fatal(err)
	}
	if st := s.GroupCommitStats(); st.Jobs != 2 {
		t.Fatalf("stats = %+v: the abandoned request was written", st)
	}
}

// waitFor polls cond; the states it waits for are reached by other goroutines without a signal
// of their own to wait on.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func created(t *testing.T, r createResult, _ map[string]createResult) {
	t.Helper()
	if r.err != nil || !r.created {
		t.Errorf("result = %+v, want a new job", r)
	}
}

// The commit hook hears what each commit wrote: the server wakes the client-webhook sender
// only for commits that may have ended a job, never for new jobs.
func TestCommitHookSaysWhatCommitted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	var got []store.Commit
	s := store.New(newPool(t), store.Config{CommitHook: func(c store.Commit) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, c)
	}})
	heard := func() []store.Commit {
		mu.Lock()
		defer mu.Unlock()
		return append([]store.Commit(nil), got...)
	}
	j, _, err := s.CreateJob(ctx, "acme", pgtest.Spec(""), pgtest.PNG1x1())
	if err != nil {
		t.Fatal(err)
	}
	if h := heard(); len(h) != 1 || h[0] != store.JobsCreated {
		t.Fatalf("after CreateJob the hook heard %v, want [JobsCreated]", h)
	}
	if _, _, err := s.Transition(ctx, j.ID, store.Change{To: job.StatusCancelled}); err != nil {
		t.Fatal(err)
	}
	if h := heard(); len(h) != 2 || h[1] != store.JobsChanged {
		t.Fatalf("after a transition the hook heard %v, want [JobsCreated JobsChanged]", h)
	}
}

// A CreateJob group whose request_id another transaction is inserting (another replica's
// group, say) waits for it only as long as the lock timeout: then the calls are written one by
// one, the call with that request_id fails with job.ErrBusy (its client retries with the same
// request_id), and the other call commits while the insert is still in flight.
func TestCreateGroupLockWaitIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	s := store.New(pool, store.Config{GroupCommit: store.GroupCommit{LockTimeout: 200 * time.Millisecond}})
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `INSERT INTO jobs (id, customer, status, revision, method, face, license_plate,
		person, vehicle, request_id, content_type, input_size)
		VALUES (gen_random_uuid(), 'acme', 'QUEUED', nextval('job_revision_seq'), 'blur', true, false,
		false, false, 'in-flight', 'image/png', 1)`); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, rid := range []string{"in-flight", "free"} {
		wg.Go(func() { _, _, errs[i] = s.CreateJob(ctx, "acme", pgtest.Spec(rid), pgtest.PNG1x1()) })
	}
	wg.Wait() // the other insert is still in flight: nothing here waited for it to end
	if !errors.Is(errs[0], job.ErrBusy) {
		t.Errorf("CreateJob with the request_id in flight: %v, want job.ErrBusy", errs[0])
	}
	if errs[1] != nil {
		t.Errorf("CreateJob with a free request_id: %v", errs[1])
	}
}
