package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/store"
)

var harness *pgtest.Harness

func TestMain(m *testing.M) { pgtest.Main(m, &harness) }

// hangingEngine stands in for the hosted provider: while hang is set it holds uploads open
// (as a slow engine would) and never accepts them, so their replica dies holding the claims.
type hangingEngine struct {
	*httptest.Server
	mu       sync.Mutex
	hang     bool
	hanging  int
	accepted map[string]int // job id -> accepted uploads
}

func newHangingEngine(t *testing.T) *hangingEngine {
	e := &hangingEngine{hang: true, accepted: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/signin", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"AccessToken":"tok","ExpiresIn":3600}`)
	})
	mux.HandleFunc("POST /v1/file", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		e.mu.Lock()
		if e.hang {
			e.hanging++
			e.mu.Unlock()
			<-r.Context().Done() // until its replica dies
			e.mu.Lock()
			e.hanging--
			e.mu.Unlock()
			return
		}
		name := r.URL.Query().Get("name")
		e.accepted[name]++
		n := e.accepted[name]
		e.mu.Unlock()
		_, _ = fmt.Fprintf(w, `{"customer_id":"c","file_id":"file-%s-%d","file_status":"queued"}`, name, n)
	})
	e.Server = httptest.NewServer(mux)
	t.Cleanup(e.Close)
	return e
}

func (e *hangingEngine) state() (hanging int, accepted map[string]int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for k, v := range e.accepted {
		out[k] = v
	}
	return e.hanging, out
}

// replica is one anonjobd process on the shared database.
type replica struct {
	cmd  *exec.Cmd
	base string
	log  string // its log file
}

func startReplica(t *testing.T, bin, dbURL, engineURL string, args ...string) *replica {
	t.Helper()
	return startAnonjobd(t, bin, dbURL, append([]string{"--provider-url", engineURL}, args...)...)
}

// startAnonjobd starts a replica on the database, on addresses and a data directory of its
// own, with the given flags besides, and waits until it is ready.
func startAnonjobd(t *testing.T, bin, dbURL string, args ...string) *replica {
	t.Helper()
	httpAddr := freeAddr(t)
	cmd, logPath := startProcess(t, bin, "anonjobd.log", []string{"CELANTUR_USERNAME=u", "CELANTUR_PASSWORD=p"},
		append([]string{"--database-url", dbURL, "--grpc-addr", freeAddr(t), "--http-addr", httpAddr,
			"--data-dir", t.TempDir()}, args...)...)
	r := &replica{cmd: cmd, base: "http://" + httpAddr, log: logPath}
	waitReady(t, "anonjobd never became ready", logPath, func() bool {
		resp, err := http.Get(r.base + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return r
}

// startProcess runs bin with args and env added to this process's environment, its output
// going to a log file (logName in a folder of the test's own) so a failure can show it. The
// process is killed when the test ends; startProcess returns it and the log's path.
func startProcess(t *testing.T, bin, logName string, env []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), logName)
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return cmd, logPath
}

// waitReady asks ready every 50 ms until it says yes; after a minute it fails the test with
// failure and the log at logPath. A child on a loaded machine may take long to start; a
// minute tells a slow start from one that will never come.
func waitReady(t *testing.T, failure, logPath string, ready func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s; its log:\n%s", failure, b)
		}
	}
}

func (r *replica) logs() string {
	b, _ := os.ReadFile(r.log)
	return string(b)
}

// kill ends the process as a crash would: no shutdown, claims left in the database.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = r.cmd.Process.Wait()
}

var buildOnce struct {
	sync.Once
	bin string
	err error
	out []byte
}

// buildBinary builds anonjobd once for the package's tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "anonjobd-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.bin = filepath.Join(dir, "anonjobd")
		buildOnce.out, buildOnce.err = exec.Command("go", "build", "-o", buildOnce.bin, ".").CombinedOutput()
	})
	if buildOnce.err != nil {
		t.Fatalf("build: %v\n%s", buildOnce.err, buildOnce.out)
	}
	return buildOnce.bin
}

