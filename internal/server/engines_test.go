package server_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
)

// TestCancelDeletesTheFileAtItsEngine cancels a job the engine has: the file is deleted at the
// engine recorded for the job.
func TestCancelDeletesTheFileAtItsEngine(t *testing.T) {
	t.Parallel()
	prov := newFakeProvider(t)
	e := newEnv(t, withProvider(prov))
	j := e.createJob(t)
	p := waitStatus(t, e, j.GetId(), anonjobv1.JobStatus_JOB_STATUS_PROCESSING)
	if _, err := e.jobs.CancelJob(context.Background(), &anonjobv1.CancelJobRequest{Id: j.GetId()}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		prov.mu.Lock()
		deleted := slices.Contains(prov.deleted, p.GetProviderFileId())
		prov.mu.Unlock()
		if deleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file %s of the cancelled job never deleted at its engine", p.GetProviderFileId())
		}
	}
	if eng, err := e.st.EngineOfJob(context.Background(), j.GetId()); err != nil || eng == "" {
		t.Fatalf("the job does not record its engine (%q, %v)", eng, err)
	}
}

// TestLateWebhookOfDeadEngineIsIgnored hands a job over from a dead engine and then delivers
// that engine's webhook, both while the job waits for another engine and after the other
// engine has it: each is recorded as ignored and changes nothing.
func TestLateWebhookOfDeadEngineIsIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	resp, err := e.jobs.CreateJob(ctx, &anonjobv1.CreateJobRequest{Image: &httpbody.HttpBody{Data: testPNG(t)}, Face: true})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetJob().GetId()
	// Uploaded to the engine that then dies: claimed for it, then PROCESSING there.
	if cs, err := e.st.ClaimQueuedFor(ctx, "test-replica", "dead:8090", 10, time.Minute, 0); err != nil || len(cs) != 1 {
		t.Fatalf("claim for the dead engine: %d claims, %v", len(cs), err)
	}
	if _, _, err := e.st.Transition(ctx, id, store.Change{To: job.StatusProcessing, ProviderFileID: "f-dead"}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.srv.Store.HandOver(ctx, []string{"dead:8090"}, 10); err != nil || n != 1 {
		t.Fatalf("hand over: %d, %v", n, err)
	}
	late := func() {
		t.Helper()
		before := e.snapshot(id)
		r := e.do(http.MethodPost, e.callback(id), "application/json", []byte(donePayload("f-dead")))
		if r.status != http.StatusOK || !strings.Contains(string(r.raw), "IGNORED") {
			t.Fatalf("late webhook: %d %s", r.status, r.raw)
		}
		if after := e.snapshot(id); after != before {
			t.Fatalf("late webhook changed the job:\n%s\n%s", before, after)
		}
	}
	late() // queued again: the dead engine's file must not be taken as the upload's answer
	if _, _, err := e.srv.Store.Transition(ctx, id, store.Change{To: job.StatusProcessing, ProviderFileID: "f-alive"}); err != nil {
		t.Fatal(err)
	}
	late() // at the other engine now
	if n := e.receipts(id, "WEBHOOK_OUTCOME_IGNORED"); n != 2 {
		t.Fatalf("%d ignored receipts, want 2", n)
	}
}
