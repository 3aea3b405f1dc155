package clientwebhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/netguard"
	"github.com/anonjob/anonjob/internal/stdwebhooks"
	"github.com/anonjob/anonjob/internal/store"
)

// finished is one FinishAttempt call.
type finished struct {
	id      string
	attempt store.Attempt
	state   string
	next    time.Time
}

// fakeStore is the outbox in memory. Zero error fields succeed.
type fakeStore struct {
	mu         sync.Mutex
	job        job.Job
	secrets    []string
	claims     [][]store.Delivery
	finished   []finished
	released   []string
	getErr     error
	secretsErr error
	finishErr  error
	// done receives the id of every delivery attempt recorded or released.
	done chan string
}

func newFakeStore(t *testing.T) *fakeStore {
	sec, err := stdwebhooks.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return &fakeStore{
		job:     job.Job{ID: "0190c6f2-0000-7000-8000-000000000001", Customer: "acme", Status: job.StatusDone},
		secrets: []string{sec.String()}, done: make(chan string, 100),
	}
}

func (s *fakeStore) ClaimDeliveries(_ context.Context, limit int, _ time.Duration) ([]store.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.claims) == 0 {
		return nil, nil
	}
	b := s.claims[0]
	s.claims = s.claims[1:]
	if len(b) > limit {
		return nil, errors.New("fake store: batch over the limit")
	}
	return b, nil
}

func (s *fakeStore) FinishAttempt(_ context.Context, id string, a store.Attempt, state string, next time.Time) error {
	s.mu.Lock()
	s.finished = append(s.finished, finished{id, a, state, next})
	s.mu.Unlock()
	s.done <- id
	return s.finishErr
}

func (s *fakeStore) ReleaseDelivery(_ context.Context, id string) error {
	s.mu.Lock()
	s.released = append(s.released, id)
	s.mu.Unlock()
	s.done <- id
	return nil
}

func (s *fakeStore) WebhookSecrets(_ context.Context, customer string, fresh func() string) ([]string, error) {
	if customer != s.job.Customer {
		return nil, errors.New("fake store: secrets of another customer")
	}
	if fresh() == "" {
		return nil, errors.New("fake store: no fresh secret")
	}
	return s.secrets, s.secretsErr
}

func (s *fakeStore) GetJob(_ context.Context, id string) (job.Job, error) {
	if id != s.job.ID {
		return job.Job{}, job.ErrNotFound
	}
	return s.job, s.getErr
}

// receiver is a client's webhook endpoint that answers with code and keeps what it got.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func newReceiver(t *testing.T, h http.HandlerFunc) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs, r.body = append(r.reqs, req), append(r.body, b)
		r.mu.Unlock()
		h(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func newTestSender(t *testing.T, s Store, cfg Config, log *slog.Logger) *Sender {
	t.Helper()
	policy := netguard.NewPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, true).WithPorts(netguard.AllPorts())
	cfg.PublicURL = &url.URL{Scheme: "https", Host: "anonjob.test"}
	cfg.Client = policy.HTTPClient(5 * time.Second)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return NewSender(s, cfg, log)
}

func delivery(s *fakeStore, url, fileStatus string, attempt int) store.Delivery {
	return store.Delivery{ID: "d1", JobID: s.job.ID, Customer: s.job.Customer, MessageID: "msg_1",
		URL: url, FileStatus: fileStatus, Attempts: attempt}
}

