package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/onnxrt"
	"github.com/anonjob/anonjob/internal/server"
)

// TestEndToEndWithBuiltInEngine runs the whole flow over real HTTP: anonjobd uploads to its
// built-in engine, the engine posts its webhook back, watchers see every step, and the result
// downloads through anonjob.
func TestEndToEndWithBuiltInEngine(t *testing.T) {
	if !onnxrt.Available() {
		t.Skip("the built-in engine needs cgo")
	}
	t.Parallel()
	e := newEnv(t, func(c *server.Config) {
		c.Dispatch = true
		c.DataDir = t.TempDir()
	})
	// A bound, not a timing: the job takes well under a second, even under the race detector.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	watch, _ := watchJobs(ctx, t, e.jobs, &anonjobv1.WatchJobsRequest{})
	// The flow, not the detector, is under test here (the engine's own tests and the quality
	// command measure detection): a small image keeps it quick.
	img := testJPEG(t)
	created, err := e.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{ContentType: "image/jpeg", Data: img},
		Face: true, LicensePlate: true})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetJob().GetId()
	var seen []anonjobv1.JobStatus
	var done *anonjobv1.Job
	for done == nil {
		msg, err := watch.Recv()
		if err != nil {
			t.Fatalf("after %v: %v", seen, err)
		}
		for _, ev := range msg.GetEvents() {
			if ev.GetJob().GetId() != id {
				continue
			}
			seen = append(seen, ev.GetJob().GetStatus())
			switch ev.GetJob().GetStatus() {
			case anonjobv1.JobStatus_JOB_STATUS_DONE:
				done = ev.GetJob()
			case anonjobv1.JobStatus_JOB_STATUS_FAILED:
				t.Fatalf("job failed: %v", ev.GetJob().GetError())
			}
		}
	}
	want := []anonjobv1.JobStatus{anonjobv1.JobStatus_JOB_STATUS_QUEUED, anonjobv1.JobStatus_JOB_STATUS_PROCESSING, anonjobv1.JobStatus_JOB_STATUS_DONE}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("watcher saw %v, want %v", seen, want)
	}
	if done.GetProviderFileId() == "" || done.GetResults().GetAnonymizedLink() == "" {
		t.Fatalf("done job lacks engine file and links: %v", done)
	}
	// The watcher's links, like GetJob's, are anonjob's own and download with the client's key.
	checkResultLinks(t, e, done, nil)
	viaGet, err := e.jobs.GetJob(ctx, &anonjobv1.GetJobRequest{Id: id})
	if err != nil || viaGet.GetJob().GetResults().GetMetadataLink() != done.GetResults().GetMetadataLink() {
		t.Fatalf("GetJob links %v, watch links %v (%v)", viaGet.GetJob().GetResults(), done.GetResults(), err)
	}
	// The image is kept until the job ends (another engine may need it), then deleted by the
	// engine pool's next round.
	for deadline := time.Now().Add(20 * time.Second); e.input(id) != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("input kept after the job ended")
		}
	}
	// The receipt is written right after the job's change commits.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n := e.receipts(id, "WEBHOOK_OUTCOME_APPLIED")
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d applied webhook receipts, want 1", n)
		}
	}
	// The anonymized image and the metadata download through anonjob.
	r := e.do(http.MethodGet, "/v1/jobs/"+id+"/files/anonymized", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("download: %d %s", r.status, r.raw)
	}
	got, format, err := image.Decode(bytes.NewReader(r.raw))
	orig, _, _ := image.Decode(bytes.NewReader(img))
	if err != nil || format != "jpeg" || got.Bounds() != orig.Bounds() {
		t.Fatalf("anonymized file: %v %s %v", err, format, got)
	}
	m := e.do(http.MethodGet, "/v1/jobs/"+id+"/files/metadata", "", nil)
	var meta struct{ Size []int }
	if err := json.Unmarshal(m.raw, &meta); m.status != 200 || err != nil || len(meta.Size) != 2 {
		t.Fatalf("metadata: %d %s", m.status, m.raw)
	}
	// Over gRPC the file streams in chunks.
	stream, err := e.jobs.GetJobFile(ctx, &anonjobv1.GetJobFileRequest{Id: id, Kind: "anonymized"})
	if err != nil {
		t.Fatal(err)
	}
	var viaGRPC []byte
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		viaGRPC = append(viaGRPC, chunk.GetData()...)
	}
	if !bytes.Equal(viaGRPC, r.raw) {
		t.Fatalf("gRPC file is %d bytes, REST %d", len(viaGRPC), len(r.raw))
	}
	// Bad file requests.
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/v1/jobs/" + id + "/files/thumbnail", 400},
		{"/v1/jobs/0190c6f2-0000-7000-8000-000000000000/files/anonymized", 404},
	} {
		if r := e.do(http.MethodGet, tc.path, "", nil); r.status != tc.status {
			t.Errorf("GET %s = %d %s", tc.path, r.status, r.raw)
		}
	}
	// A job that is not DONE has no files. The engine may finish a tiny image before the
	// cancel arrives; a job that got there first is no use here, so take the next.
	var cancelled string
	for attempt := 0; cancelled == ""; attempt++ {
		id := e.createJob(t).GetId()
		_, err := e.jobs.CancelJob(ctx, &anonjobv1.CancelJobRequest{Id: id})
		switch {
		case err == nil:
			cancelled = id
		case status.Code(err) != codes.FailedPrecondition || attempt == 20:
			t.Fatal(err)
		}
	}
	if r := e.do(http.MethodGet, "/v1/jobs/"+cancelled+"/files/anonymized", "", nil); r.status != http.StatusConflict {
		t.Errorf("file of a cancelled job: %d %s", r.status, r.raw)
	}
	fs, err := e.jobs.GetJobFile(ctx, &anonjobv1.GetJobFileRequest{Id: cancelled, Kind: "anonymized"})
	if err == nil {
		_, err = fs.Recv()
	}
	assertStatus(t, err, codes.FailedPrecondition, "JOB_NOT_DONE", "")
}

