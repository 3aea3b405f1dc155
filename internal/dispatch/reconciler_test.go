package dispatch

import (
	"context"
	"errors"
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

// TestPoll: what one status poll of an overdue job does with the engine's answer.
func TestPoll(t *testing.T) {
	t.Parallel()
	links := &job.Results{
		OriginalLink:     "http://engine.test/v1/file/f-j1/original",
		AnonymizedLink:   "http://engine.test/v1/file/f-j1/anonymized",
		BinaryMaskLink:   "http://engine.test/v1/file/f-j1/binary-mask",
		InstanceMaskLink: "http://engine.test/v1/file/f-j1/instance-mask",
		MetadataLink:     "http://engine.test/v1/file/f-j1/metadata",
	}
	for _, tc := range []struct {
		name    string
		status  string
		err     error
		to      job.Status // "": polled again later
		code    string
		results *job.Results
	}{
		{name: "done", status: celantur.StatusDone, to: job.StatusDone, results: links},
		{name: "failed", status: celantur.StatusFailed, to: job.StatusFailed, code: "PROVIDER_FAILED"},
		{name: "unknown at the engine", err: apiError(404, 0), to: job.StatusFailed, code: "PROVIDER_LOST"},
		{name: "processing", status: celantur.StatusProcessing},
		{name: "queued", status: celantur.StatusQueued},
		{name: "engine unreachable", err: errors.New("connection refused")},
		{name: "5xx", err: apiError(503, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, p := newFakeStore(), newFakeProvider()
			p.status = func(id string) (celantur.File, error) {
				return celantur.File{FileID: id, FileStatus: tc.status}, tc.err
			}
			logs := &testlog.Buffer{}
			r := NewReconciler(s, p, testConfig(), logs.TextLogger(slog.LevelDebug))
			r.poll(t.Context(), t.Context(), processing("j1", 1))
			if st := p.made("Status"); len(st) != 1 || st[0].id != "f-j1" {
				t.Fatalf("status calls %+v, want one of f-j1", st)
			}
			// A failed poll is reported; an engine that lost the file is an answer.
			if warned := strings.Contains(logs.String(), "poll engine"); warned != (tc.err != nil && tc.code != "PROVIDER_LOST") {
				t.Errorf("warned of the poll %v for %v\n%s", warned, tc.err, logs)
			}
			if ended := strings.Contains(logs.String(), "ended by status poll"); ended != (tc.to != "") {
				t.Errorf("logged the end %v\n%s", ended, logs)
			}
			calls := s.made()
			if len(calls) != 1 {
				t.Fatalf("store calls %v, want one", opsOf(calls))
			}
			c := calls[0]
			if tc.to == "" {
				if c.op != "SchedulePoll" || c.id != "j1" {
					t.Fatalf("store call %+v, want SchedulePoll of j1", c)
				}
				return
			}
			ch := c.change
			if c.op != "Transition" || c.id != "j1" || ch.To != tc.to {
				t.Fatalf("store call %+v, want Transition of j1 to %s", c, tc.to)
			}
			if (ch.Error == nil) != (tc.code == "") || (ch.Error != nil && ch.Error.Code != tc.code) {
				t.Errorf("error %+v, want code %q", ch.Error, tc.code)
			}
			if (ch.Results == nil) != (tc.results == nil) || (ch.Results != nil && *ch.Results != *tc.results) {
				t.Errorf("results %+v, want %+v", ch.Results, tc.results)
			}
		})
	}
}

// TestPollBacksOff: a job still under way is polled again after a delay that grows with its
// polls, from a quarter of the webhook deadline up to PollMax.
func TestPollBacksOff(t *testing.T) {
	t.Parallel()
	cfg := testConfig() // webhook deadline 2m, PollMax 1h
	first := cfg.WebhookDeadline / 4
	for _, tc := range []struct {
		poll     int
		interval time.Duration
	}{{1, first}, {2, 2 * first}, {3, 4 * first}, {20, cfg.PollMax}} {
		s, p := newFakeStore(), newFakeProvider()
		r := NewReconciler(s, p, cfg, nil)
		before := time.Now()
		r.poll(t.Context(), t.Context(), processing("j1", tc.poll))
		after := time.Now()
		c := s.made("SchedulePoll")
		if len(c) != 1 || !within(c[0].at, before, after, tc.interval/2, tc.interval) {
			t.Errorf("poll %d: scheduled %+v, want in %v to %v", tc.poll, c, tc.interval/2, tc.interval)
		}
	}
}

// TestPollRaces: the webhook or a cancel got there first; a refused move is the normal end.
func TestPollRaces(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		log  string
	}{
		{"webhook first", &job.TransitionError{ID: "j1", From: job.StatusDone, To: job.StatusDone}, ""},
		{"database down", errors.New("database down"), "database down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, p := newFakeStore(), newFakeProvider()
			p.status = func(id string) (celantur.File, error) { return celantur.File{FileID: id, FileStatus: "done"}, nil }
			s.transition = func(string, store.Change) (job.Job, job.Status, error) { return job.Job{}, "", tc.err }
			logs := &testlog.Buffer{}
			r := NewReconciler(s, p, testConfig(), logs.TextLogger(slog.LevelDebug))
			r.poll(t.Context(), t.Context(), processing("j1", 1))
			if got := opsOf(s.made()); !slices.Equal(got, []string{"Transition"}) {
				t.Fatalf("store calls %v, want [Transition]", got)
			}
			out := logs.String()
			if tc.log != "" && !strings.Contains(out, tc.log) || strings.Contains(out, "level=ERROR") != (tc.log != "") {
				t.Errorf("log %q, want an error only for %q", out, tc.log)
			}
		})
	}
}

