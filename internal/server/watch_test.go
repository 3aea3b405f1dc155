package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/server"
)

func (e *env) createJob(t testing.TB) *anonjobv1.Job {
	t.Helper()
	resp, err := e.jobs.CreateJob(context.Background(), &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{Data: testPNG(t)}, Face: true})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetJob()
}

// ndjsonLine is one line of a watch stream over HTTP.
type ndjsonLine struct {
	Result *struct {
		Events []struct {
			Revision string `json:"revision"`
			Job      struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"job"`
		} `json:"events"`
		Revision string `json:"revision"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestWatchOverHTTPStreamsNDJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) { c.Heartbeat = 50 * time.Millisecond })
	e.createJob(t) // so that the job below has a revision above 1: since_revision=0 means "from now"
	first := e.createJob(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp := watchHTTP(ctx, t, e, "?since_revision="+strconv.FormatInt(first.GetRevision()-1, 10))
	lines := bufio.NewScanner(resp.Body)
	next := func() ndjsonLine {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stream ended: %v", lines.Err())
		}
		var l ndjsonLine
		if err := json.Unmarshal(lines.Bytes(), &l); err != nil || l.Result == nil {
			t.Fatalf("line %q: %v", lines.Text(), err)
		}
		return l
	}
	if l := next(); len(l.Result.Events) != 0 { // the opening heartbeat
		t.Fatalf("first line has events: %+v", l)
	}
	// Replay of the job created before the watch (after heartbeats, if the hub is slow).
	l := next()
	for len(l.Result.Events) == 0 {
		l = next()
	}
	if len(l.Result.Events) != 1 || l.Result.Events[0].Job.ID != first.GetId() {
		t.Fatalf("replay line: %+v", l)
	}
	// Live: a cancel made now.
	if _, err := e.jobs.CancelJob(ctx, &anonjobv1.CancelJobRequest{Id: first.GetId()}); err != nil {
		t.Fatal(err)
	}
	for {
		l = next()
		if len(l.Result.Events) > 0 {
			break
		}
	}
	if l.Result.Events[0].Job.Status != "JOB_STATUS_CANCELLED" {
		t.Fatalf("live line: %+v", l)
	}
	// Idle: heartbeats carry the position.
	hb := next()
	if len(hb.Result.Events) != 0 || hb.Result.Revision != l.Result.Revision {
		t.Fatalf("heartbeat %+v after %+v", hb, l)
	}
}

func TestWatchFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := e.createJob(t), e.createJob(t)
	stream, err := e.jobs.WatchJobs(ctx, &anonjobv1.WatchJobsRequest{SinceRevision: a.GetRevision() - 1, JobId: b.GetId(),
		Status: []anonjobv1.JobStatus{anonjobv1.JobStatus_JOB_STATUS_CANCELLED}})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []*anonjobv1.Job{a, b} {
		if _, err := e.jobs.CancelJob(ctx, &anonjobv1.CancelJobRequest{Id: j.GetId()}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.GetEvents()) == 0 {
			continue
		}
		if ev := msg.GetEvents(); len(ev) != 1 || ev[0].GetJob().GetId() != b.GetId() ||
			ev[0].GetJob().GetStatus() != anonjobv1.JobStatus_JOB_STATUS_CANCELLED ||
			ev[0].GetPreviousStatus() != anonjobv1.JobStatus_JOB_STATUS_QUEUED {
			t.Fatalf("filtered watch got %v", ev)
		}
		return
	}
}

func TestWatchRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	old := e.createJob(t)
	e.createJob(t)
	if _, err := e.srv.Store.Compact(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.createJob(t) // the hub learns of the compaction when it next reads
	for e.srv.Hub.Pos() < old.GetRevision()+2 {
		time.Sleep(5 * time.Millisecond)
	}
	cases := []struct {
		query  string
		status int
		reason string
	}{
		{"since_revision=-1", 400, "INVALID_REVISION"},
		{"job_id=nope", 400, "INVALID_ID"},
		{"status=sleeping", 400, "INVALID_PARAMETER"},
		{"since_revision=" + strconv.FormatInt(old.GetRevision(), 10), 410, "REVISION_COMPACTED"},
	}
	for _, tc := range cases {
		// Errors found before the stream starts come as a plain error body; errors of the
		// stream itself as its one NDJSON line.
		r := e.do(http.MethodGet, "/v1/jobs:watch?"+tc.query, "", nil)
		var l struct{ Error map[string]any }
		_ = json.Unmarshal(r.raw, &l)
		if l.Error != nil {
			r.body = l.Error
		}
		if r.status != tc.status || r.reason() != tc.reason {
			t.Errorf("watch?%s = %d %q %s, want %d %q", tc.query, r.status, r.reason(), r.raw, tc.status, tc.reason)
		}
	}
	assertStatus(t, watchError(ctx, e.jobs, &anonjobv1.WatchJobsRequest{SinceRevision: old.GetRevision()}),
		codes.OutOfRange, "REVISION_COMPACTED", "since_revision")
}

// TestReplicasShareOneDatabase runs two servers on one database: writes through either are
// seen through both, and watchers on one replica that disconnect and resume at random see every
// event of the other exactly once and in order while clients write concurrently.
func TestReplicasShareOneDatabase(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	b := startOn(t, a.dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j := a.createJob(t)
	if got, err := b.jobs.GetJob(ctx, &anonjobv1.GetJobRequest{Id: j.GetId()}); err != nil || got.GetJob().GetRevision() != j.GetRevision() {
		t.Fatalf("replica b reads %v, %v", got, err)
	}
	start := j.GetRevision()
	const writers, perWriter, watchers = 8, 25, 3
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			via := []*env{a, b}[w%2]
			for range perWriter {
				job := via.createJob(t)
				if _, err := via.jobs.CancelJob(ctx, &anonjobv1.CancelJobRequest{Id: job.GetId()}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	total := writers * perWriter * 2
	results := make([][]int64, watchers)
	var wwg sync.WaitGroup
	for w := range watchers {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			since := start
			for len(results[w]) < total {
				wctx, wcancel := context.WithCancel(ctx)
				stream, err := b.jobs.WatchJobs(wctx, &anonjobv1.WatchJobsRequest{SinceRevision: since})
				if err != nil {
					wcancel()
					t.Error(err)
					return
				}
				for n := 1 + rng.IntN(8); n > 0 && len(results[w]) < total; n-- {
					msg, err := stream.Recv()
					if err != nil {
						wcancel()
						t.Error(err)
						return
					}
					for _, ev := range msg.GetEvents() {
						results[w] = append(results[w], ev.GetRevision())
					}
					since = msg.GetRevision()
				}
				wcancel() // drop the stream and resume from the last revision seen
			}
		}()
	}
	wg.Wait()
	wwg.Wait()
	var want []int64
	for _, ev := range a.events("") {
		if ev.Revision > start {
			want = append(want, ev.Revision)
		}
	}
	if len(want) != total {
		t.Fatalf("%d events in the database, want %d", len(want), total)
	}
	for w, got := range results {
		if len(got) != len(want) {
			t.Errorf("watcher %d got %d events, want %d", w, len(got), len(want))
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("watcher %d: event %d is revision %d, want %d", w, i, got[i], want[i])
				break
			}
		}
	}
}

func TestShutdownEndsWatchStreamsResumably(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, first := watchJobs(ctx, t, e.jobs, &anonjobv1.WatchJobsRequest{})
	done := make(chan struct{})
	go func() { e.srv.Close(); close(done) }()
	var err error
	for err == nil {
		_, err = stream.Recv()
	}
	<-done
	if errors.Is(err, io.EOF) {
		t.Fatal("stream ended without a status")
	}
	assertStatus(t, err, codes.Unavailable, "SERVER_SHUTTING_DOWN", "")
	if md := resumeRevision(err); md != strconv.FormatInt(first.GetRevision(), 10) {
		t.Fatalf("resume_revision %q, want %d", md, first.GetRevision())
	}
}

func resumeRevision(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(interface{ GetMetadata() map[string]string }); ok {
			return info.GetMetadata()["resume_revision"]
		}
	}
	return ""
}
