package enginepool_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/dispatch"
	"github.com/anonjob/anonjob/internal/enginepool"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/store"
)

var harness *pgtest.Harness

func TestMain(m *testing.M) { pgtest.Main(m, &harness) }

// standIn is a Celantur v1 engine at the network edge that tells its capacity, accepts
// uploads, never sends webhooks and answers status polls with status.
type standIn struct {
	*httptest.Server
	name string
	mu   sync.Mutex
	// uploads counts uploads by job id; status is what polls answer.
	uploads map[string]int
	status  string
}

func newStandIn(t *testing.T, name string, capacity int) *standIn {
	s := &standIn{name: name, uploads: map[string]int{}, status: "processing"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/signin", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"AccessToken":"tok","ExpiresIn":3600}`)
	})
	mux.HandleFunc("GET /v1/capacity", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, `{"capacity":%d}`, capacity)
	})
	mux.HandleFunc("POST /v1/file", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		name := r.URL.Query().Get("name")
		s.uploads[name]++
		_, _ = fmt.Fprintf(w, `{"customer_id":"c","file_id":"%s-%s","file_status":"queued"}`, s.name, name)
	})
	mux.HandleFunc("GET /v1/file/{id}/status", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, _ = fmt.Fprintf(w, `{"file_id":%q,"file_status":%q}`, r.PathValue("id"), s.status)
	})
	mux.HandleFunc("GET /v1/file/{id}/{kind}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "%s of %s", r.PathValue("kind"), r.PathValue("id"))
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *standIn) set(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *standIn) uploadsOf(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uploads[id]
}

type signer struct{}

func (signer) CallbackURL(base *url.URL, jobID string) *url.URL {
	return base.JoinPath("v1/webhooks/celantur", jobID)
}

// newStore connects to a database of the test's own.
func newStore(t *testing.T, conns int32) *store.Store {
	t.Helper()
	pool, err := store.Connect(context.Background(), harness.NewDatabase(t), conns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return store.New(pool, store.Config{})
}

// run runs the pool until the test ends.
func run(t *testing.T, p *enginepool.Pool) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
}

