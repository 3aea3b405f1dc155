package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/celantur"
	"github.com/anonjob/anonjob/internal/job"
	"github.com/anonjob/anonjob/internal/store"
	"github.com/anonjob/anonjob/internal/testlog"
)

// dispatchOnce runs one upload attempt of cl the way Run does: counted as begun by the flow
// control first, and over once its record is.
func dispatchOnce(ctx context.Context, d *Dispatcher, cl store.Claim) {
	d.dispatch(ctx, claim{Claim: cl, began: d.flow.start(1)})
	d.records.Wait()
}

// within reports whether at lies in [from+lo, to+hi]: a time set by the code under test between
// from and to, lo to hi after its own now.
func within(at, from, to time.Time, lo, hi time.Duration) bool {
	return !at.Before(from.Add(lo)) && !at.After(to.Add(hi))
}

func TestDispatchHandsJobToEngine(t *testing.T) {
	t.Parallel()
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep input %v", keep), func(t *testing.T) {
			t.Parallel()
			s, p := newFakeStore(), newFakeProvider()
			cfg := testConfig()
			cfg.KeepInput = keep
			d := NewDispatcher(s, p, signer{}, cfg, nil)
			before := time.Now()
			dispatchOnce(t.Context(), d, queued("j1", 1))
			after := time.Now()

			ups := p.made("Upload")
			if len(ups) != 1 || ups[0].id != "j1" || ups[0].reason != "image/png png" {
				t.Fatalf("uploads %+v, want one of j1's image", ups)
			}
			tr := s.made("Transition")
			if len(tr) != 1 {
				t.Fatalf("transitions %+v, want one", tr)
			}
			c := tr[0].change
			if c.To != job.StatusProcessing || c.ProviderFileID != "f-j1" ||
				!within(c.NextPollAt, before, after, cfg.WebhookDeadline, cfg.WebhookDeadline) {
				t.Errorf("change %+v, want PROCESSING with file f-j1, first poll after the webhook deadline", c)
			}
			// The input goes with the move, in the same statement, unless it is kept.
			if c.DropInput == keep {
				t.Errorf("change drops the input: %v, want %v", c.DropInput, !keep)
			}
			if got, want := opsOf(s.made()), []string{"Transition"}; !slices.Equal(got, want) {
				t.Errorf("store calls %v, want %v", got, want)
			}
			if limit, uploading := d.flow.state(); uploading != 0 || limit != 4 {
				t.Errorf("flow after an accepted upload: limit %v, %d uploading; want 4, 0", limit, uploading)
			}
		})
	}
}

func TestDispatchSendsTheJobsOptions(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	var got celantur.UploadOptions
	p.upload = func(_ context.Context, o celantur.UploadOptions) (celantur.File, error) {
		got = o
		return celantur.File{FileID: "f"}, nil
	}
	d := NewDispatcher(s, p, signer{}, testConfig(), nil)
	cl := queued("j1", 1)
	cl.Job.LicensePlate, cl.Job.Person = true, true
	dispatchOnce(t.Context(), d, cl)
	want := celantur.UploadOptions{Method: "pixelate", Face: true, LicensePlate: true, Person: true, Vehicle: true,
		Webhook: "https://anonjob.test/hooks/j1", Name: "j1"}
	if got != want {
		t.Fatalf("upload options %+v, want %+v", got, want)
	}
}