// crashWithClaims starts a replica, gives it jobs it claims and is uploading, checks that no
// claim reaches further than the lease, and kills it. It returns the jobs and the time of
// the kill.
func crashWithClaims(t *testing.T, bin string, db *store.Store, dbURL string, eng *hangingEngine, lease string, args ...string) ([]string, time.Time) {
	t.Helper()
	ctx := context.Background()
	_, key, err := auth.CreateKey(ctx, db, "acme")
	if err != nil {
		t.Fatal(err)
	}
	// The engine holds every upload it gets; told that it takes 8 at once, the replica starts
	// all 5 at first contact instead of the few of a slow start.
	a := startReplica(t, bin, dbURL, eng.URL, append([]string{"--claim-lease", lease, "--provider-concurrency", "8"}, args...)...)
	var ids []string
	for range 5 {
		ids = append(ids, createJob(t, a.base, key))
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, _ := eng.state(); n == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica never had all jobs under upload; its log:\n%s", a.logs())
		}
	}
	leaseFor, err := time.ParseDuration(lease)
	if err != nil {
		t.Fatal(err)
	}
	beyond := 0
	for _, id := range ids {
		d, err := db.DispatchState(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.ClaimedBy == "" || d.LeaseUntil.After(time.Now().Add(leaseFor)) {
			beyond++
		}
	}
	if beyond != 0 {
		t.Fatalf("%d claims unowned or past the lease", beyond)
	}
	a.kill(t)
	eng.mu.Lock()
	eng.hang = false
	eng.mu.Unlock()
	return ids, time.Now()
}

// waitProcessing waits until every job is at the engine, each uploaded once, and returns
// when that was.
func waitProcessing(t *testing.T, db *store.Store, eng *hangingEngine, ids []string, logs func() string) time.Time {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n := 0
		for _, id := range ids {
			j, err := db.GetJob(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if j.Status == job.StatusProcessing {
				n++
			}
		}
		if n == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs processing; log:\n%s", n, len(ids), logs())
		}
	}
	at := time.Now()
	_, accepted := eng.state()
	for _, id := range ids {
		if accepted[id] != 1 {
			t.Errorf("job %s accepted %d times by the engine", id, accepted[id])
		}
	}
	return at
}

func openStore(t *testing.T, dbURL string) *store.Store {
	t.Helper()
	pool, err := store.Connect(context.Background(), dbURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return store.New(pool, store.Config{})
}

// crashSetup is what a crash test needs: the binary, its own database and an engine that
// holds uploads open, so jobs stay claimed while a replica is killed.
type crashSetup struct {
	bin, dbURL string
	db         *store.Store
	eng        *hangingEngine
}

func newCrashSetup(t *testing.T) crashSetup {
	t.Helper()
	c := crashSetup{bin: buildBinary(t), dbURL: harness.NewDatabase(t)}
	c.db = openStore(t, c.dbURL)
	c.eng = newHangingEngine(t)
	return c
}

// TestDeadReplicasJobsAreTakenOver kills a replica uploading jobs: another replica finishes
// them once their short leases run out.
func TestDeadReplicasJobsAreTakenOver(t *testing.T) {
	t.Parallel()
	c := newCrashSetup(t)
	bin, dbURL, db, eng := c.bin, c.dbURL, c.db, c.eng
	lease := cmpOr(os.Getenv("ANONJOB_TEST_CLAIM_LEASE"), "3s")
	ids, killed := crashWithClaims(t, bin, db, dbURL, eng, lease, "--replica-id", "first")
	b := startReplica(t, bin, dbURL, eng.URL, "--replica-id", "second", "--claim-lease", lease)
	done := waitProcessing(t, db, eng, ids, b.logs)
	t.Logf("lease %s: replica killed -> its %d jobs at the engine through another: %v", lease, len(ids),
		done.Sub(killed).Round(time.Millisecond))
}

// TestRestartedReplicaReleasesItsClaims kills a replica uploading jobs and restarts it under
// the same replica id with a lease far too long to wait for: it releases its old claims at
// start and uploads the jobs at once.
func TestRestartedReplicaReleasesItsClaims(t *testing.T) {
	t.Parallel()
	c := newCrashSetup(t)
	bin, dbURL, db, eng := c.bin, c.dbURL, c.db, c.eng
	ids, killed := crashWithClaims(t, bin, db, dbURL, eng, "1h", "--replica-id", "only")
	a := startReplica(t, bin, dbURL, eng.URL, "--replica-id", "only", "--claim-lease", "1h")
	done := waitProcessing(t, db, eng, ids, a.logs)
	if !strings.Contains(a.logs(), "released the claims this replica held when it stopped") {
		t.Errorf("no log line for the released claims:\n%s", a.logs())
	}
	t.Logf("replica killed -> restarted under its id -> its %d jobs at the engine: %v", len(ids),
		done.Sub(killed).Round(time.Millisecond))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
