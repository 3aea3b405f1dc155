package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/server"
)

func TestCallsNeedAValidKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) { c.KeyCacheTTL = time.Nanosecond })
	ctx := context.Background()
	j := e.createJob(t)
	// A key that worked, then was revoked.
	revokedKey := createKey(t, e, "acme")
	revoked := dial(t, e.srv.GRPCAddr().String(), revokedKey)
	if _, err := anonjobv1.NewJobServiceClient(revoked).GetJob(ctx, &anonjobv1.GetJobRequest{Id: j.GetId()}); err != nil {
		t.Fatalf("fresh key: %v", err)
	}
	if err := e.srv.Store.RevokeAPIKey(ctx, strings.Split(revokedKey, "_")[1]); err != nil {
		t.Fatal(err)
	}
	tampered := e.key[:len(e.key)-1] + map[bool]string{true: "A", false: "B"}[!strings.HasSuffix(e.key, "A")]
	for name, key := range map[string]string{
		"no key": "", "garbage": "hunter2", "wrong secret": tampered, "revoked": revokedKey,
		"unknown id": "aj_0000000000000000_" + strings.Repeat("A", 43),
	} {
		c := anonjobv1.NewJobServiceClient(dial(t, e.srv.GRPCAddr().String(), key))
		_, err := c.GetJob(ctx, &anonjobv1.GetJobRequest{Id: j.GetId()})
		assertStatus(t, err, codes.Unauthenticated, "UNAUTHENTICATED", "")
		assertStatus(t, watchError(ctx, c, &anonjobv1.WatchJobsRequest{}), codes.Unauthenticated, "UNAUTHENTICATED", "")
		r := e.doAs(key, http.MethodGet, "/v1/jobs/"+j.GetId(), "", nil)
		if r.status != http.StatusUnauthorized || !strings.Contains(string(r.raw), "missing or invalid API key") {
			t.Errorf("%s: REST %d %s", name, r.status, r.raw)
		}
		if r := e.doAs(key, http.MethodPost, "/v1/jobs?face=true", "image/png", testPNG(t)); r.status != http.StatusUnauthorized {
			t.Errorf("%s: REST create %d %s", name, r.status, r.raw)
		}
	}
	if n := e.jobCount(); n != 1 {
		t.Fatalf("%d jobs after refused creates", n)
	}
	// Health and the provider's webhook need no key.
	if r := e.doAs("", http.MethodGet, "/healthz", "", nil); r.status != http.StatusOK {
		t.Fatalf("healthz: %d", r.status)
	}
	if r := e.doAs("", http.MethodPost, e.callback(j.GetId()), "application/json", []byte(`{"file_id":"x","file_status":"processing"}`)); r.status == http.StatusUnauthorized {
		t.Fatalf("webhook asked for a key: %s", r.raw)
	}
}

func TestCustomersAreIsolated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) { c.Heartbeat = 50 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The rival watches everything from before acme's job.
	stream, _ := watchJobs(ctx, t, e.rival, &anonjobv1.WatchJobsRequest{})
	mine := e.createJob(t)
	before := e.snapshot(mine.GetId())
	_, err := e.rival.GetJob(ctx, &anonjobv1.GetJobRequest{Id: mine.GetId()})
	assertStatus(t, err, codes.NotFound, "JOB_NOT_FOUND", "")
	_, err = e.rival.CancelJob(ctx, &anonjobv1.CancelJobRequest{Id: mine.GetId()})
	assertStatus(t, err, codes.NotFound, "JOB_NOT_FOUND", "")
	fs, err := e.rival.GetJobFile(ctx, &anonjobv1.GetJobFileRequest{Id: mine.GetId(), Kind: "anonymized"})
	if err == nil {
		_, err = fs.Recv()
	}
	assertStatus(t, err, codes.NotFound, "JOB_NOT_FOUND", "")
	if l, err := e.rival.ListJobs(ctx, &anonjobv1.ListJobsRequest{}); err != nil || len(l.GetJobs()) != 0 {
		t.Fatalf("rival lists %v, %v", l, err)
	}
	for _, path := range []string{"/v1/jobs/" + mine.GetId(), "/v1/jobs/" + mine.GetId() + "/files/anonymized"} {
		if r := e.doAs(e.rivalKey, http.MethodGet, path, "", nil); r.status != http.StatusNotFound {
			t.Errorf("rival GET %s: %d %s", path, r.status, r.raw)
		}
	}
	if r := e.doAs(e.rivalKey, http.MethodPost, "/v1/jobs/"+mine.GetId()+":cancel", "", nil); r.status != http.StatusNotFound {
		t.Errorf("rival cancel: %d %s", r.status, r.raw)
	}
	if after := e.snapshot(mine.GetId()); after != before {
		t.Fatalf("rival changed acme's job")
	}
	// request_id is per customer: the same id makes the rival its own job.
	req := &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{Data: testPNG(t)}, Face: true, RequestId: "shared-id"}
	a, err := e.jobs.CreateJob(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.rival.CreateJob(ctx, req)
	if err != nil || b.GetJob().GetId() == a.GetJob().GetId() {
		t.Fatalf("rival's request_id: %v, %v", b, err)
	}
	// The rival's watch carries its own job only, never acme's.
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range msg.GetEvents() {
			if ev.GetJob().GetId() != b.GetJob().GetId() {
				t.Fatalf("rival watched another customer's job %s", ev.GetJob().GetId())
			}
			return
		}
	}
}

func TestWatchStreamsPerCustomerAreBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) { c.MaxWatchesPerCustomer = 2 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func(c anonjobv1.JobServiceClient) error {
		s, err := c.WatchJobs(ctx, &anonjobv1.WatchJobsRequest{})
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}
	for range 2 {
		if err := open(e.jobs); err != nil {
			t.Fatal(err)
		}
	}
	assertStatus(t, open(e.jobs), codes.ResourceExhausted, "TOO_MANY_WATCHES", "")
	if err := open(e.rival); err != nil {
		t.Fatalf("another customer's watch: %v", err)
	}
}

// TestSecretsStayOutOfLogs: API keys, callback tokens and query strings never reach the log.
func TestSecretsStayOutOfLogs(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var logs bytes.Buffer
	e := newEnv(t, func(c *server.Config) {
		c.Log = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	id := e.processingJob("f-log")
	cb := e.callback(id)
	u, _ := url.Parse(cb)
	token := u.Query().Get("token")
	e.do(http.MethodPost, cb, "application/json", []byte(donePayload("f-log")))
	e.do(http.MethodPost, strings.Replace(cb, "token=", "token=X", 1), "application/json", []byte(donePayload("f-log")))
	e.doAs("aj_0000000000000000_"+strings.Repeat("S", 43), http.MethodGet, "/v1/jobs?page_token=secret-token-xyz", "", nil)
	e.do(http.MethodGet, "/v1/jobs/"+id, "", nil)
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "/v1/webhooks/celantur") {
		t.Fatalf("the requests were not logged at all:\n%s", out)
	}
	for _, secret := range []string{token, e.key, strings.SplitN(e.key, "_", 3)[2], strings.Repeat("S", 43), "secret-token-xyz"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log contains a secret %q:\n%s", secret, out)
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestCallbackURLMustBePublic: a callback_url may not lead to this machine, a private network
// or a cloud metadata service, by address or by a name resolving to one.
func TestCallbackURLMustBePublic(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) { c.CallbackAllowCIDRs = nil })
	for _, cb := range []string{
		"https://127.0.0.1/hook", "http://127.0.0.1:8080/hook", "https://10.0.0.1/hook",
		"https://169.254.169.254/latest/meta-data", "https://localhost/hook", "https://[::1]/hook",
		"https://[::ffff:10.0.0.1]/hook", "https://2130706433/hook", "https://user:pw@127.0.0.1/hook",
	} {
		r := e.postImage(url.Values{"face": {"true"}, "callback_url": {cb}}, "image/png", testPNG(t))
		if r.status != http.StatusBadRequest || !strings.Contains(asString(r.body["message"]), "callback_url") {
			t.Errorf("callback_url %s: %d %s", cb, r.status, r.raw)
		}
	}
	if n := e.jobCount(); n != 0 {
		t.Fatalf("refused callbacks made %d jobs", n)
	}
}

// TestQuietWatcherGetsHeartbeatsWhileOthersAreBusy: another customer's steady traffic must not
// starve a watcher of its heartbeats (each batch used to restart its idle timer).
func TestQuietWatcherGetsHeartbeatsWhileOthersAreBusy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) { c.Heartbeat = 200 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, first := watchJobs(ctx, t, e.rival, &anonjobv1.WatchJobsRequest{})
	stop := make(chan struct{})
	busy := make(chan struct{})
	go func() { // acme commits every 20 ms
		defer close(busy)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				e.createJob(t)
			}
		}
	}()
	defer func() { close(stop); <-busy }()
	// Heartbeats that come before acme's first commit carry the old revision; the ones after
	// must carry acme's, although none of acme's events reach the rival.
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("waiting for a heartbeat past acme's commits: %v", err)
		}
		if len(msg.GetEvents()) != 0 {
			t.Fatalf("rival got events %v; want heartbeats only", msg)
		}
		if msg.GetRevision() > first.GetRevision() {
			return
		}
	}
}
