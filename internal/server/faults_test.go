package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/testlog"
)

// TestWatchFromTheFuture: a since_revision no replica has reached fails, naming the current
// revision, instead of silently skipping the events up to it.
func TestWatchFromTheFuture(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	j := e.createJob(t)
	for e.srv.Hub.Pos() < j.GetRevision() {
		time.Sleep(5 * time.Millisecond)
	}
	pos := e.srv.Hub.Pos()
	future := strconv.FormatInt(pos+1000, 10)
	r := e.do(http.MethodGet, "/v1/jobs:watch?since_revision="+future, "", nil)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.raw), "REVISION_IN_FUTURE") ||
		!strings.Contains(string(r.raw), "current revision "+strconv.FormatInt(pos, 10)) {
		t.Fatalf("watch from the future over REST: %d %s", r.status, r.raw)
	}
	assertStatus(t, watchError(ctx, e.jobs, &anonjobv1.WatchJobsRequest{SinceRevision: pos + 1000}),
		codes.OutOfRange, "REVISION_IN_FUTURE", "since_revision")

	// A revision handed out but not yet visible here (another replica's, or one whose
	// transaction rolled back) is waited for, and the watch starts there.
	// A create that the table refuses takes a revision and rolls back.
	bad := pgtest.Spec("")
	bad.Method = "bogus"
	if _, _, err := e.st.CreateJob(ctx, "acme", bad, pgtest.PNG1x1()); err == nil {
		t.Fatal("a job with a bogus method was stored")
	}
	next, err := e.st.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := e.jobs.WatchJobs(ctx, &anonjobv1.WatchJobsRequest{SinceRevision: next})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.GetRevision() < next {
		t.Fatalf("watch from a revision handed out: %v, %v", first, err)
	}
	// And nothing after it is skipped.
	later := e.createJob(t)
	msg, err := stream.Recv()
	if err != nil || len(msg.GetEvents()) != 1 || msg.GetEvents()[0].GetJob().GetId() != later.GetId() {
		t.Fatalf("event after the waited-for revision: %v, %v", msg, err)
	}
}

// blockDatabase makes the database refuse every connection and ends those open, returning once
// they have ended: an outage of this test's database alone. The returned func ends it.
func blockDatabase(t *testing.T, dbURL string) (unblock func()) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	admin := func(sql string) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, u.String())
		if err != nil {
			t.Errorf("admin connection: %v", err)
			return
		}
		defer func() { _ = conn.Close(ctx) }()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
	ident := pgx.Identifier{name}.Sanitize()
	admin("ALTER DATABASE " + ident + " ALLOW_CONNECTIONS false")
	// Terminating only signals a backend; one still alive could commit the record the test
	// means to lose. So wait (up to 10 s each) until they are gone.
	admin("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = '" + name + "'")
	return func() { admin("ALTER DATABASE " + ident + " ALLOW_CONNECTIONS true") }
}

// TestUnrecordedUploadIsDeletedBeforeRetry injects the fault between the upload and its
// record: the engine accepts the file, and the database goes away before the dispatcher can
// record it. The file is deleted at the engine before the job is uploaded again, so the engine
// never holds two copies of the job, and the job ends up with the second file.
func TestUnrecordedUploadIsDeletedBeforeRetry(t *testing.T) {
	t.Parallel()
	prov := newFakeProvider(t)
	var logs testlog.Buffer
	var unblock func()
	e := newEnv(t, withProvider(prov), func(c *server.Config) {
		c.ClaimLease = time.Second // records are given up after half of it
		c.Log = logs.TextLogger(slog.LevelInfo)
	})
	prov.mu.Lock()
	prov.upload = func(http.ResponseWriter) bool {
		if unblock == nil { // the first upload only: accepted, then the database is gone
			unblock = blockDatabase(t, e.dbURL)
		}
		return true
	}
	var reopened sync.WaitGroup
	t.Cleanup(reopened.Wait)
	prov.onDelete = func() {
		// Reopened after the delete is answered: reopening takes a while on a busy machine,
		// and the dispatcher waits for the delete's answer only so long.
		if unblock != nil {
			reopened.Go(unblock)
		}
	}
	prov.mu.Unlock()
	j := e.createJob(t)
	p := waitStatus(t, e, j.GetId(), anonjobv1.JobStatus_JOB_STATUS_PROCESSING)
	prov.mu.Lock()
	calls := slices.Clone(prov.calls)
	prov.mu.Unlock()
	first, second := "file-"+j.GetId()+"-1", "file-"+j.GetId()+"-2"
	want := []string{"upload " + first, "delete " + first, "upload " + second}
	if !slices.Equal(calls, want) {
		t.Fatalf("engine calls %v, want %v", calls, want)
	}
	if p.GetProviderFileId() != second {
		t.Fatalf("job recorded file %q, want %q", p.GetProviderFileId(), second)
	}
	if !strings.Contains(logs.String(), "deleted unrecorded file at the engine") {
		t.Fatalf("no log line for the deletion:\n%s", logs.String())
	}
}