// TestDispatchUploadFailures: what one failed attempt leaves behind. A retryable failure is
// tried again later, with a delay growing with the attempts, until the attempts run out;
// anything else fails the job at once.
func TestDispatchUploadFailures(t *testing.T) {
	t.Parallel()
	base := testConfig().RetryBase
	for _, tc := range []struct {
		name    string
		err     error
		attempt int
		// want is the store's calls; for a Defer, it is due in [lo, hi] from now.
		want   []string
		lo, hi time.Duration
		failed string // the job's error code, when it fails
	}{
		{"5xx, first attempt", apiError(503, 0), 1, []string{"Defer"}, base / 2, base, ""},
		{"5xx, second attempt", apiError(502, 0), 2, []string{"Defer"}, base, 2 * base, ""},
		{"attempt timed out", context.DeadlineExceeded, 1, []string{"Defer"}, base / 2, base, ""},
		{"unclassified error", errors.New("no such host"), 1, []string{"Transition"}, 0, 0, "PROVIDER_REJECTED"},
		{"5xx, last attempt", apiError(500, 0), 3, []string{"Transition"}, 0, 0, "PROVIDER_REJECTED"},
		{"400", apiError(400, 0), 1, []string{"Transition"}, 0, 0, "PROVIDER_REJECTED"},
		{"415", apiError(415, 0), 1, []string{"Transition"}, 0, 0, "PROVIDER_REJECTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, p := newFakeStore(), newFakeProvider()
			p.upload = func(context.Context, celantur.UploadOptions) (celantur.File, error) { return celantur.File{}, tc.err }
			d := NewDispatcher(s, p, signer{}, testConfig(), nil)
			before := time.Now()
			dispatchOnce(t.Context(), d, queued("j1", tc.attempt))
			after := time.Now()
			calls := s.made()
			if got := opsOf(calls); !slices.Equal(got, tc.want) {
				t.Fatalf("store calls %v, want %v", got, tc.want)
			}
			switch c := calls[0]; c.op {
			case "Defer":
				if !within(c.at, before, after, tc.lo, tc.hi) || c.reason != tc.err.Error() {
					t.Errorf("deferred to %v (%v after the attempt) for %q, want %v to %v for %q",
						c.at, c.at.Sub(before), c.reason, tc.lo, tc.hi, tc.err)
				}
			case "Transition":
				e := c.change.Error
				if c.change.To != job.StatusFailed || e == nil || e.Code != tc.failed || e.Message != tc.err.Error() {
					t.Errorf("change %+v (error %+v), want FAILED %s", c.change, e, tc.failed)
				}
			}
			if limit, uploading := d.flow.state(); uploading != 0 || limit != 4 {
				t.Errorf("flow after a failed upload: limit %v, %d uploading; want 4 (untouched), 0", limit, uploading)
			}
		})
	}
}

// TestDispatchRetriesUntilAttemptsRunOut drives one job through every attempt the way the
// store would claim it again: one upload per attempt, a Defer after each but the last, then
// FAILED.
func TestDispatchRetriesUntilAttemptsRunOut(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	p.upload = func(context.Context, celantur.UploadOptions) (celantur.File, error) {
		return celantur.File{}, apiError(503, 0)
	}
	cfg := testConfig()
	d := NewDispatcher(s, p, signer{}, cfg, nil)
	for attempt := 1; attempt <= cfg.MaxAttempts; attempt++ {
		dispatchOnce(t.Context(), d, queued("j1", attempt))
	}
	if n := len(p.made("Upload")); n != cfg.MaxAttempts {
		t.Errorf("%d uploads, want %d: one per attempt", n, cfg.MaxAttempts)
	}
	want := append(slices.Repeat([]string{"Defer"}, cfg.MaxAttempts-1), "Transition")
	if got := opsOf(s.made()); !slices.Equal(got, want) {
		t.Errorf("store calls %v, want %v", got, want)
	}
}

