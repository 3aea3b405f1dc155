package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/server"
)

func TestRESTJobLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	img := testJPEG(t)
	r := e.postImage(url.Values{"method": {"pixelate"}, "face": {"true"}, "license_plate": {"true"}}, "image/jpeg", img)
	if r.status != http.StatusOK {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := asString(r.body["id"])
	if asString(r.body["status"]) != "JOB_STATUS_QUEUED" || asString(r.body["method"]) != "pixelate" ||
		r.body["face"] != true || r.body["license_plate"] != true || asString(r.body["content_type"]) != "image/jpeg" {
		t.Fatalf("created job = %s", r.raw)
	}
	if got := len(e.input(id)); got != len(img) {
		t.Fatalf("stored input is %d bytes, sent %d", got, len(img))
	}

	g := e.do(http.MethodGet, "/v1/jobs/"+id, "", nil)
	if g.status != http.StatusOK || asString(g.body["id"]) != id || asString(g.body["revision"]) == "" {
		t.Fatalf("get: %d %s", g.status, g.raw)
	}
	l := e.do(http.MethodGet, "/v1/jobs?status=queued", "", nil)
	if jobs, _ := l.body["jobs"].([]any); l.status != http.StatusOK || len(jobs) != 1 {
		t.Fatalf("list: %d %s", l.status, l.raw)
	}
	c := e.do(http.MethodPost, "/v1/jobs/"+id+":cancel", "", nil)
	if c.status != http.StatusOK || asString(c.body["status"]) != "JOB_STATUS_CANCELLED" {
		t.Fatalf("cancel: %d %s", c.status, c.raw)
	}
	// Cancelling again changes nothing and is not an error.
	events := len(e.events(id))
	if c2 := e.do(http.MethodPost, "/v1/jobs/"+id+":cancel", "application/json", []byte(`{}`)); c2.status != http.StatusOK {
		t.Fatalf("second cancel: %d %s", c2.status, c2.raw)
	}
	if got := len(e.events(id)); got != events || events != 2 {
		t.Fatalf("events after cancels = %d then %d, want 2 both times", events, got)
	}
	if l := e.do(http.MethodGet, "/v1/jobs?status=queued", "", nil); l.body["jobs"] != nil || asString(l.body["revision"]) == "" {
		t.Fatalf("queued list after cancel: %s", l.raw)
	}
}

func TestGRPCJobLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	resp, err := e.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{
		Image: &httpbody.HttpBody{Data: testPNG(t)}, LicensePlate: true, CallbackUrl: "https://127.0.0.1:9443/done?x=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	j := resp.GetJob()
	if j.GetMethod() != "blur" || j.GetContentType() != "image/png" || j.GetCallbackUrl() != "https://127.0.0.1:9443/done?x=1" {
		t.Fatalf("created %v", j)
	}
	got, err := e.jobs.GetJob(ctx, &anonjobv1.GetJobRequest{Id: j.GetId()})
	if err != nil || got.GetJob().GetRevision() != j.GetRevision() {
		t.Fatalf("GetJob = %v, %v", got, err)
	}
	c, err := e.jobs.CancelJob(ctx, &anonjobv1.CancelJobRequest{Id: j.GetId()})
	if err != nil || c.GetJob().GetStatus() != anonjobv1.JobStatus_JOB_STATUS_CANCELLED || c.GetJob().GetRevision() <= j.GetRevision() {
		t.Fatalf("CancelJob = %v, %v", c, err)
	}
}

func TestCreateJobIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	img := testPNG(t)
	req := &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{ContentType: "image/png", Data: img}, Face: true, RequestId: "req-1"}
	// Concurrent retries of one request make one job.
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.jobs.CreateJob(ctx, req)
			if err != nil {
				t.Errorf("retry %d: %v", i, err)
				return
			}
			ids[i] = resp.GetJob().GetId()
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("retries made different jobs: %v", ids)
		}
	}
	if n := e.jobCount(); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
	// The same request over REST is the same request.
	r := e.postImage(url.Values{"face": {"true"}, "request_id": {"req-1"}}, "image/png", img)
	if r.status != http.StatusOK || asString(r.body["id"]) != ids[0] {
		t.Fatalf("REST retry: %d %s", r.status, r.raw)
	}
	// Reusing the id for another request is refused.
	other := e.postImage(url.Values{"license_plate": {"true"}, "request_id": {"req-1"}}, "image/png", img)
	if other.status != http.StatusConflict || other.reason() != "REQUEST_ID_REUSED" {
		t.Fatalf("reused request_id: %d %s", other.status, other.raw)
	}
	if n := len(e.events("")); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
}

func TestCreateJobRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) { c.MaxUploadBytes = 4096 })
	png, jpg := testPNG(t), testJPEG(t)
	big := append(append([]byte{}, png...), make([]byte, 5000)...)
	face := url.Values{"face": {"true"}}
	cases := []struct {
		name        string
		query       url.Values
		contentType string
		body        []byte
		wantStatus  int
		wantReason  string
		wantField   string
	}{
		{"unknown method", url.Values{"face": {"true"}, "method": {"smudge"}}, "image/png", png, 400, "INVALID_METHOD", "method"},
		{"no target", url.Values{"method": {"blur"}}, "image/png", png, 400, "NO_TARGET", "face"},
		{"empty body", face, "image/png", nil, 400, "EMPTY_IMAGE", "image"},
		{"not an image", face, "image/png", []byte("hello, this is text"), 400, "NOT_AN_IMAGE", "image"},
		{"truncated png", face, "image/png", png[:40], 400, "NOT_AN_IMAGE", "image"},
		{"wrong content type", face, "text/plain", png, 415, "UNSUPPORTED_CONTENT_TYPE", "image.content_type"},
		{"no content type", face, "", png, 415, "UNSUPPORTED_CONTENT_TYPE", "image.content_type"},
		{"json body", face, "application/json", []byte(`{"data":"aGk="}`), 415, "UNSUPPORTED_CONTENT_TYPE", "image.content_type"},
		{"content type mismatch", face, "image/jpeg", png, 400, "CONTENT_TYPE_MISMATCH", "image.content_type"},
		{"jpeg sent as png", face, "image/png", jpg, 400, "CONTENT_TYPE_MISMATCH", "image.content_type"},
		{"body over the limit", face, "image/png", big, 413, "BODY_TOO_LARGE", "body"},
		{"bad callback url", url.Values{"face": {"true"}, "callback_url": {"ftp://x"}}, "image/png", png, 400, "INVALID_URL", "callback_url"},
		{"control character in request id", url.Values{"face": {"true"}, "request_id": {"a\x00b"}}, "image/png", png, 400, "INVALID_CHARACTERS", "request_id"},
		{"request id too long", url.Values{"face": {"true"}, "request_id": {strings.Repeat("r", 200)}}, "image/png", png, 400, "TOO_LONG", "request_id"},
		{"bad boolean", url.Values{"face": {"maybe"}}, "image/png", png, 400, "INVALID_PARAMETER", "face"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.postImage(tc.query, tc.contentType, tc.body)
			if r.status != tc.wantStatus || r.reason() != tc.wantReason {
				t.Fatalf("got %d %q, want %d %q: %s", r.status, r.reason(), tc.wantStatus, tc.wantReason, r.raw)
			}
			if tc.wantField != "" && !strings.Contains(asString(r.body["message"]), tc.wantField) {
				t.Fatalf("message does not name %s: %s", tc.wantField, r.raw)
			}
		})
	}
	if n := e.jobCount() + len(e.events("")); n != 0 {
		t.Fatalf("bad input left %d rows behind", n)
	}
}

func TestGRPCRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *server.Config) { c.MaxUploadBytes = 4096 })
	ctx := context.Background()
	png := testPNG(t)
	cases := []struct {
		name   string
		req    *anonjobv1.CreateJobRequest
		code   codes.Code
		reason string
		field  string
	}{
		{"no image", &anonjobv1.CreateJobRequest{Face: true}, codes.InvalidArgument, "EMPTY_IMAGE", "image"},
		{"gif", &anonjobv1.CreateJobRequest{Face: true, Image: &httpbody.HttpBody{Data: []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")}}, codes.InvalidArgument, "NOT_AN_IMAGE", "image"},
		{"declared gif", &anonjobv1.CreateJobRequest{Face: true, Image: &httpbody.HttpBody{ContentType: "image/gif", Data: png}}, codes.InvalidArgument, "UNSUPPORTED_CONTENT_TYPE", "image.content_type"},
		{"over limit", &anonjobv1.CreateJobRequest{Face: true, Image: &httpbody.HttpBody{Data: append(append([]byte{}, png...), make([]byte, 5000)...)}}, codes.ResourceExhausted, "IMAGE_TOO_LARGE", "image"},
		{"no target", &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{Data: png}}, codes.InvalidArgument, "NO_TARGET", "face"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.jobs.CreateJob(ctx, tc.req)
			assertStatus(t, err, tc.code, tc.reason, tc.field)
		})
	}
	// Far over the limit, gRPC itself refuses the message.
	_, err := e.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{Face: true, Image: &httpbody.HttpBody{Data: make([]byte, 1<<20)}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("huge message: %v", err)
	}
	if n := e.jobCount(); n != 0 {
		t.Fatalf("bad input made %d jobs", n)
	}
}

// assertStatus checks the code, the ErrorInfo reason and the BadRequest field of an error.
func assertStatus(t *testing.T, err error, code codes.Code, reason, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("code %v, want %v (%v)", st.Code(), code, err)
	}
	var gotReason, gotField string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			gotReason = d.GetReason()
			if d.GetDomain() != "anonjob.dev" {
				t.Fatalf("domain %q", d.GetDomain())
			}
		case *errdetails.BadRequest:
			gotField = d.GetFieldViolations()[0].GetField()
		}
	}
	if gotReason != reason || gotField != field {
		t.Fatalf("reason %q field %q, want %q %q (%v)", gotReason, gotField, reason, field, err)
	}
}

func TestGetAndCancelErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	missing := "0190c6f2-0000-7000-8000-000000000000"
	for _, tc := range []struct {
		method, path string
		status       int
		reason       string
	}{
		{http.MethodGet, "/v1/jobs/" + missing, 404, "JOB_NOT_FOUND"},
		{http.MethodGet, "/v1/jobs/not-a-uuid", 400, "INVALID_ID"},
		{http.MethodPost, "/v1/jobs/" + missing + ":cancel", 404, "JOB_NOT_FOUND"},
		{http.MethodPost, "/v1/jobs/x:cancel", 400, "INVALID_ID"},
		{http.MethodDelete, "/v1/jobs/" + missing, 405, "METHOD_NOT_ALLOWED"},
	} {
		if r := e.do(tc.method, tc.path, "", nil); r.status != tc.status || r.reason() != tc.reason {
			t.Errorf("%s %s = %d %q, want %d %q: %s", tc.method, tc.path, r.status, r.reason(), tc.status, tc.reason, r.raw)
		}
	}
	_, err := e.jobs.GetJob(ctx, &anonjobv1.GetJobRequest{Id: missing})
	assertStatus(t, err, codes.NotFound, "JOB_NOT_FOUND", "")
}