// TestEmbeddedDatabaseKilled kills the embedded PostgreSQL under a running server: it is
// restarted, readiness goes false then true, no job is lost or uploaded twice, and an open
// watch sees every job's events exactly once.
func TestEmbeddedDatabaseKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil { // the server may run as the postgres user
			t.Fatal(err)
		}
	}
	prov := newFakeProvider(t)
	var logs testlog.Buffer
	e := startOn(t, "", withProvider(prov), func(c *server.Config) {
		c.DataDir = dir
		c.ReadyInterval = 100 * time.Millisecond
		c.Log = logs.TextLogger(slog.LevelInfo)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	health := healthpb.NewHealthClient(dial(t, e.srv.GRPCAddr().String(), ""))
	hw, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var statuses []healthpb.HealthCheckResponse_ServingStatus
	go func() {
		for {
			m, err := hw.Recv()
			if err != nil {
				return
			}
			mu.Lock()
			statuses = append(statuses, m.GetStatus())
			mu.Unlock()
		}
	}()
	watch, _ := watchJobs(ctx, t, e.jobs, &anonjobv1.WatchJobsRequest{})
	var ids []string
	for range 5 {
		ids = append(ids, e.createJob(t).GetId())
	}
	for _, id := range ids {
		waitStatus(t, e, id, anonjobv1.JobStatus_JOB_STATUS_PROCESSING)
	}

	pid := e.srv.DatabasePID()
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Alive throughout: the process must not be restarted for its database's fault.
	if r := e.do(http.MethodGet, "/livez", "", nil); r.status != http.StatusOK {
		t.Errorf("/livez during the outage: %d %s", r.status, r.raw)
	}
	// Clients retry through the outage, as they should on UNAVAILABLE or 503.
	for len(ids) < 10 {
		resp, err := e.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{Data: testPNG(t)}, Face: true,
			RequestId: fmt.Sprintf("after-kill-%d", len(ids))})
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		ids = append(ids, resp.GetJob().GetId())
	}
	for {
		r := e.do(http.MethodGet, "/readyz", "", nil)
		if r.status == http.StatusOK {
			break
		}
		if r.status == http.StatusServiceUnavailable && !strings.Contains(string(r.raw), `"database"`) {
			t.Errorf("/readyz names no database problem: %s", r.raw)
		}
		if ctx.Err() != nil {
			t.Fatal("never ready again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("database killed -> /readyz 200 again: %v", time.Since(killed).Round(time.Millisecond))
	if e.srv.DatabasePID() == pid {
		t.Fatal("the database was not restarted")
	}
	for _, id := range ids {
		waitStatus(t, e, id, anonjobv1.JobStatus_JOB_STATUS_PROCESSING)
	}
	for id, n := range prov.uploadCounts() {
		if n != 1 {
			t.Errorf("job %s uploaded %d times", id, n)
		}
	}
	// The watch opened before the kill sees each job queued and then processing, once each.
	seen := map[string][]anonjobv1.JobStatus{}
	var last int64
	for done := 0; done < len(ids); {
		msg, err := watch.Recv()
		if err != nil {
			t.Fatalf("watch across the restart: %v (seen %v)", err, seen)
		}
		for _, ev := range msg.GetEvents() {
			if ev.GetRevision() <= last {
				t.Fatalf("revision %d after %d", ev.GetRevision(), last)
			}
			last = ev.GetRevision()
			id := ev.GetJob().GetId()
			seen[id] = append(seen[id], ev.GetJob().GetStatus())
			if ev.GetJob().GetStatus() == anonjobv1.JobStatus_JOB_STATUS_PROCESSING {
				done++
			}
		}
	}
	for _, id := range ids {
		if want := []anonjobv1.JobStatus{anonjobv1.JobStatus_JOB_STATUS_QUEUED, anonjobv1.JobStatus_JOB_STATUS_PROCESSING}; !slices.Equal(seen[id], want) {
			t.Errorf("job %s: watch saw %v, want %v", id, seen[id], want)
		}
	}
	mu.Lock()
	got := slices.Compact(slices.Clone(statuses))
	mu.Unlock()
	want := []healthpb.HealthCheckResponse_ServingStatus{healthpb.HealthCheckResponse_SERVING,
		healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_SERVING}
	if !slices.Equal(got, want) {
		t.Errorf("gRPC health went %v, want %v", got, want)
	}
	for _, line := range []string{"embedded PostgreSQL exited; restarting it", "embedded PostgreSQL restarted"} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("no log line %q", line)
		}
	}
}
