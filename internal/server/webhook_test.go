package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
)

// processingJob creates a job and moves it to PROCESSING as the dispatcher would, with the
// engine's file id.
func (e *env) processingJob(fileID string) string {
	e.t.Helper()
	ctx := context.Background()
	resp, err := e.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{Data: testPNG(e.t)}, Face: true})
	if err != nil {
		e.t.Fatal(err)
	}
	id := resp.GetJob().GetId()
	if _, _, err := e.srv.Store.Transition(ctx, id, store.Change{To: job.StatusProcessing, ProviderFileID: fileID}); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// callback returns the path and query of the job's callback URL, as handed to the engine.
func (e *env) callback(id string) string {
	base, err := url.Parse(e.srv.PublicURL())
	if err != nil {
		return "bad public url"
	}
	return e.srv.Signer.CallbackURL(base, id).RequestURI()
}

func donePayload(fileID string) string {
	return fmt.Sprintf(`{"customer_id": 42, "file_id": %q, "file_status": "done",
		"original_link": "https://engine.example/v1/file/%[1]s/original",
		"anonymized_link": "https://engine.example/v1/file/%[1]s/anonymized",
		"binary_mask_link": "https://engine.example/v1/file/%[1]s/binary-mask",
		"instance_mask_link": "https://engine.example/v1/file/%[1]s/instance-mask",
		"metadata_link": "https://engine.example/v1/file/%[1]s/metadata"}`, fileID)
}

// snapshot is a job as stored, its dispatch bookkeeping and its event count, to prove a
// request changed nothing.
func (e *env) snapshot(id string) string {
	ctx := context.Background()
	j, err := e.st.GetJob(ctx, id)
	if err != nil {
		return "error: " + err.Error()
	}
	d, err := e.st.DispatchState(ctx, id)
	if err != nil {
		return "error: " + err.Error()
	}
	// Error and Results print by value, not by address.
	errs, res := fmt.Sprintf("%+v", j.Error), fmt.Sprintf("%+v", j.Results)
	if j.Error != nil {
		errs = fmt.Sprintf("%+v", *j.Error)
	}
	if j.Results != nil {
		res = fmt.Sprintf("%+v", *j.Results)
	}
	j.Error, j.Results = nil, nil
	return fmt.Sprintf("%+v %s %s %+v events=%d", j, errs, res, d, len(e.events(id)))
}

func TestWebhookCompletesJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	formats := []struct {
		name, contentType, body string
	}{
		{"json", "application/json", donePayload("f-json")},
		{"form", "application/x-www-form-urlencoded", url.Values{"customer_id": {"c1"}, "file_id": {"f-form"}, "file_status": {"done"},
			"anonymized_link": {"https://engine.example/v1/file/f-form/anonymized"}}.Encode()},
		// The provider's page writes the payload as key=value lines.
		{"lines", "text/plain", "{\n    customer_id=c1\n    file_id=f-lines\n    file_status=\"done\"\n" +
			"    anonymized_link=\"https://engine.example/v1/file/f-lines/anonymized\"\n}"},
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			id := e.processingJob("f-" + f.name)
			r := e.do(http.MethodPost, e.callback(id), f.contentType, []byte(f.body))
			if r.status != http.StatusOK || asString(r.body["outcome"]) != "WEBHOOK_OUTCOME_APPLIED" {
				t.Fatalf("webhook: %d %s", r.status, r.raw)
			}
			g := e.do(http.MethodGet, "/v1/jobs/"+id, "", nil)
			results, _ := g.body["results"].(map[string]any)
			if asString(g.body["status"]) != "JOB_STATUS_DONE" ||
				asString(results["anonymized_link"]) != e.srv.PublicURL()+"/v1/jobs/"+id+"/files/anonymized" {
				t.Fatalf("job after webhook: %s", g.raw)
			}
			if f.name == "form" && results["metadata_link"] != nil {
				t.Fatalf("a link for a file the engine did not name: %s", g.raw)
			}
			if r := e.storedJob(id).Results; r == nil ||
				r.AnonymizedLink != "https://engine.example/v1/file/f-"+f.name+"/anonymized" {
				t.Fatalf("the engine's link was not kept")
			}
			// The provider retries: nothing changes, the answer says so.
			before := e.snapshot(id)
			d := e.do(http.MethodPost, e.callback(id), f.contentType, []byte(f.body))
			if d.status != http.StatusOK || asString(d.body["outcome"]) != "WEBHOOK_OUTCOME_DUPLICATE" {
				t.Fatalf("duplicate webhook: %d %s", d.status, d.raw)
			}
			if after := e.snapshot(id); after != before {
				t.Fatalf("duplicate changed the job:\n%s\n%s", before, after)
			}
		})
	}
}

func TestWebhookFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.processingJob("f-fail")
	r := e.do(http.MethodPost, e.callback(id), "application/json", []byte(`{"file_id":"f-fail","file_status":"failed"}`))
	if r.status != http.StatusOK {
		t.Fatalf("webhook: %d %s", r.status, r.raw)
	}
	if len(r.body) != 1 || asString(r.body["outcome"]) != "WEBHOOK_OUTCOME_APPLIED" {
		t.Fatalf("webhook answer is not a bare acknowledgement: %s", r.raw)
	}
	j := e.do(http.MethodGet, "/v1/jobs/"+id, "", nil).body
	errInfo, _ := j["error"].(map[string]any)
	if asString(j["status"]) != "JOB_STATUS_FAILED" || asString(errInfo["code"]) != "PROVIDER_FAILED" {
		t.Fatalf("failed webhook: %s", r.raw)
	}
	// A disallowed transition changes nothing and says why.
	before := e.snapshot(id)
	c := e.do(http.MethodPost, "/v1/jobs/"+id+":cancel", "", nil)
	if c.status != http.StatusConflict || c.reason() != "INVALID_TRANSITION" || e.snapshot(id) != before {
		t.Fatalf("cancel of a failed job: %d %s", c.status, c.raw)
	}
	_, err := e.jobs.CancelJob(context.Background(), &anonjobv1.CancelJobRequest{Id: id})
	assertStatus(t, err, codes.FailedPrecondition, "INVALID_TRANSITION", "")
	// A late "done" for the failed job does not resurrect it.
	late := e.do(http.MethodPost, e.callback(id), "application/json", []byte(donePayload("f-fail")))
	if late.status != http.StatusOK || asString(late.body["outcome"]) != "WEBHOOK_OUTCOME_IGNORED" || e.snapshot(id) != before {
		t.Fatalf("late webhook: %d %s", late.status, late.raw)
	}
}

// TestWebhookBeforeUploadAnswer: the engine may call back before the dispatcher has recorded
// the upload; the webhook records the file and applies.
func TestWebhookBeforeUploadAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	j := e.createJob(t)
	r := e.do(http.MethodPost, e.callback(j.GetId()), "application/json", []byte(donePayload("f-early")))
	if r.status != http.StatusOK || asString(r.body["outcome"]) != "WEBHOOK_OUTCOME_APPLIED" {
		t.Fatalf("early webhook: %d %s", r.status, r.raw)
	}
	if _, leaked := r.body["job"]; leaked {
		t.Fatalf("webhook answer carries the job: %s", r.raw)
	}
	got := e.do(http.MethodGet, "/v1/jobs/"+j.GetId(), "", nil).body
	if asString(got["status"]) != "JOB_STATUS_DONE" || asString(got["provider_file_id"]) != "f-early" {
		t.Fatalf("job after early webhook: %s", r.raw)
	}
	if n := len(e.events(j.GetId())); n != 3 {
		t.Fatalf("%d events, want CREATED, PROCESSING, DONE", n)
	}
}

func TestWebhookRejectsForgedAndMalformed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.processingJob("f-1")
	good := e.callback(id)
	otherID := e.processingJob("f-2")
	cancelled := e.processingJob("f-3")
	if _, err := e.jobs.CancelJob(context.Background(), &anonjobv1.CancelJobRequest{Id: cancelled}); err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(good, "token=", "token=A", 1)
	cases := []struct {
		name, path, contentType, body string
		status                        int
		reason                        string
		job                           string
	}{
		{"forged token", forged, "application/json", donePayload("f-1"), 404, "JOB_NOT_FOUND", id},
		{"no token", "/v1/webhooks/celantur?job_id=" + id, "application/json", donePayload("f-1"), 404, "JOB_NOT_FOUND", id},
		{"another job's token", strings.Replace(good, id, otherID, 1), "application/json", donePayload("f-2"), 404, "JOB_NOT_FOUND", otherID},
		{"unknown job", "/v1/webhooks/celantur?job_id=0190c6f2-0000-7000-8000-000000000000&token=x", "application/json", donePayload("f-1"), 404, "JOB_NOT_FOUND", id},
		{"file of another job", good, "application/json", donePayload("f-2"), 400, "FILE_ID_MISMATCH", id},
		{"malformed json", good, "application/json", `{"file_id": "f-1", "file_status": `, 400, "INVALID_PAYLOAD", id},
		{"missing status", good, "application/json", `{"file_id": "f-1"}`, 400, "INVALID_PAYLOAD", id},
		{"unknown status", good, "application/json", `{"file_id": "f-1", "file_status": "exploded"}`, 400, "INVALID_PAYLOAD", id},
		{"bad link", good, "application/json", `{"file_id": "f-1", "file_status": "done", "anonymized_link": "javascript:alert(1)"}`, 400, "INVALID_PAYLOAD", id},
		{"nested value", good, "application/json", `{"file_id": {"a": 1}, "file_status": "done"}`, 400, "INVALID_PAYLOAD", id},
		{"oversized body", good, "application/json", `{"file_id": "f-1", "pad": "` + strings.Repeat("x", 70<<10) + `"}`, 413, "BODY_TOO_LARGE", id},
		{"not final", good, "application/json", `{"file_id": "f-1", "file_status": "processing"}`, 200, "", id},
		{"cancelled job", e.callback(cancelled), "application/json", donePayload("f-3"), 200, "", cancelled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot(tc.job)
			r := e.do(http.MethodPost, tc.path, tc.contentType, []byte(tc.body))
			if r.status != tc.status || r.reason() != tc.reason {
				t.Fatalf("got %d %q, want %d %q: %s", r.status, r.reason(), tc.status, tc.reason, r.raw)
			}
			if after := e.snapshot(tc.job); after != before {
				t.Fatalf("job changed:\n%s\n%s", before, after)
			}
		})
	}
}