// TestDeliverSigned: the receiver gets the provider's v1 shape with anonjob's own links, signed
// with the customer's secret, and the attempt is logged as it went.
func TestDeliverSigned(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fileStatus string
		jobErr     *job.Error
		links      bool
	}{
		{"done", nil, true},
		{"failed", &job.Error{Code: "PROVIDER_FAILED", Message: "engine said no"}, false},
		{"cancelled", nil, false},
	} {
		t.Run(tc.fileStatus, func(t *testing.T) {
			t.Parallel()
			fs := newFakeStore(t)
			fs.job.Error = tc.jobErr
			rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
			reg := prometheus.NewPedanticRegistry()
			s := newTestSender(t, fs, Config{Metrics: NewMetrics(reg)}, nil)
			before := time.Now()
			s.deliver(t.Context(), delivery(fs, rcv.srv.URL+"/hook", tc.fileStatus, 1))
			if len(fs.finished) != 1 {
				t.Fatalf("finished %+v", fs.finished)
			}
			f := fs.finished[0]
			if f.id != "d1" || f.state != "SUCCEEDED" || f.attempt.StatusCode != http.StatusNoContent || f.attempt.Error != "" ||
				f.attempt.Time.Before(before) || f.attempt.Latency <= 0 {
				t.Errorf("finished %+v, want d1 SUCCEEDED with 204", f)
			}
			if len(rcv.reqs) != 1 {
				t.Fatalf("%d requests", len(rcv.reqs))
			}
			req, body := rcv.reqs[0], rcv.body[0]
			if req.Method != http.MethodPost || req.URL.Path != "/hook" || req.Header.Get("Content-Type") != "application/json" ||
				req.Header.Get("User-Agent") != "anonjob-webhooks/1" || req.Header.Get(stdwebhooks.HeaderID) != "msg_1" {
				t.Errorf("request %s %s %v", req.Method, req.URL, req.Header)
			}
			sec, err := stdwebhooks.ParseSecret(fs.secrets[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := stdwebhooks.Verify(sec, req.Header, body, time.Now(), 0); err != nil {
				t.Errorf("signature: %v", err)
			}
			var p payload
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			base := "https://anonjob.test/v1/jobs/" + fs.job.ID + "/files/"
			want := payload{CustomerID: "acme", FileID: fs.job.ID, FileStatus: tc.fileStatus, Error: tc.jobErr}
			if tc.links {
				want.OriginalLink, want.AnonymizedLink = base+"original", base+"anonymized"
				want.BinaryMaskLink, want.InstanceMaskLink, want.MetadataLink = base+"binary-mask", base+"instance-mask", base+"metadata"
			}
			if got, _ := json.Marshal(p); string(got) != mustJSON(t, want) {
				t.Errorf("payload %s, want %s", got, mustJSON(t, want))
			}
			if n := countOf(t, reg, "SUCCEEDED", "204"); n != 1 {
				t.Errorf("%v attempts counted as SUCCEEDED 204", n)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// countOf reads the attempts counter for state and code.
func countOf(t *testing.T, reg prometheus.Gatherer, state, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "anonjob_webhook_delivery_attempts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["state"] == state && labels["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestDeliverFailures: an attempt that fails is logged with its class, never the remote's
// words, and retried on the schedule; one that failed on our side is in our log only.
func TestDeliverFailures(t *testing.T) {
	t.Parallel()
	boom := errors.New("database down")
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		setup   func(*fakeStore)
		code    int
		class   string
		state   string
		ourLog  string
		reaches bool
	}{
		{name: "500", handler: status(500), code: 500, class: "http_5xx", state: "PENDING", reaches: true},
		{name: "404", handler: status(404), code: 404, class: "http_4xx", state: "PENDING", reaches: true},
		{name: "410", handler: status(410), code: 410, class: "http_4xx", state: "FAILED", reaches: true},
		{name: "redirect not followed", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, code: 302, class: "http_3xx", state: "PENDING", reaches: true},
		{name: "job unreadable", setup: func(s *fakeStore) { s.getErr = boom }, class: "internal", state: "PENDING", ourLog: "database down"},
		{name: "secrets unreadable", setup: func(s *fakeStore) { s.secretsErr = boom }, class: "internal", state: "PENDING", ourLog: "database down"},
		{name: "stored secret broken", setup: func(s *fakeStore) { s.secrets = []string{"not a secret"} }, class: "internal", state: "PENDING", ourLog: "stored webhook secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := newFakeStore(t)
			if tc.setup != nil {
				tc.setup(fs)
			}
			h := tc.handler
			if h == nil {
				h = status(204)
			}
			rcv := newReceiver(t, h)
			var logs strings.Builder
			var mu sync.Mutex
			log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
				mu.Lock()
				defer mu.Unlock()
				return logs.Write(p)
			}), nil))
			s := newTestSender(t, fs, Config{}, log)
			before := time.Now()
			s.deliver(t.Context(), delivery(fs, rcv.srv.URL+"/hook", "done", 1))
			if len(fs.finished) != 1 {
				t.Fatalf("finished %+v", fs.finished)
			}
			f := fs.finished[0]
			if f.attempt.StatusCode != tc.code || f.attempt.Error != tc.class || f.state != tc.state {
				t.Errorf("finished %+v, want code %d class %q state %s", f, tc.code, tc.class, tc.state)
			}
			if tc.state == "PENDING" && f.next.Before(before.Add(4*time.Second)) {
				t.Errorf("next attempt at %v, want after the schedule's 5s (less a tenth)", f.next.Sub(before))
			}
			if n := len(rcv.reqs); (n == 1) != tc.reaches || n > 1 {
				t.Errorf("%d requests reached the receiver", n)
			}
			mu.Lock()
			out := logs.String()
			mu.Unlock()
			if tc.ourLog != "" && !strings.Contains(out, tc.ourLog) {
				t.Errorf("log %q, want %q", out, tc.ourLog)
			}
			if strings.Contains(out, "not sent") != (tc.ourLog != "") {
				t.Errorf("log %q: our own failures only are logged as not sent", out)
			}
		})
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestDeliverRecordError(t *testing.T) {
	t.Parallel()
	fs := newFakeStore(t)
	fs.finishErr = errors.New("database down")
	rcv := newReceiver(t, status(200))
	reg := prometheus.NewPedanticRegistry()
	s := newTestSender(t, fs, Config{Metrics: NewMetrics(reg)}, nil)
	s.deliver(t.Context(), delivery(fs, rcv.srv.URL, "done", 1))
	if n := countOf(t, reg, "SUCCEEDED", "200"); n != 0 {
		t.Errorf("an attempt whose record failed was counted %v times", n)
	}
}

// TestSenderRun: claimed deliveries are sent, each once; a poke claims again at once.
func TestSenderRun(t *testing.T) {
	t.Parallel()
	fs := newFakeStore(t)
	rcv := newReceiver(t, status(200))
	d1, d2 := delivery(fs, rcv.srv.URL, "done", 1), delivery(fs, rcv.srv.URL, "done", 1)
	d2.ID = "d2"
	fs.claims = [][]store.Delivery{{d1}, {d2}}
	s := newTestSender(t, fs, Config{Concurrency: 2, Tick: time.Hour}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	if id := <-fs.done; id != "d1" {
		t.Fatalf("first recorded %s", id)
	}
	s.Poke()
	s.Poke() // never blocks
	if id := <-fs.done; id != "d2" {
		t.Fatalf("second recorded %s", id)
	}
	cancel()
	<-done
	if len(rcv.reqs) != 2 {
		t.Errorf("%d requests, want 2", len(rcv.reqs))
	}
}

func TestFreshSecret(t *testing.T) {
	t.Parallel()
	a, b := FreshSecret(), FreshSecret()
	if _, err := stdwebhooks.ParseSecret(a); err != nil || a == b || !strings.HasPrefix(a, "whsec_") {
		t.Errorf("FreshSecret() = %q, %q (%v)", a, b, err)
	}
}