func TestDispatchThrottled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		capacity    int // 0: unknown
		concurrency int
		processing  int
		want        []string
		limit       float64
	}{
		// Told capacity 4: the 429 halves the limit; the jobs at the engine need no count.
		{"known capacity", 4, 2, 3, []string{"Release"}, 2},
		// Unknown, in its slow start: the 429 halves the slow start's limit, uncounted.
		{"unknown capacity, slow start", 0, 8, 3, []string{"Release"}, slowStartLimit / 2},
		// Unknown, no limit (the uploads at once bound no more than a slow start would): the
		// first 429 sets the limit to half of what is in flight, counted.
		{"unknown capacity, no limit", 0, slowStartLimit, 9, []string{"CountProcessing", "Release"}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, p := newFakeStore(), newFakeProvider()
			s.processing = tc.processing
			p.upload = func(context.Context, celantur.UploadOptions) (celantur.File, error) {
				return celantur.File{}, apiError(429, time.Minute)
			}
			cfg := testConfig()
			cfg.Capacity, cfg.Concurrency = tc.capacity, tc.concurrency
			d := NewDispatcher(s, p, signer{}, cfg, nil)
			dispatchOnce(t.Context(), d, queued("j1", cfg.MaxAttempts)) // even at the last attempt
			if got := opsOf(s.made()); !slices.Equal(got, tc.want) {
				t.Fatalf("store calls %v, want %v: a refused job is released, not deferred nor failed", got, tc.want)
			}
			if limit, uploading := d.flow.state(); limit != tc.limit || uploading != 0 {
				t.Errorf("flow after a 429: limit %v, %d uploading; want %v, 0", limit, uploading, tc.limit)
			}
		})
	}
}

// TestDispatchCutOffByShutdown: an upload that fails because the dispatcher is stopping is
// not the engine's fault: the job is released (no attempt counted, due at once), even at its
// last attempt and whatever the error.
func TestDispatchCutOffByShutdown(t *testing.T) {
	t.Parallel()
	for _, err := range []error{context.Canceled, apiError(400, 0)} {
		t.Run(err.Error(), func(t *testing.T) {
			t.Parallel()
			s, p := newFakeStore(), newFakeProvider()
			ctx, cancel := context.WithCancel(t.Context())
			p.upload = func(context.Context, celantur.UploadOptions) (celantur.File, error) {
				cancel()
				return celantur.File{}, err
			}
			d := NewDispatcher(s, p, signer{}, testConfig(), nil)
			dispatchOnce(ctx, d, queued("j1", 3))
			if got := opsOf(s.made()); !slices.Equal(got, []string{"Release"}) {
				t.Fatalf("store calls %v, want [Release]", got)
			}
		})
	}
}

// TestDispatchUploadOutlivesShutdown: an upload under way when shutdown comes may finish, and
// is recorded.
func TestDispatchUploadOutlivesShutdown(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	ctx, cancel := context.WithCancel(t.Context())
	p.upload = func(uctx context.Context, _ celantur.UploadOptions) (celantur.File, error) {
		cancel()
		if uctx.Err() != nil {
			return celantur.File{}, uctx.Err()
		}
		return celantur.File{FileID: "f1"}, nil
	}
	d := NewDispatcher(s, p, signer{}, testConfig(), nil)
	dispatchOnce(ctx, d, queued("j1", 1))
	if tr := s.made("Transition"); len(tr) != 1 || tr[0].change.ProviderFileID != "f1" {
		t.Fatalf("store calls %v, want the upload recorded", opsOf(s.made()))
	}
}

func TestDispatchInputMissing(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	d := NewDispatcher(s, p, signer{}, testConfig(), nil)
	cl := queued("j1", 1)
	cl.Input = nil
	dispatchOnce(t.Context(), d, cl)
	if n := len(p.made("Upload")); n != 0 {
		t.Errorf("%d uploads of a job without its image", n)
	}
	tr := s.made("Transition")
	if len(tr) != 1 || tr[0].change.To != job.StatusFailed || tr[0].change.Error.Code != "INPUT_MISSING" {
		t.Fatalf("transitions %+v, want FAILED INPUT_MISSING", tr)
	}
	if _, uploading := d.flow.state(); uploading != 0 {
		t.Errorf("%d uploading", uploading)
	}
}

