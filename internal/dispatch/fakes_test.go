package dispatch

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
)

// call is one call the code under test made to a fake.
type call struct {
	op     string // the method's name
	id     string // job or file id
	n      int    // the limit of a claim
	at     time.Time
	reason string
	change store.Change
	ids    []string
}

// recorder keeps the calls made to a fake and signals each one on calls, so that tests wait
// for what the code does rather than for time to pass.
type recorder struct {
	mu    sync.Mutex
	log   []call
	calls chan call
}

func newRecorder() recorder { return recorder{calls: make(chan call, 1024)} }

func (r *recorder) record(c call) {
	r.mu.Lock()
	r.log = append(r.log, c)
	r.mu.Unlock()
	select {
	case r.calls <- c:
	default: // nobody is waiting for this many
	}
}

// made returns the calls of the given ops, in order; every call when no op is given.
func (r *recorder) made(ops ...string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.log {
		if len(ops) == 0 || slices.Contains(ops, c.op) {
			out = append(out, c)
		}
	}
	return out
}

// opsOf lists the ops of calls.
func opsOf(calls []call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.op
	}
	return out
}

// fakeStore is the job storage, in memory and scripted. Zero fields answer with success and
// nothing claimed.
type fakeStore struct {
	recorder
	mu sync.Mutex
	// claims are handed out by ClaimQueued (or ClaimPolls), one batch per call, then nothing.
	claims [][]store.Claim
	// transition answers Transition; nil moves every job as asked.
	transition      func(id string, c store.Change) (job.Job, job.Status, error)
	processing      int
	countErr        error
	deferErr        error
	releaseErr      error
	scheduleErr     error
	deleteInputErr  error
	renewed         func(ids []string) (int64, error)
	claimErr        error
	transitionCalls int
}

func newFakeStore() *fakeStore { return &fakeStore{recorder: newRecorder()} }

func (s *fakeStore) next(limit int) []store.Claim {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.claims) == 0 {
		return nil
	}
	b := s.claims[0]
	s.claims = s.claims[1:]
	if len(b) > limit {
		panic("fake store: a batch larger than the limit asked for")
	}
	return b
}

func (s *fakeStore) ClaimQueued(_ context.Context, owner string, limit int, _ time.Duration) ([]store.Claim, error) {
	s.record(call{op: "ClaimQueued", id: owner, n: limit})
	return s.next(limit), s.claimErr
}

func (s *fakeStore) ClaimPolls(_ context.Context, owner string, limit int, _ time.Duration) ([]store.Claim, error) {
	s.record(call{op: "ClaimPolls", id: owner, n: limit})
	return s.next(limit), s.claimErr
}

func (s *fakeStore) RenewClaims(_ context.Context, _ string, ids []string, _ time.Duration) (int64, error) {
	s.record(call{op: "RenewClaims", ids: slices.Sorted(slices.Values(ids))})
	if s.renewed != nil {
		return s.renewed(ids)
	}
	return int64(len(ids)), nil
}

func (s *fakeStore) Defer(_ context.Context, id string, at time.Time, reason string) error {
	s.record(call{op: "Defer", id: id, at: at, reason: reason})
	return s.deferErr
}

func (s *fakeStore) Release(_ context.Context, id string) error {
	s.record(call{op: "Release", id: id})
	return s.releaseErr
}

func (s *fakeStore) CountProcessing(context.Context) (int, error) {
	s.record(call{op: "CountProcessing"})
	return s.processing, s.countErr
}

func (s *fakeStore) SchedulePoll(_ context.Context, id string, at time.Time) error {
	s.record(call{op: "SchedulePoll", id: id, at: at})
	return s.scheduleErr
}

func (s *fakeStore) Transition(_ context.Context, id string, c store.Change) (job.Job, job.Status, error) {
	s.mu.Lock()
	s.transitionCalls++
	s.mu.Unlock()
	s.record(call{op: "Transition", id: id, change: c})
	if s.transition != nil {
		return s.transition(id, c)
	}
	return job.Job{ID: id, Status: c.To, ProviderFileID: c.ProviderFileID}, job.StatusQueued, nil
}