// fakeProvider stands in for the hosted Celantur API at the network edge.
type fakeProvider struct {
	*httptest.Server
	mu       sync.Mutex
	uploads  map[string]int    // job id (sent as name) -> uploads
	webhooks map[string]string // file id -> callback URL
	status   string            // what GET status answers
	upload   func(w http.ResponseWriter) bool
	deleted  []string
	onDelete func()   // called before a delete is answered
	calls    []string // "upload FILE" and "delete FILE", in order
}

func newFakeProvider(t *testing.T) *fakeProvider {
	f := &fakeProvider{uploads: map[string]int{}, webhooks: map[string]string{}, status: "processing"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/signin", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"AccessToken":"tok","ExpiresIn":3600}`)
	})
	mux.HandleFunc("POST /v1/file", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.upload != nil && !f.upload(w) {
			return
		}
		name := r.URL.Query().Get("name")
		f.uploads[name]++
		fileID := fmt.Sprintf("file-%s-%d", name, f.uploads[name])
		f.webhooks[fileID] = r.URL.Query().Get("webhook")
		f.calls = append(f.calls, "upload "+fileID)
		_, _ = fmt.Fprintf(w, `{"customer_id":"c","file_id":%q,"file_status":"queued","webhook_status":"set"}`, fileID)
	})
	mux.HandleFunc("GET /v1/file/{id}/status", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		_, _ = fmt.Fprintf(w, `{"file_id":%q,"file_status":%q}`, r.PathValue("id"), f.status)
	})
	mux.HandleFunc("GET /v1/file/{id}/{kind}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = fmt.Fprintf(w, "%s of %s", r.PathValue("kind"), r.PathValue("id"))
	})
	mux.HandleFunc("DELETE /v1/file/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.deleted = append(f.deleted, r.PathValue("id"))
		f.calls = append(f.calls, "delete "+r.PathValue("id"))
		if f.onDelete != nil {
			f.onDelete()
		}
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeProvider) uploadCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.uploads {
		out[k] = v
	}
	return out
}

func withProvider(f *fakeProvider) option {
	return func(c *server.Config) {
		c.Dispatch = true
		c.ProviderURL = f.URL
		c.ProviderCredentials.Username, c.ProviderCredentials.Password = "u", "p"
	}
}

func waitStatus(t *testing.T, e *env, id string, want anonjobv1.JobStatus) *anonjobv1.Job {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, err := e.jobs.GetJob(context.Background(), &anonjobv1.GetJobRequest{Id: id})
		if err == nil && resp.GetJob().GetStatus() == want {
			return resp.GetJob()
		}
	}
	t.Fatalf("job %s never became %v", id, want)
	return nil
}

func TestDispatchThroughProvider(t *testing.T) {
	t.Parallel()
	prov := newFakeProvider(t)
	e := newEnv(t, withProvider(prov), func(c *server.Config) {
		c.WebhookDeadline = 50 * time.Millisecond
		c.InputRetention = time.Hour
	})
	j := e.createJob(t)
	p := waitStatus(t, e, j.GetId(), anonjobv1.JobStatus_JOB_STATUS_PROCESSING)
	if e.input(j.GetId()) == nil {
		t.Fatalf("image deleted within its retention")
	}
	if n, err := e.srv.Store.DeleteInputsBefore(context.Background(), time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("retention sweep deleted %d, %v", n, err)
	}
	// The engine got a callback URL that leads back to this job, query string intact.
	prov.mu.Lock()
	hook := prov.webhooks[p.GetProviderFileId()]
	prov.mu.Unlock()
	u, err := url.Parse(hook)
	if err != nil || u.Query().Get("job_id") != j.GetId() || u.Query().Get("token") == "" || u.Path != "/v1/webhooks/celantur" {
		t.Fatalf("callback url %q", hook)
	}
	// No webhook comes: the reconciler polls, and the engine says done.
	prov.mu.Lock()
	prov.status = "done"
	prov.mu.Unlock()
	d := waitStatus(t, e, j.GetId(), anonjobv1.JobStatus_JOB_STATUS_DONE)
	// The engine's links are kept behind the API; clients get anonjob's own, which download
	// with the client's key.
	if r := e.storedJob(j.GetId()).Results; r == nil ||
		r.AnonymizedLink != prov.URL+"/v1/file/"+p.GetProviderFileId()+"/anonymized" {
		t.Fatalf("engine link from the poll not stored")
	}
	checkResultLinks(t, e, d, func(kind string) string { return kind + " of " + p.GetProviderFileId() })
}

