package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/pgtest"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/store"
)

// received is one webhook as a client's receiver saw it.
type received struct {
	id, timestamp, signature string
	body                     []byte
}

// receiver is a client's webhook endpoint on loopback; answer picks each response.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, w http.ResponseWriter) // n counts from 1
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter)) *receiver {
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"),
			req.Header.Get("webhook-signature"), body})
		n := len(r.got)
		r.mu.Unlock()
		if r.answer != nil {
			r.answer(n, w)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) messages() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// verifySignature checks a webhook the way the Standard Webhooks specification describes it,
// written here independently of the sender: the secret is the base64 after "whsec_"; the
// signed content is "{webhook-id}.{webhook-timestamp}.{body}"; the header lists
// space-separated "v1,{base64 HMAC-SHA256}" entries, any one of which may match.
func verifySignature(t *testing.T, whsec string, m received) bool {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec, "whsec_"))
	if err != nil {
		t.Fatalf("secret %q is not whsec_<base64>: %v", whsec, err)
	}
	ts, err := strconv.ParseInt(m.timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		t.Fatalf("webhook-timestamp %q", m.timestamp)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(m.id + "." + m.timestamp + "." + string(m.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(m.signature) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

func fastRetries(c *server.Config) {
	c.DeliverySchedule = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}
}

func (e *env) rotateSecret(t *testing.T) string {
	t.Helper()
	resp := e.do(http.MethodPost, "/v1/webhook-secret:rotate", "application/json", []byte(`{}`))
	secret := asString(resp.body["secret"])
	if resp.status != http.StatusOK || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("rotate: %d %s", resp.status, resp.raw)
	}
	return secret
}

func (e *env) jobWithCallback(t *testing.T, url string) string {
	t.Helper()
	resp, err := e.jobs.CreateJob(context.Background(), &anonjobv1.CreateJobRequest{
		Image: &httpbody.HttpBody{Data: testPNG(t)}, Face: true, CallbackUrl: url})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetJob().GetId()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (e *env) deliveries(t *testing.T, jobID string) []*anonjobv1.Delivery {
	t.Helper()
	c := anonjobv1.NewDeliveryServiceClient(dial(t, e.srv.GRPCAddr().String(), e.key))
	resp, err := c.ListDeliveries(context.Background(), &anonjobv1.ListDeliveriesRequest{JobId: jobID})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetDeliveries()
}

func TestClientWebhookSignedAndRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastRetries)
	secret := e.rotateSecret(t)
	rcv := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError) // fails once, then succeeds
		}
	})
	// Made behind the API: the API refuses a loopback callback_url.
	id := pgtest.Factory{Store: e.st}.Job(t, pgtest.Job{CallbackURL: rcv.URL + "/hooks?x=1", ProviderFileID: "f-cb",
		Status: job.StatusProcessing}).ID
	e.do(http.MethodPost, e.callback(id), "application/json", []byte(donePayload("f-cb")))
	waitFor(t, "two attempts", func() bool { return len(rcv.messages()) >= 2 })
	msgs := rcv.messages()
	if msgs[0].id == "" || msgs[0].id != msgs[1].id {
		t.Fatalf("webhook-id changed across retries: %q, %q", msgs[0].id, msgs[1].id)
	}
	for _, m := range msgs {
		if !verifySignature(t, secret, m) {
			t.Fatalf("signature %q does not verify", m.signature)
		}
	}
	var p map[string]any
	if err := json.Unmarshal(msgs[1].body, &p); err != nil {
		t.Fatal(err)
	}
	if p["file_id"] != id || p["file_status"] != "done" || p["customer_id"] != "acme" ||
		p["anonymized_link"] != e.srv.PublicURL()+"/v1/jobs/"+id+"/files/anonymized" {
		t.Fatalf("payload %s", msgs[1].body)
	}
	waitFor(t, "the delivery to succeed", func() bool {
		ds := e.deliveries(t, id)
		return len(ds) == 1 && ds[0].GetState() == anonjobv1.DeliveryState_DELIVERY_STATE_SUCCEEDED
	})
	d := e.deliveries(t, id)[0]
	if len(d.GetAttemptLog()) != 2 || d.GetAttemptLog()[0].GetStatusCode() != 500 || d.GetAttemptLog()[1].GetStatusCode() != 200 {
		t.Fatalf("attempt log %v", d.GetAttemptLog())
	}
	// Tampering is caught by the same verifier.
	bad := msgs[1]
	bad.body = []byte(strings.Replace(string(bad.body), "done", "failed", 1))
	if verifySignature(t, secret, bad) {
		t.Fatal("a changed body verified")
	}
	// Rotation: both secrets sign for a while.
	newSecret := e.rotateSecret(t)
	r2 := e.do(http.MethodPost, "/v1/jobs/"+id+"/deliveries:redeliver", "application/json", []byte(`{}`))
	if r2.status != http.StatusOK {
		t.Fatalf("redeliver: %d %s", r2.status, r2.raw)
	}
	waitFor(t, "the redelivery", func() bool { return len(rcv.messages()) >= 3 })
	m := rcv.messages()[2]
	if m.id == msgs[0].id || len(strings.Fields(m.signature)) != 2 || !verifySignature(t, secret, m) || !verifySignature(t, newSecret, m) {
		t.Fatalf("redelivery after rotation: id %q signature %q", m.id, m.signature)
	}
}