func (s *fakeStore) DeleteInput(_ context.Context, id string) error {
	s.record(call{op: "DeleteInput", id: id})
	return s.deleteInputErr
}

// fakeProvider is the engine, scripted. Zero fields accept every upload as file "f-<job id>".
type fakeProvider struct {
	recorder
	upload    func(ctx context.Context, o celantur.UploadOptions) (celantur.File, error)
	deleteErr error
	status    func(fileID string) (celantur.File, error)
	capacity  func(ctx context.Context) (int, error)
}

func newFakeProvider() *fakeProvider { return &fakeProvider{recorder: newRecorder()} }

func (p *fakeProvider) Upload(ctx context.Context, contentType string, image []byte, o celantur.UploadOptions) (celantur.File, error) {
	p.record(call{op: "Upload", id: o.Name, reason: contentType + " " + string(image)})
	if p.upload != nil {
		return p.upload(ctx, o)
	}
	return celantur.File{FileID: "f-" + o.Name, FileStatus: celantur.StatusQueued}, nil
}

func (p *fakeProvider) Delete(ctx context.Context, fileID string) error {
	dl, _ := ctx.Deadline()
	p.record(call{op: "Delete", id: fileID, at: dl})
	return p.deleteErr
}

func (p *fakeProvider) Status(_ context.Context, fileID string) (celantur.File, error) {
	p.record(call{op: "Status", id: fileID})
	if p.status != nil {
		return p.status(fileID)
	}
	return celantur.File{FileID: fileID, FileStatus: celantur.StatusProcessing}, nil
}

func (p *fakeProvider) FileURL(fileID, kind string) string {
	return "http://engine.test/v1/file/" + fileID + "/" + kind
}

func (p *fakeProvider) Capacity(ctx context.Context) (int, error) {
	p.record(call{op: "Capacity"})
	if p.capacity != nil {
		return p.capacity(ctx)
	}
	return 0, celantur.ErrCapacityUnknown
}

// signer makes callback URLs that name their job.
type signer struct{}

func (signer) CallbackURL(base *url.URL, jobID string) *url.URL {
	return base.JoinPath("hooks", jobID)
}

// apiError is an answer of the engine with the given status.
func apiError(code int, retryAfter time.Duration) *celantur.APIError {
	return &celantur.APIError{StatusCode: code, Op: "upload", RetryAfter: retryAfter, Message: http.StatusText(code)}
}

// queued is a claim of a QUEUED job at its nth attempt.
func queued(id string, attempt int) store.Claim {
	return store.Claim{
		Job: job.Job{ID: id, Status: job.StatusQueued, Spec: job.Spec{Method: job.MethodPixelate,
			Targets: job.Targets{Face: true, Vehicle: true}, ContentType: "image/png"}},
		Attempts: attempt, Input: []byte("png"),
	}
}

// processing is a poll claim of a PROCESSING job at its nth poll.
func processing(id string, poll int) store.Claim {
	return store.Claim{Job: job.Job{ID: id, Status: job.StatusProcessing, ProviderFileID: "f-" + id}, Attempts: poll}
}

var testPublicURL = &url.URL{Scheme: "https", Host: "anonjob.test"}

// testConfig is a dispatch configuration whose waits are short enough for tests, and whose
// retry delays are long enough to tell apart from "at once".
func testConfig() Config {
	return Config{PublicURL: testPublicURL, Owner: "replica-1", Capacity: 4, Concurrency: 2,
		Lease: time.Minute, RetryBase: time.Hour, RetryMax: 4 * time.Hour, MaxAttempts: 3,
		WebhookDeadline: 2 * time.Minute, PollMax: time.Hour, Tick: time.Hour}
}