// TestDispatchRecordRaces: the upload's answer is recorded with the move to PROCESSING; when
// that move is refused, the job changed meanwhile, and what the dispatcher does with the
// engine's file depends on how.
func TestDispatchRecordRaces(t *testing.T) {
	t.Parallel()
	refused := func(from job.Status, fileID string) error {
		return &job.TransitionError{ID: "j1", From: from, To: job.StatusProcessing,
			Current: job.Job{ID: "j1", Status: from, ProviderFileID: fileID}}
	}
	for _, tc := range []struct {
		name      string
		err       error
		deleted   []string // at the engine
		store     []string
		deferNow  bool
		deleteErr error
	}{
		// The webhook came before the upload's answer and recorded this very file.
		{"webhook first", refused(job.StatusDone, "f-j1"), nil, []string{"Transition", "DeleteInput"}, false, nil},
		{"webhook first, still processing", refused(job.StatusProcessing, "f-j1"), nil, []string{"Transition", "DeleteInput"}, false, nil},
		// Cancelled during the upload: the engine's copy is deleted.
		{"cancelled during upload", refused(job.StatusCancelled, ""), []string{"f-j1"}, []string{"Transition", "DeleteInput"}, false, nil},
		{"cancelled, delete fails", refused(job.StatusCancelled, ""), []string{"f-j1"}, []string{"Transition", "DeleteInput"}, false, errors.New("engine down")},
		// The lease ran out and another replica recorded its own upload: this copy goes, and
		// the Defer finds the job no longer QUEUED.
		{"lease lost", refused(job.StatusProcessing, "f-other"), []string{"f-j1"}, []string{"Transition", "Defer"}, true, nil},
		{"lease lost, file already gone", refused(job.StatusProcessing, "f-other"), []string{"f-j1"}, []string{"Transition", "Defer"}, true, apiError(404, 0)},
		// Deleting fails: the job is not deferred, its lease runs out instead.
		{"lease lost, delete fails", refused(job.StatusProcessing, "f-other"), []string{"f-j1"}, []string{"Transition"}, false, apiError(503, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, p := newFakeStore(), newFakeProvider()
			s.transition = func(string, store.Change) (job.Job, job.Status, error) { return job.Job{}, "", tc.err }
			p.deleteErr = tc.deleteErr
			d := NewDispatcher(s, p, signer{}, testConfig(), nil)
			before := time.Now()
			dispatchOnce(t.Context(), d, queued("j1", 1))
			after := time.Now()
			var deleted []string
			for _, c := range p.made("Delete") {
				deleted = append(deleted, c.id)
				// An unrecorded file is deleted before the lease can run out.
				if tc.deferNow && (c.at.IsZero() || c.at.After(after.Add(testConfig().Lease/2))) {
					t.Errorf("deleted with deadline %v, want within half the lease", c.at.Sub(after))
				}
			}
			if !slices.Equal(deleted, tc.deleted) {
				t.Errorf("deleted at the engine %v, want %v", deleted, tc.deleted)
			}
			calls := s.made()
			if got := opsOf(calls); !slices.Equal(got, tc.store) {
				t.Fatalf("store calls %v, want %v", got, tc.store)
			}
			if tc.deferNow {
				c := calls[len(calls)-1]
				if !within(c.at, before, after, 0, 0) || !strings.Contains(c.reason, "could not be recorded") {
					t.Errorf("deferred to %v for %q, want at once, saying why", c.at, c.reason)
				}
			}
			if limit, uploading := d.flow.state(); uploading != 0 || limit != 4 {
				t.Errorf("flow: limit %v, %d uploading; want 4, 0", limit, uploading)
			}
		})
	}
}

// TestDispatchRecordRetried: a database error while recording is retried until it passes, so
// that a file the engine took is not uploaded again for a passing error.
func TestDispatchRecordRetried(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	failures := 2
	s.transition = func(id string, c store.Change) (job.Job, job.Status, error) {
		if failures > 0 {
			failures--
			return job.Job{}, "", errors.New("connection refused")
		}
		return job.Job{ID: id, Status: c.To}, job.StatusQueued, nil
	}
	d := NewDispatcher(s, p, signer{}, testConfig(), nil)
	dispatchOnce(t.Context(), d, queued("j1", 1))
	if got := opsOf(s.made()); !slices.Equal(got, []string{"Transition", "Transition", "Transition"}) {
		t.Fatalf("store calls %v, want the record tried three times", got)
	}
	if n := len(p.made("Delete")); n != 0 {
		t.Errorf("%d deletes of a recorded file", n)
	}
}

