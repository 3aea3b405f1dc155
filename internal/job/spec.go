package job

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/anonjob/anonjob/internal/limits"
)

// Limits bound what a client may submit.
type Limits struct {
	MaxInputBytes     int64
	MaxRequestIDLen   int
	MaxCallbackURLLen int

	MaxImagePixels int64 // width times height
}

// DefaultLimits are the limits a server starts with.
func DefaultLimits() Limits {
	return Limits{MaxInputBytes: limits.DefaultMaxImageBytes, MaxImagePixels: limits.DefaultMaxImagePixels,
		MaxRequestIDLen: 128, MaxCallbackURLLen: 2048}
}

// WithDefaults fills the zero fields of l with those of DefaultLimits.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	return Limits{MaxInputBytes: cmp.Or(l.MaxInputBytes, d.MaxInputBytes), MaxImagePixels: cmp.Or(l.MaxImagePixels, d.MaxImagePixels),
		MaxRequestIDLen: cmp.Or(l.MaxRequestIDLen, d.MaxRequestIDLen), MaxCallbackURLLen: cmp.Or(l.MaxCallbackURLLen, d.MaxCallbackURLLen)}
}

// FieldError names the request field that is wrong and why.
type FieldError struct {
	Field  string
	Reason string // a machine-readable reason, e.g. FIELD_REQUIRED
	Msg    string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// ContentTypes are the image types the engine accepts.
func ContentTypes() []string { return []string{"image/jpeg", "image/png"} }

// Validate checks a submission against the rules of the domain and the limits.
// It reports the first problem; the image bytes are checked by the caller, which knows the
// transport's limits.
func (s Spec) Validate(l Limits) *FieldError {
	switch {
	case !s.Method.Valid():
		return &FieldError{Field: "method", Reason: "INVALID_METHOD",
			Msg: fmt.Sprintf("%q is not one of %v", s.Method, Methods())}
	case !s.Targets.Any():
		return &FieldError{Field: "face", Reason: "NO_TARGET",
			Msg: "at least one of face, license_plate, person, vehicle must be true"}
	}
	for _, f := range []struct {
		name     string
		n, limit int
	}{{"request_id", len(s.RequestID), l.MaxRequestIDLen}, {"callback_url", len(s.CallbackURL), l.MaxCallbackURLLen}} {
		if f.n > f.limit {
			return &FieldError{Field: f.name, Reason: "TOO_LONG", Msg: fmt.Sprintf("is %d bytes, the limit is %d", f.n, f.limit)}
		}
	}
	for _, f := range []struct{ name, v string }{{"request_id", s.RequestID}, {"callback_url", s.CallbackURL}} {
		if strings.ContainsFunc(f.v, unicode.IsControl) {
			return &FieldError{Field: f.name, Reason: "INVALID_CHARACTERS", Msg: "must not contain control characters"}
		}
	}
	if s.CallbackURL != "" {
		u, err := url.Parse(s.CallbackURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return &FieldError{Field: "callback_url", Reason: "INVALID_URL",
				Msg: "must be an absolute http or https URL"}
		}
	}
	return nil
}
