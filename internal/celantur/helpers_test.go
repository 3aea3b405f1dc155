package celantur

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/v1wire"
)

const (
	testUser     = "user@example.com"
	testPassword = "s3cret-password"
)

// provider stands in for the hosted API: it signs in with the test
// credentials, handing out tok-1, tok-2, ..., and counts requests.
type provider struct {
	mux       *http.ServeMux
	srv       *httptest.Server
	signIns   atomic.Int32
	expiresIn int

	mu       sync.Mutex
	requests map[string]int
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	p := &provider{mux: http.NewServeMux(), expiresIn: 3600, requests: map[string]int{}}
	p.mux.HandleFunc("POST /v1/signin", func(w http.ResponseWriter, r *http.Request) {
		var in v1wire.SigninRequest
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Username != testUser || in.Password != testPassword {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "wrong username or password"})
			return
		}
		n := p.signIns.Add(1)
		writeJSON(w, http.StatusOK, v1wire.SigninResponse{AccessToken: "tok-" + strconv.Itoa(int(n)), ExpiresIn: p.expiresIn})
	})
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests[r.Method+" "+r.URL.Path]++
		p.mu.Unlock()
		p.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// count returns how many requests reached "METHOD /path".
func (p *provider) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[key]
}

// wantCalls checks how many requests reached "METHOD /path" and how many times the client
// went through its backoff loop, retrying.
func (p *provider) wantCalls(t *testing.T, rec *retries, key string, requests, retried int) {
	t.Helper()
	if n := p.count(key); n != requests {
		t.Errorf("%s: %d requests, want %d", key, n, requests)
	}
	if _, waits := rec.snapshot(); len(waits) != retried {
		t.Errorf("%d retries (waits %v), want %d", len(waits), waits, retried)
	}
}

// retries records what the client's retry loop asked for.
type retries struct {
	mu        sync.Mutex
	requested []time.Duration // Retry-After waits asked for by the provider
	waits     []time.Duration // waits passed to backoff
}

func (r *retries) snapshot() (requested, waits []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.requested...), append([]time.Duration(nil), r.waits...)
}

// newTestClient returns a client of p with waits shrunk to a millisecond,
// so tests never depend on wall time, and a record of its retries.
func newTestClient(t *testing.T, baseURL string, mod func(*Config)) (*Client, *retries) {
	t.Helper()
	cfg := Config{
		BaseURL:     baseURL,
		Credentials: Credentials{Username: testUser, Password: testPassword},
		CallTimeout: 10 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rec := &retries{}
	c.retry.initial = time.Millisecond
	c.retry.max = 2 * time.Millisecond
	c.retry.wait = func(d time.Duration) time.Duration {
		rec.mu.Lock()
		rec.requested = append(rec.requested, d)
		rec.mu.Unlock()
		return time.Millisecond
	}
	c.retry.onRetry = func(_ string, _ error, wait time.Duration) {
		rec.mu.Lock()
		rec.waits = append(rec.waits, wait)
		rec.mu.Unlock()
	}
	return c, rec
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// requireToken answers 401 unless the request carries want raw.
func requireToken(w http.ResponseWriter, r *http.Request, want string) bool {
	if r.Header.Get("Authorization") != want {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "invalid or expired access token"})
		return false
	}
	return true
}

func fileJSON(id, status string) map[string]any {
	return map[string]any{
		"customer_id": "cust-1", "file_id": id, "file_status": status,
		"webhook_status": "empty", "delete_time": "2030-01-02T03:04:05Z",
	}
}

// A step is one scripted answer of the provider.
type step func(w http.ResponseWriter, r *http.Request)

// status answers code with a message, and Retry-After if not empty.
func status(code int, retryAfter string) step {
	return func(w http.ResponseWriter, _ *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeJSON(w, code, map[string]string{"message": "scripted " + http.StatusText(code)})
	}
}

// ok answers the status of the file in the path: done.
func ok(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, fileJSON(r.PathValue("id"), StatusDone))
}

// raw answers code with body as it is.
func raw(code int, body string) step {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

// dropConnection closes the connection without an answer.
func dropConnection(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// script answers pattern with steps in turn; the last one repeats.
func (p *provider) script(pattern string, steps ...step) {
	var n atomic.Int32
	p.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		steps[min(i, len(steps)-1)](w, r)
	})
}

// serveStatus answers the status of any file, fileStatus, to callers sending token.
func (p *provider) serveStatus(token, fileStatus string) {
	p.mux.HandleFunc("GET /v1/file/{id}/status", func(w http.ResponseWriter, r *http.Request) {
		if requireToken(w, r, token) {
			writeJSON(w, http.StatusOK, fileJSON(r.PathValue("id"), fileStatus))
		}
	})
}