// TestDispatchUnrecordable: a file that cannot be recorded within RecordTimeout is deleted at
// the engine and the job is due again at once.
func TestDispatchUnrecordable(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	s.transition = func(string, store.Change) (job.Job, job.Status, error) {
		return job.Job{}, "", errors.New("connection refused")
	}
	cfg := testConfig()
	cfg.RecordTimeout = 120 * time.Millisecond
	d := NewDispatcher(s, p, signer{}, cfg, nil)
	dispatchOnce(t.Context(), d, queued("j1", 1))
	if got := p.made("Delete"); len(got) != 1 || got[0].id != "f-j1" {
		t.Fatalf("deletes %+v, want f-j1", got)
	}
	calls := s.made()
	if n := len(s.made("Transition")); n < 2 {
		t.Errorf("the record was tried %d times, want retries", n)
	}
	last := calls[len(calls)-1]
	if last.op != "Defer" || !strings.Contains(last.reason, "connection refused") {
		t.Errorf("last store call %+v, want a Defer saying why", last)
	}
	if len(s.made("DeleteInput")) != 0 {
		t.Error("the image of a job the engine does not have was deleted")
	}
}

// TestDispatchBookkeepingErrorsAreLogged: failing bookkeeping calls end the attempt without
// another call; the lease or the next claim puts things right.
func TestDispatchBookkeepingErrorsAreLogged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		upload error
		want   []string
	}{
		{"defer", apiError(503, 0), []string{"Defer"}},
		{"release", apiError(429, 0), []string{"Release"}},
		{"fail", apiError(400, 0), []string{"Transition"}},
		// The webhook recorded the file first: the input, not dropped by a move, is deleted.
		{"delete input", nil, []string{"Transition", "DeleteInput"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, p := newFakeStore(), newFakeProvider()
			boom := errors.New("database down")
			s.deferErr, s.releaseErr, s.deleteInputErr = boom, boom, boom
			if tc.upload == nil {
				s.transition = func(id string, c store.Change) (job.Job, job.Status, error) {
					cur := job.Job{ID: id, Status: job.StatusDone, ProviderFileID: c.ProviderFileID}
					return cur, cur.Status, &job.TransitionError{ID: id, From: cur.Status, To: c.To, Current: cur}
				}
			} else {
				s.transition = func(string, store.Change) (job.Job, job.Status, error) { return job.Job{}, "", boom }
				p.upload = func(context.Context, celantur.UploadOptions) (celantur.File, error) {
					return celantur.File{}, tc.upload
				}
			}
			logs := &testlog.Buffer{}
			d := NewDispatcher(s, p, signer{}, testConfig(), logs.TextLogger(slog.LevelDebug))
			dispatchOnce(t.Context(), d, queued("j1", 1))
			if got := opsOf(s.made()); !slices.Equal(got, tc.want) {
				t.Fatalf("store calls %v, want %v", got, tc.want)
			}
			if !strings.Contains(logs.String(), "database down") {
				t.Errorf("the error was not logged:\n%s", logs)
			}
		})
	}
}

// TestDispatchWarnsOfUnsettledUpload: an earlier upload with no recorded outcome may have left
// a copy at the engine; the retry says so.
func TestDispatchWarnsOfUnsettledUpload(t *testing.T) {
	t.Parallel()
	for _, unsettled := range []bool{false, true} {
		s, p := newFakeStore(), newFakeProvider()
		logs := &testlog.Buffer{}
		d := NewDispatcher(s, p, signer{}, testConfig(), logs.TextLogger(slog.LevelDebug))
		cl := queued("j1", 2)
		if unsettled {
			cl.UnsettledUpload = time.Now().Add(-time.Minute)
		}
		dispatchOnce(t.Context(), d, cl)
		if got := strings.Contains(logs.String(), "no recorded outcome"); got != unsettled {
			t.Errorf("unsettled %v: warned %v\n%s", unsettled, got, logs)
		}
		if n := len(p.made("Upload")); n != 1 {
			t.Errorf("%d uploads, want 1", n)
		}
	}
}