// checkResultLinks checks that every result link of a DONE job is anonjob's own file URL and
// that a client downloads it with its key (and only with it).
func checkResultLinks(t *testing.T, e *env, j *anonjobv1.Job, want func(kind string) string) {
	t.Helper()
	r := j.GetResults()
	links := map[string]string{"original": r.GetOriginalLink(), "anonymized": r.GetAnonymizedLink(),
		"binary-mask": r.GetBinaryMaskLink(), "instance-mask": r.GetInstanceMaskLink(), "metadata": r.GetMetadataLink()}
	for kind, link := range links {
		if link != e.srv.PublicURL()+"/v1/jobs/"+j.GetId()+"/files/"+kind {
			t.Errorf("%s link %q is not anonjob's file URL", kind, link)
			continue
		}
		got := httpGet(t, link, e.key)
		if got.status != http.StatusOK || (want != nil && string(got.raw) != want(kind)) {
			t.Errorf("GET %s with the key: %d %.80q", link, got.status, got.raw)
		}
		if got := httpGet(t, link, ""); got.status != http.StatusUnauthorized {
			t.Errorf("GET %s without a key: %d", link, got.status)
		}
		if got := httpGet(t, link, e.rivalKey); got.status != http.StatusNotFound {
			t.Errorf("GET %s with another customer's key: %d", link, got.status)
		}
	}
}

// httpGet fetches an absolute URL with an API key ("" for none).
func httpGet(t *testing.T, link, key string) httpResult {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, link, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	return httpResult{status: resp.StatusCode, raw: raw}
}

func TestDispatchFailuresAndRetries(t *testing.T) {
	t.Parallel()
	prov := newFakeProvider(t)
	calls := 0
	prov.upload = func(w http.ResponseWriter) bool {
		calls++
		switch calls {
		case 1:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"message":"unsupported image"}`)
			return false
		}
		return true
	}
	e := newEnv(t, withProvider(prov))
	rejected := e.createJob(t)
	f := waitStatus(t, e, rejected.GetId(), anonjobv1.JobStatus_JOB_STATUS_FAILED)
	if f.GetError().GetCode() != "PROVIDER_REJECTED" {
		t.Fatalf("rejected job error %v", f.GetError())
	}
	if prov.uploadCounts()[rejected.GetId()] != 0 || calls != 1 {
		t.Fatalf("a 400 was retried: %d calls", calls)
	}
	ok := e.createJob(t)
	waitStatus(t, e, ok.GetId(), anonjobv1.JobStatus_JOB_STATUS_PROCESSING)
	if prov.uploadCounts()[ok.GetId()] != 1 {
		t.Fatalf("uploads %v", prov.uploadCounts())
	}
}

// TestTwoDispatchersUploadEachJobOnce: two replicas dispatching from one database.
func TestTwoDispatchersUploadEachJobOnce(t *testing.T) {
	t.Parallel()
	prov := newFakeProvider(t)
	a := newEnv(t) // dispatch off while the jobs are queued
	const n = 200
	ids := make([]string, n)
	cancelled := map[string]bool{}
	for i := range ids {
		ids[i] = a.createJob(t).GetId()
		if i%10 == 0 { // cancelled jobs are never uploaded
			if _, err := a.jobs.CancelJob(context.Background(), &anonjobv1.CancelJobRequest{Id: ids[i]}); err != nil {
				t.Fatal(err)
			}
			cancelled[ids[i]] = true
		}
	}
	startOn(t, a.dbURL, withProvider(prov))
	startOn(t, a.dbURL, withProvider(prov))
	for deadline := time.Now().Add(60 * time.Second); a.jobCount(job.StatusQueued) > 0; {
		if time.Now().After(deadline) {
			t.Fatal("jobs still queued")
		}
		time.Sleep(20 * time.Millisecond)
	}
	counts := prov.uploadCounts()
	for _, id := range ids {
		want := 1
		if cancelled[id] {
			want = 0
		}
		if counts[id] != want {
			t.Errorf("job %s (cancelled: %v) uploaded %d times", id, cancelled[id], counts[id])
		}
	}
}
