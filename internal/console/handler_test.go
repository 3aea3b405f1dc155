package console_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/console"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := console.Mount(api)
	cases := []struct {
		name, method, path string
		code               int
		ctype, body        string
	}{
		{"page", http.MethodGet, "/ui/", http.StatusOK, "text/html; charset=utf-8", `<script type="module" src="app.js">`},
		{"module", http.MethodGet, "/ui/app.js", http.StatusOK, "text/javascript; charset=utf-8", "sessionStorage"},
		{"style", http.MethodGet, "/ui/console.css", http.StatusOK, "text/css; charset=utf-8", ".badge"},
		{"head", http.MethodHead, "/ui/jobs.js", http.StatusOK, "text/javascript; charset=utf-8", ""},
		{"missing", http.MethodGet, "/ui/nope.js", http.StatusNotFound, "", ""},
		{"no listing", http.MethodGet, "/ui/static/", http.StatusNotFound, "", ""},
		{"wrong method", http.MethodPost, "/ui/app.js", http.StatusMethodNotAllowed, "", ""},
		{"bare prefix", http.MethodGet, "/ui", http.StatusMovedPermanently, "", ""},
		{"api untouched", http.MethodGet, "/v1/jobs", http.StatusTeapot, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
			if rec.Code != c.code {
				t.Fatalf("%s %s: %d, want %d", c.method, c.path, rec.Code, c.code)
			}
			if c.ctype != "" && rec.Header().Get("Content-Type") != c.ctype {
				t.Errorf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), c.ctype)
			}
			if !strings.Contains(rec.Body.String(), c.body) {
				t.Errorf("body lacks %q", c.body)
			}
			if strings.HasPrefix(c.path, "/ui/") && rec.Header().Get("Content-Security-Policy") != console.ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy %q", rec.Header().Get("Content-Security-Policy"))
			}
		})
	}
}

// TestRevalidation: files carry an ETag, and a matching If-None-Match costs no body.
func TestRevalidation(t *testing.T) {
	t.Parallel()
	h := console.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/app.js", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, rec.Header().Get("Cache-Control"))
	}
	req := httptest.NewRequest(http.MethodGet, "/ui/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Fatalf("revalidation: %d with %d bytes", rec.Code, rec.Body.Len())
	}
}

// TestNoInlineCode: the CSP forbids inline scripts, styles and event handlers, so the page must
// have none (the browser test would only see them refused).
func TestNoInlineCode(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	console.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/", nil))
	page := rec.Body.String()
	for _, bad := range []string{"<style", " style=", " onclick=", " onload=", "<script>", "javascript:", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
}