func TestClientWebhookStopsAndWaits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastRetries)
	gone := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusGone) })
	limited := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	target := newReceiver(t, nil)
	redirecting := newReceiver(t, func(_ int, w http.ResponseWriter) {
		w.Header().Set("Location", target.URL)
		w.WriteHeader(http.StatusFound)
	})
	ctx := context.Background()
	cancel := func(id string) {
		if _, err := e.jobs.CancelJob(ctx, &anonjobv1.CancelJobRequest{Id: id}); err != nil {
			t.Fatal(err)
		}
	}
	goneJob, limitedJob, redirectJob := e.jobWithCallback(t, gone.URL), e.jobWithCallback(t, limited.URL), e.jobWithCallback(t, redirecting.URL)
	cancel(goneJob)
	cancel(limitedJob)
	cancel(redirectJob)
	// 410: given up after one attempt.
	waitFor(t, "the 410 delivery to fail", func() bool {
		ds := e.deliveries(t, goneJob)
		return len(ds) == 1 && ds[0].GetState() == anonjobv1.DeliveryState_DELIVERY_STATE_FAILED
	})
	if n := len(gone.messages()); n != 1 {
		t.Fatalf("410 receiver got %d attempts", n)
	}
	// 429 with Retry-After: the next attempt is scheduled no sooner than asked.
	waitFor(t, "the 429 attempt", func() bool { return len(e.deliveries(t, limitedJob)[0].GetAttemptLog()) == 1 })
	d := e.deliveries(t, limitedJob)[0]
	if gap := d.GetNextAttemptTime().AsTime().Sub(d.GetAttemptLog()[0].GetTime().AsTime()); gap < 2*time.Second {
		t.Fatalf("retry scheduled %v after a Retry-After of 2s", gap)
	}
	waitFor(t, "the retry after Retry-After", func() bool { return len(limited.messages()) == 2 })
	// A redirect is not followed and counts as a failure.
	waitFor(t, "redirect attempts", func() bool { return len(redirecting.messages()) >= 2 })
	if n := len(target.messages()); n != 0 {
		t.Fatalf("the redirect was followed: target got %d", n)
	}
	if log := e.deliveries(t, redirectJob)[0].GetAttemptLog(); log[0].GetStatusCode() != 302 || log[0].GetError() == "" {
		t.Fatalf("redirect attempt logged as %v", log[0])
	}
	// A job without a callback owes nothing; redelivering it is refused.
	plain := e.createJob(t)
	cancel(plain.GetId())
	if r := e.do(http.MethodPost, "/v1/jobs/"+plain.GetId()+"/deliveries:redeliver", "application/json", []byte(`{}`)); r.status != http.StatusConflict {
		t.Fatalf("redeliver without callback: %d %s", r.status, r.raw)
	}
	// A malformed job id names the field.
	if r := e.do(http.MethodGet, "/v1/jobs/not-a-job/deliveries", "", nil); r.status != http.StatusBadRequest || r.reason() != "INVALID_ID" {
		t.Fatalf("deliveries of a malformed id: %d %s", r.status, r.raw)
	}
	// Another customer sees none of it.
	if r := e.doAs(e.rivalKey, http.MethodGet, "/v1/jobs/"+goneJob+"/deliveries", "", nil); r.status != http.StatusNotFound {
		t.Fatalf("rival lists deliveries: %d %s", r.status, r.raw)
	}
}

// TestClientWebhookSurvivesRestartAndReplicas: a job that ended while no server ran is
// delivered by the next one; with two replicas each ended job is delivered once.
func TestClientWebhookSurvivesRestartAndReplicas(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, nil)
	a := newEnv(t, fastRetries)
	var ids []string
	for range 20 {
		ids = append(ids, a.jobWithCallback(t, rcv.URL))
	}
	a.srv.Close()
	// The job ends in a transaction whose server dies before it can send: only the outbox
	// row remains.
	st := a.st
	for _, id := range ids {
		if _, _, err := st.Transition(context.Background(), id, store.Change{To: "CANCELLED"}); err != nil {
			t.Fatal(err)
		}
	}
	startOn(t, a.dbURL, fastRetries)
	startOn(t, a.dbURL, fastRetries)
	waitFor(t, "every webhook", func() bool { return len(rcv.messages()) >= len(ids) })
	time.Sleep(200 * time.Millisecond) // room for a duplicate to show up, if there were one
	seen := map[string]int{}
	for _, m := range rcv.messages() {
		var p map[string]any
		_ = json.Unmarshal(m.body, &p)
		seen[asString(p["file_id"])]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("job %s delivered %d times", id, seen[id])
		}
	}
	n := 0
	for _, id := range ids {
		ds, err := a.st.JobDeliveries(context.Background(), "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		n += len(ds)
	}
	if n != len(ids) {
		t.Fatalf("%d deliveries for %d ended jobs", n, len(ids))
	}
}