func TestPollScheduleErrorIsLogged(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	s.scheduleErr = errors.New("database down")
	logs := &testlog.Buffer{}
	r := NewReconciler(s, p, testConfig(), logs.TextLogger(slog.LevelDebug))
	r.poll(t.Context(), t.Context(), processing("j1", 1))
	if !strings.Contains(logs.String(), "database down") {
		t.Errorf("log %q, want the schedule error", logs)
	}
}

// TestReconcilerRun: a full batch is followed at once by another claim; a short one waits for
// the tick. Every claimed job is polled once, its claim held (renewed) while it is.
func TestReconcilerRun(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	s.claims = [][]store.Claim{{processing("a", 1), processing("b", 1)}, {processing("c", 1)}}
	release := make(chan struct{})
	p.status = func(id string) (celantur.File, error) {
		if id == "f-a" {
			<-release
		}
		return celantur.File{FileID: id, FileStatus: "processing"}, nil
	}
	cfg := testConfig()
	cfg.Lease = 30 * time.Millisecond // renewed every 10ms
	r := NewReconciler(s, p, cfg, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	// While a is polled, both claims of its batch are held.
	waitFor(t, s.calls, func(c call) bool { return c.op == "RenewClaims" && slices.Equal(c.ids, []string{"a", "b"}) })
	close(release)
	waitFor(t, s.calls, func(c call) bool { return c.op == "SchedulePoll" && c.id == "c" })
	cancel()
	<-done
	var polled []string
	for _, c := range p.made("Status") {
		polled = append(polled, c.id)
	}
	if !slices.Equal(polled, []string{"f-a", "f-b", "f-c"}) {
		t.Errorf("polled %v, want each job once", polled)
	}
	claims := s.made("ClaimPolls")
	if len(claims) != 2 || claims[0].n != cfg.Concurrency || claims[0].id != cfg.Owner {
		t.Errorf("claims %+v, want two of %d for %s before the (hour-long) tick", claims, cfg.Concurrency, cfg.Owner)
	}
}

// TestReconcilerRunClaimError: a failed claim is logged and tried again at the next tick.
func TestReconcilerRunClaimError(t *testing.T) {
	t.Parallel()
	s, p := newFakeStore(), newFakeProvider()
	s.claimErr = errors.New("database down")
	cfg := testConfig()
	cfg.Tick = time.Millisecond
	logs := &testlog.Buffer{}
	r := NewReconciler(s, p, cfg, logs.TextLogger(slog.LevelDebug))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	for range 3 {
		waitFor(t, s.calls, func(c call) bool { return c.op == "ClaimPolls" })
	}
	cancel()
	<-done
	if !strings.Contains(logs.String(), "database down") {
		t.Errorf("log %q, want the claim error", logs)
	}
}
