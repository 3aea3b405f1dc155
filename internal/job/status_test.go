package job_test

import (
	"testing"

	"github.com/anonjob/anonjob/internal/job"
)

func TestStateMachine(t *testing.T) {
	t.Parallel()
	allowed := map[[2]job.Status]bool{
		{job.StatusQueued, job.StatusProcessing}:    true,
		{job.StatusQueued, job.StatusFailed}:        true,
		{job.StatusQueued, job.StatusCancelled}:     true,
		{job.StatusProcessing, job.StatusDone}:      true,
		{job.StatusProcessing, job.StatusFailed}:    true,
		{job.StatusProcessing, job.StatusCancelled}: true,
	}
	for _, from := range job.Statuses() {
		for _, to := range job.Statuses() {
			if got := job.CanTransition(from, to); got != allowed[[2]job.Status{from, to}] {
				t.Errorf("CanTransition(%s, %s) = %v", from, to, got)
			}
		}
	}
	for _, s := range job.Statuses() {
		want := s == job.StatusDone || s == job.StatusFailed || s == job.StatusCancelled
		if s.Terminal() != want {
			t.Errorf("%s.Terminal() = %v", s, s.Terminal())
		}
	}
	if job.Status("LOST").Terminal() || job.Status("LOST").Valid() {
		t.Error("an unknown status is neither valid nor terminal")
	}
	if got := job.SourcesOf(job.StatusDone); len(got) != 1 || got[0] != job.StatusProcessing {
		t.Errorf("SourcesOf(DONE) = %v", got)
	}
}

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	ok := job.Spec{Method: job.MethodBlur, Targets: job.Targets{Face: true}}
	cases := []struct {
		name   string
		mutate func(*job.Spec)
		field  string
	}{
		{"valid", func(*job.Spec) {}, ""},
		{"every method", func(s *job.Spec) { s.Method = job.MethodDetect }, ""},
		{"unknown method", func(s *job.Spec) { s.Method = "smear" }, "method"},
		{"no target", func(s *job.Spec) { s.Targets = job.Targets{} }, "face"},
		{"vehicle only", func(s *job.Spec) { s.Targets = job.Targets{Vehicle: true} }, ""},
		{"long request id", func(s *job.Spec) { s.RequestID = string(make([]byte, 129)) }, "request_id"},
		{"relative callback", func(s *job.Spec) { s.CallbackURL = "/hook" }, "callback_url"},
		{"ftp callback", func(s *job.Spec) { s.CallbackURL = "ftp://example.com/x" }, "callback_url"},
		{"https callback", func(s *job.Spec) { s.CallbackURL = "https://example.com/x?a=b" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := ok
			tc.mutate(&s)
			fe := s.Validate(job.DefaultLimits())
			if (fe == nil) != (tc.field == "") || (fe != nil && fe.Field != tc.field) {
				t.Fatalf("Validate() = %v, want field %q", fe, tc.field)
			}
		})
	}
}
