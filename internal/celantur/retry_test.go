package celantur

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetries(t *testing.T) {
	t.Parallel()
	fixedNow := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		steps         []step
		maxRetries    int
		wantErr       bool
		wantRetryable bool
		wantStatus    int // of the APIError, 0 for none
		wantMalformed bool
		requests      int
		requested     []time.Duration // Retry-After waits asked for
	}{
		{name: "500s then success", steps: []step{status(500, ""), status(502, ""), ok}, requests: 3},
		{
			name: "429 with Retry-After seconds", steps: []step{status(429, "7"), ok},
			requests: 2, requested: []time.Duration{7 * time.Second},
		},
		{
			name: "503 with Retry-After date", steps: []step{status(503, fixedNow.Add(30*time.Second).Format(http.TimeFormat)), ok},
			requests: 2, requested: []time.Duration{30 * time.Second},
		},
		{name: "429 without Retry-After uses backoff", steps: []step{status(429, ""), ok}, requests: 2},
		{
			name: "400 not retried", steps: []step{status(400, "")},
			wantErr: true, wantStatus: 400, requests: 1,
		},
		{
			name: "404 not retried", steps: []step{status(404, "")},
			wantErr: true, wantStatus: 404, requests: 1,
		},
		{
			name: "409 not retried even with Retry-After", steps: []step{status(409, "1")},
			wantErr: true, wantStatus: 409, requests: 1,
		},
		{
			name: "5xx until retries run out", steps: []step{status(503, "")}, maxRetries: 2,
			wantErr: true, wantRetryable: true, wantStatus: 503, requests: 3,
		},
		{
			name: "malformed JSON", steps: []step{raw(200, `{"file_id": "f1", "file_status`)},
			wantErr: true, wantMalformed: true, requests: 1,
		},
		{
			name: "JSON without file id", steps: []step{raw(200, `{"error": "odd"}`)},
			wantErr: true, wantMalformed: true, requests: 1,
		},
		{
			name: "HTML error page", steps: []step{raw(500, "<html>oops</html>"), ok}, requests: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t)
			p.script("GET /v1/file/{id}/status", tt.steps...)
			c, rec := newTestClient(t, p.srv.URL, func(cfg *Config) { cfg.MaxRetries = tt.maxRetries })
			c.now = func() time.Time { return fixedNow }

			f, err := c.Status(t.Context(), "f1")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && f.FileID != "f1" {
				t.Errorf("file = %+v", f)
			}
			if err != nil {
				if got := IsRetryable(err); got != tt.wantRetryable {
					t.Errorf("IsRetryable(%v) = %v, want %v", err, got, tt.wantRetryable)
				}
				if got := errors.Is(err, ErrMalformedResponse); got != tt.wantMalformed {
					t.Errorf("errors.Is(%v, ErrMalformedResponse) = %v", err, got)
				}
				var apiErr *APIError
				switch {
				case tt.wantStatus == 0 && errors.As(err, &apiErr):
					t.Errorf("err = %v, want no APIError", err)
				case tt.wantStatus != 0 && (!errors.As(err, &apiErr) || apiErr.StatusCode != tt.wantStatus):
					t.Errorf("err = %v, want an APIError %d", err, tt.wantStatus)
				case tt.wantStatus != 0 && (apiErr.Op != "status" || !strings.Contains(apiErr.Message, "scripted")):
					t.Errorf("APIError = %+v, want op status and the provider's message", apiErr)
				}
				if tt.wantStatus == 404 && !IsNotFound(err) {
					t.Errorf("IsNotFound(%v) = false", err)
				}
			}
			p.wantCalls(t, rec, "GET /v1/file/f1/status", tt.requests, tt.requests-1)
			requested, _ := rec.snapshot()
			if len(requested) != len(tt.requested) {
				t.Fatalf("Retry-After waits = %v, want %v", requested, tt.requested)
			}
			for i := range requested {
				if requested[i] != tt.requested[i] {
					t.Errorf("Retry-After wait %d = %v, want %v", i, requested[i], tt.requested[i])
				}
			}
		})
	}
}

func TestRetryAfterBeyondDeadlineFailsAtOnce(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	p.mux.HandleFunc("GET /v1/file/{id}/status", status(429, "3600"))
	c, rec := newTestClient(t, p.srv.URL, nil)
	c.retry.wait = func(d time.Duration) time.Duration { return d } // the real wait, an hour
	_, err := c.Status(t.Context(), "f1")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.RetryAfter != time.Hour || !IsRetryable(err) {
		t.Fatalf("err = %v, want a retryable 429 asking for an hour", err)
	}
	if _, waits := rec.snapshot(); len(waits) != 0 {
		t.Errorf("waited %v past the call's deadline", waits)
	}
}

func TestHangPastDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		callTimeout time.Duration
		ctxTimeout  time.Duration
	}{
		{name: "call timeout", callTimeout: 300 * time.Millisecond},
		{name: "caller's deadline", callTimeout: time.Minute, ctxTimeout: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t)
			p.mux.HandleFunc("GET /v1/file/{id}/status", func(_ http.ResponseWriter, r *http.Request) {
				<-r.Context().Done() // hangs until the client gives up
			})
			c, _ := newTestClient(t, p.srv.URL, func(cfg *Config) { cfg.CallTimeout = tt.callTimeout })
			ctx := t.Context()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			_, err := c.Status(ctx, "f1")
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
			if !IsRetryable(err) {
				t.Errorf("IsRetryable(%v) = false", err)
			}
			if p.count("GET /v1/file/f1/status") < 1 {
				t.Error("no request reached the provider")
			}
		})
	}
}

func TestDroppedConnectionRetried(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	p.script("GET /v1/file/{id}/status", dropConnection, ok)
	// A fixed token: no sign-in first, so the status request opens a fresh
	// connection, which net/http does not replay on its own (it replays an
	// idempotent request only on a reused connection): the second request
	// is the client's retry.
	c, rec := newTestClient(t, p.srv.URL, func(cfg *Config) { cfg.Credentials = Credentials{Token: "tok-1"} })
	if _, err := c.Status(t.Context(), "f1"); err != nil {
		t.Fatalf("Status: %v", err)
	}
	p.wantCalls(t, rec, "GET /v1/file/f1/status", 2, 1)
}

func TestErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	p.mux.HandleFunc("POST /v1/file", dropConnection)
	c, _ := newTestClient(t, p.srv.URL, func(cfg *Config) { cfg.MaxRetries = 1 })
	_, err := c.Upload(t.Context(), "image/jpeg", []byte("jpeg"), UploadOptions{Webhook: "https://example.com/hook?token=per-job-secret"})
	if err == nil || !IsRetryable(err) {
		t.Fatalf("err = %v, want a retryable transport error", err)
	}
	for _, secret := range []string{"per-job-secret", "tok-1", testPassword} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows %q", err, secret)
		}
	}
}

func TestCrossHostRedirectRefused(t *testing.T) {
	t.Parallel()
	other := newProvider(t)
	other.mux.HandleFunc("GET /v1/file/{id}/status", ok)
	p := newProvider(t)
	p.mux.HandleFunc("GET /v1/file/{id}/status", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.srv.URL+r.URL.Path, http.StatusFound)
	})
	c, _ := newTestClient(t, p.srv.URL, nil)
	_, err := c.Status(t.Context(), "f1")
	if err == nil || IsRetryable(err) {
		t.Fatalf("err = %v, want a permanent error", err)
	}
	if n := other.count("GET /v1/file/f1/status"); n != 0 {
		t.Errorf("the other host got %d requests carrying the token", n)
	}
	if n := p.count("GET /v1/file/f1/status"); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}
