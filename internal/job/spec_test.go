package job_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/job"
)

// TestSpecLimits: each limit lets its exact value through and refuses one more, naming the
// field and why.
func TestSpecLimits(t *testing.T) {
	t.Parallel()
	l := job.DefaultLimits()
	if l.MaxRequestIDLen != 128 || l.MaxCallbackURLLen != 2048 {
		t.Fatalf("default limits %+v", l)
	}
	url := func(n int) string { return "https://example.com/" + strings.Repeat("a", n-len("https://example.com/")) }
	for _, tc := range []struct {
		name   string
		spec   job.Spec
		field  string
		reason string
	}{
		{"request id at the limit", job.Spec{RequestID: strings.Repeat("r", 128)}, "", ""},
		{"request id past the limit", job.Spec{RequestID: strings.Repeat("r", 129)}, "request_id", "TOO_LONG"},
		{"callback at the limit", job.Spec{CallbackURL: url(2048)}, "", ""},
		{"callback past the limit", job.Spec{CallbackURL: url(2049)}, "callback_url", "TOO_LONG"},
		{"control character in request id", job.Spec{RequestID: "a\nb"}, "request_id", "INVALID_CHARACTERS"},
		{"control character in callback", job.Spec{CallbackURL: "https://example.com/\x7f"}, "callback_url", "INVALID_CHARACTERS"},
		{"callback without host", job.Spec{CallbackURL: "https:///x"}, "callback_url", "INVALID_URL"},
		{"callback unparsable", job.Spec{CallbackURL: "https://exa mple.com:x/"}, "callback_url", "INVALID_URL"},
		{"http callback", job.Spec{CallbackURL: "http://example.com/x"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.spec
			s.Method, s.Targets = job.MethodBlur, job.Targets{LicensePlate: true}
			fe := s.Validate(l)
			if tc.field == "" {
				if fe != nil {
					t.Fatalf("Validate() = %v, want no error", fe)
				}
				return
			}
			if fe == nil || fe.Field != tc.field || fe.Reason != tc.reason {
				t.Fatalf("Validate() = %+v, want %s %s", fe, tc.field, tc.reason)
			}
			if fe.Error() != tc.field+": "+fe.Msg || fe.Msg == "" {
				t.Errorf("Error() = %q, want the field and why", fe.Error())
			}
		})
	}
}

func TestMethods(t *testing.T) {
	t.Parallel()
	for _, m := range job.Methods() {
		if !m.Valid() {
			t.Errorf("%s is listed but not valid", m)
		}
	}
	if len(job.Methods()) != 4 || job.Method("smear").Valid() || job.Method("").Valid() {
		t.Errorf("Methods() = %v", job.Methods())
	}
	if (job.Targets{}).Any() || !(job.Targets{Person: true}).Any() {
		t.Error("Targets.Any")
	}
	if got := job.ContentTypes(); len(got) != 2 || got[0] != "image/jpeg" || got[1] != "image/png" {
		t.Errorf("ContentTypes() = %v", got)
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"0190c6f2-0000-7000-8000-000000000001":          true,
		"0190C6F2-0000-7000-8000-000000000001":          true,
		"0190c6f200007000800000000000000001":            false, // no dashes: parses, wrong form
		"urn:uuid:0190c6f2-0000-7000-8000-000000000001": false,
		"{0190c6f2-0000-7000-8000-000000000001}":        false,
		"0190c6f2-0000-7000-8000-00000000000g":          false,
		"":                                              false,
	} {
		if got := job.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

func ExampleSpec_Validate() {
	s := job.Spec{Method: job.MethodBlur, Targets: job.Targets{Face: true}, CallbackURL: "ftp://example.com/done"}
	if fe := s.Validate(job.DefaultLimits()); fe != nil {
		fmt.Println(fe.Field, fe.Reason)
	}
	// Output: callback_url INVALID_URL
}

func ExampleCanTransition() {
	fmt.Println(job.CanTransition(job.StatusQueued, job.StatusProcessing))
	fmt.Println(job.CanTransition(job.StatusDone, job.StatusFailed))
	// Output:
	// true
	// false
}

func ExampleFileURL() {
	public, _ := url.Parse("https://anonjob.example.com/base/")
	fmt.Println(job.FileURL(public, "0190c6f2-0000-7000-8000-000000000001", "anonymized"))
	// Output: https://anonjob.example.com/base/v1/jobs/0190c6f2-0000-7000-8000-000000000001/files/anonymized
}