func processingAt(t *testing.T, st *store.Store, engine string) int {
	t.Helper()
	n, err := st.CountProcessingAt(context.Background(), engine)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func inStatus(t *testing.T, st *store.Store, status job.Status) int64 {
	t.Helper()
	stats, err := st.JobStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return stats.ByStatus[string(status)]
}

// doneEvents counts, by job, the events of the whole history that show the job DONE.
func doneEvents(t *testing.T, st *store.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for after := int64(0); ; {
		tail, err := st.EventsAfter(context.Background(), after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(tail.Events) == 0 {
			return out
		}
		for _, e := range tail.Events {
			if e.Job.Status == job.StatusDone {
				out[e.Job.ID]++
			}
		}
		after = tail.Events[len(tail.Events)-1].Revision
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// TestPoolSharesCapacityAndHandsOverDeadEngine fills two engines to their told capacity,
// stops one, and checks that its jobs go to the other once it has been unheard for the dead
// time, each ending DONE once with the results of the engine that finished it, and that the
// files are fetched from the engine each job names.
func TestPoolSharesCapacityAndHandsOverDeadEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t, 8)
	a, b := newStandIn(t, "a", 2), newStandIn(t, "b", 2)
	var ids []string
	for range 6 {
		j, _, err := st.CreateJob(ctx, "acme", job.Spec{Method: job.MethodBlur, Targets: job.Targets{Face: true},
			ContentType: "image/png"}, []byte("png"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	creds := celantur.Credentials{Username: "u", Password: "p"}
	reg := prometheus.NewRegistry()
	p := enginepool.New(st, signer{}, enginepool.Config{
		External:    []enginepool.Endpoint{{URL: a.URL, Credentials: creds}, {URL: b.URL, Credentials: creds}},
		Metrics:     reg,
		DeadAfter:   time.Second,
		Every:       100 * time.Millisecond,
		Dispatching: true,
		Dispatch: dispatch.Config{PublicURL: &url.URL{Scheme: "http", Host: "anonjob.test"}, KeepInput: true,
			Owner: "r1", WebhookDeadline: 100 * time.Millisecond, Tick: 50 * time.Millisecond},
	})
	if err := p.Register(ctx); err != nil {
		t.Fatal(err)
	}
	run(t, p)
	idA, _ := enginepool.EngineID(a.URL)
	idB, _ := enginepool.EngineID(b.URL)
	at := func(engine string) int { return processingAt(t, st, engine) }
	waitFor(t, "both engines full", func() bool { return at(idA) == 2 && at(idB) == 2 })
	if n := inStatus(t, st, job.StatusQueued); n != 2 {
		t.Fatalf("%d jobs queued beyond the engines' capacity, want 2", n)
	}
	atB, err := st.JobsAtEngine(ctx, idB, job.StatusProcessing, 0)
	if err != nil {
		t.Fatal(err)
	}

	b.Close() // dead: no answer
	a.set("done")
	waitFor(t, "every job DONE", func() bool {
		return inStatus(t, st, job.StatusDone) == int64(len(ids))
	})
	for _, id := range atB {
		gone, err := st.Abandonments(ctx, store.AbandonedQuery{JobID: id, EngineID: idB})
		if err != nil {
			t.Fatal(err)
		}
		if len(gone) != 1 {
			t.Errorf("job %s: %d files given up at the dead engine", id, len(gone))
		}
		if a.uploadsOf(id) != 1 {
			t.Errorf("job %s uploaded %d times to the living engine", id, a.uploadsOf(id))
		}
	}
	if got := metricSum(t, reg, "anonjob_pool_jobs_handed_over_total"); got != float64(len(atB)) {
		t.Errorf("handed over counter %v, want %d", got, len(atB))
	}
	done := doneEvents(t, st)
	for _, id := range ids {
		if engine, err := st.EngineOfJob(ctx, id); err != nil || engine != idA {
			t.Errorf("job %s ended at engine %q (%v), not at the living one", id, engine, err)
		}
		if done[id] > 1 {
			t.Errorf("job %s DONE %d times", id, done[id])
		}
		j, err := st.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		body, _, _, err := p.Download(ctx, id, j.ProviderFileID, "anonymized")
		if err != nil {
			t.Fatalf("download %s: %v", id, err)
		}
		got, _ := io.ReadAll(body)
		_ = body.Close()
		if want := "anonymized of a-" + id; string(got) != want {
			t.Errorf("download %s = %q, want %q", id, got, want)
		}
	}
}

// TestLoopbackEngineRefusedAcrossHosts refuses an in-process engine under a loopback URL while
// a live replica on another host shares the database, and accepts it when all are on one host.
func TestLoopbackEngineRefusedAcrossHosts(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		otherHost string
		refused   bool
	}{
		"replica on another host": {otherHost: "host-b", refused: true},
		"replica on this host":    {otherHost: "host-a", refused: false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := newStore(t, 2)
			if err := st.ReplicaSeen(ctx, "other", tc.otherHost); err != nil {
				t.Fatal(err)
			}
			eng := newStandIn(t, "local", 2)
			p := enginepool.New(st, signer{}, enginepool.Config{Host: "host-a",
				Local:    &enginepool.Endpoint{URL: eng.URL, Credentials: celantur.Credentials{Username: "u", Password: "p"}},
				Dispatch: dispatch.Config{Owner: "me"}})
			err := p.Register(ctx)
			if got := errors.Is(err, enginepool.ErrLoopbackEngine); got != tc.refused {
				t.Fatalf("Register: %v, want refused %v", err, tc.refused)
			}
		})
	}
}

// TestPoolPrefersTheInProcessEngine gives jobs to the replica's own engine while it has room,
// and to the other engine once it is full.
func TestPoolPrefersTheInProcessEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t, 8)
	local, other := newStandIn(t, "local", 2), newStandIn(t, "other", 2)
	creds := celantur.Credentials{Username: "u", Password: "p"}
	p := enginepool.New(st, signer{}, enginepool.Config{
		Local:       &enginepool.Endpoint{URL: local.URL, Credentials: creds, Capacity: 2},
		External:    []enginepool.Endpoint{{URL: other.URL, Credentials: creds}},
		Every:       100 * time.Millisecond,
		PreferWait:  time.Hour, // the other engine never takes a job the local one has room for
		Dispatching: true,
		Dispatch: dispatch.Config{PublicURL: &url.URL{Scheme: "http", Host: "anonjob.test"}, KeepInput: true,
			Owner: "r1", Tick: 50 * time.Millisecond},
	})
	if err := p.Register(ctx); err != nil {
		t.Fatal(err)
	}
	run(t, p)
	create := func(n int) {
		for range n {
			if _, _, err := st.CreateJob(ctx, "acme", job.Spec{Method: job.MethodBlur, Targets: job.Targets{Face: true},
				ContentType: "image/png"}, []byte("png")); err != nil {
				t.Fatal(err)
			}
		}
		p.Poke()
	}
	idLocal, _ := enginepool.EngineID(local.URL)
	idOther, _ := enginepool.EngineID(other.URL)
	at := func(engine string) int { return processingAt(t, st, engine) }
	create(2)
	waitFor(t, "two jobs processing", func() bool { return at(idLocal)+at(idOther) == 2 })
	if at(idLocal) != 2 {
		t.Fatalf("the in-process engine has %d of 2 jobs while it had room", at(idLocal))
	}
	create(2) // the in-process engine is full: the other takes these at once
	waitFor(t, "the other engine full", func() bool { return at(idOther) == 2 })
}

func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}
