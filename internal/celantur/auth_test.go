package celantur

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSigninSendsRawToken(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	var seen atomic.Value
	p.mux.HandleFunc("GET /v1/file/{id}/status", func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("Authorization"))
		if requireToken(w, r, "tok-1") {
			writeJSON(w, http.StatusOK, fileJSON(r.PathValue("id"), StatusDone))
		}
	})
	c, _ := newTestClient(t, p.srv.URL, nil)
	for range 3 {
		f, err := c.Status(t.Context(), "f1")
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if f.FileID != "f1" || f.FileStatus != StatusDone || f.DeleteTime != "2030-01-02T03:04:05Z" {
			t.Errorf("file = %+v", f)
		}
	}
	if got := seen.Load(); got != "tok-1" {
		t.Errorf("Authorization = %q, want the raw token tok-1", got)
	}
	if n := p.signIns.Load(); n != 1 {
		t.Errorf("sign-ins = %d, want 1 for three calls", n)
	}
}

func TestReSigninOn401(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	p.serveStatus("tok-2", StatusQueued) // the provider has revoked tok-1 early
	c, rec := newTestClient(t, p.srv.URL, nil)
	if _, err := c.Status(t.Context(), "f1"); err != nil {
		t.Fatalf("Status: %v", err)
	}
	if n := p.signIns.Load(); n != 2 {
		t.Errorf("sign-ins = %d, want 2", n)
	}
	// Rejected, then resent: a 401 does not go through the backoff loop.
	p.wantCalls(t, rec, "GET /v1/file/f1/status", 2, 0)
}

func TestPersistent401FailsAfterOneResignin(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	p.mux.HandleFunc("GET /v1/file/{id}/status", func(w http.ResponseWriter, r *http.Request) {
		requireToken(w, r, "never")
	})
	c, _ := newTestClient(t, p.srv.URL, nil)
	_, err := c.Status(t.Context(), "f1")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || IsRetryable(err) {
		t.Fatalf("err = %v, want a permanent 401", err)
	}
	if n := p.signIns.Load(); n != 2 {
		t.Errorf("sign-ins = %d, want 2", n)
	}
}

func TestFixedToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		accept   string
		wantErr  bool
		requests int
	}{
		{name: "accepted", accept: "fixed-token", requests: 1},
		{name: "401 is an error without sign-in", accept: "other", wantErr: true, requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t)
			p.serveStatus(tt.accept, StatusDone)
			c, _ := newTestClient(t, p.srv.URL, func(cfg *Config) {
				cfg.Credentials = Credentials{Token: "fixed-token"}
			})
			_, err := c.Status(t.Context(), "f1")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "fixed-token") {
				t.Errorf("error %q shows the token", err)
			}
			if n := p.signIns.Load(); n != 0 {
				t.Errorf("sign-ins = %d, want none", n)
			}
			if n := p.count("GET /v1/file/f1/status"); n != tt.requests {
				t.Errorf("requests = %d, want %d", n, tt.requests)
			}
		})
	}
}

func TestTokenRenewedBeforeExpiry(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	p.expiresIn = 100
	p.mux.HandleFunc("GET /v1/list", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []any{})
	})
	c, _ := newTestClient(t, p.srv.URL, nil)
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	steps := []struct {
		advance time.Duration
		signIns int32
	}{
		{0, 1},
		{80 * time.Second, 1},  // 80% of the lifetime: still good
		{11 * time.Second, 2},  // past 90%: renewed before the provider expires it
		{50 * time.Second, 2},  // the new token is 50s old
		{100 * time.Second, 3}, // and now past its own 90%
	}
	for i, s := range steps {
		advance(s.advance)
		if _, err := c.List(t.Context(), 0); err != nil {
			t.Fatalf("step %d: List: %v", i, err)
		}
		if n := p.signIns.Load(); n != s.signIns {
			t.Errorf("step %d: sign-ins = %d, want %d", i, n, s.signIns)
		}
	}
}

func TestConcurrentCallersShareOneSignin(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	p.serveStatus("tok-1", StatusDone)
	c, _ := newTestClient(t, p.srv.URL, nil)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := c.Status(t.Context(), "f1"); err != nil {
				t.Errorf("Status: %v", err)
			}
		})
	}
	wg.Wait()
	if n := p.signIns.Load(); n != 1 {
		t.Errorf("sign-ins = %d, want 1 shared by 16 callers", n)
	}
}

func TestWrongPasswordIsPermanentAndHidden(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	c, rec := newTestClient(t, p.srv.URL, func(cfg *Config) {
		cfg.Credentials = Credentials{Username: testUser, Password: "wrong-" + testPassword}
	})
	_, err := c.Status(t.Context(), "f1")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Op != "signin" {
		t.Fatalf("err = %v, want the sign-in's 401", err)
	}
	if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), testUser) {
		t.Errorf("error %q shows credentials", err)
	}
	p.wantCalls(t, rec, "POST /v1/signin", 1, 0) // a rejected sign-in is not retried
}
