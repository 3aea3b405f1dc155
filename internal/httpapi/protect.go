package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/inflight"
)

// KeyChecker checks an Authorization header value and returns the key's customer.
type KeyChecker interface {
	CheckAuthorization(ctx context.Context, header string) (string, error)
}

// RateLimiter takes a request's token from a customer's bucket, or says how long to wait.
type RateLimiter interface {
	Allow(customer string, now time.Time) (bool, time.Duration)
}

// Security is what the HTTP face checks before it reads a request's body: the API key, the
// customer's request rate and the server's budget of upload bytes in flight; and the bearer
// token of /metrics.
type Security struct {
	Keys         KeyChecker       // nil: keys are left to the gRPC server
	Limiter      RateLimiter      // nil: no rate limit
	Uploads      *inflight.Budget // nil: no bound on upload bytes in flight
	MetricsToken string           // empty: /metrics is open
}

const webhookPath = "/v1/webhooks/celantur"

// openPath reports whether a path is served without an API key: health, documentation, the
// console (which asks for a key itself), metrics (their own token) and the provider webhook
// (its per-job token). A path with dot segments or doubled slashes is never open, so it
// cannot reach a keyed route through an open prefix.
func openPath(p string) bool {
	if strings.Contains(p, "/.") || strings.Contains(p, "//") {
		return false
	}
	switch p {
	case "/healthz", "/livez", "/readyz", "/openapi.json", "/docs", "/ui", "/metrics", webhookPath:
		return true
	}
	return strings.HasPrefix(p, "/docs/") || strings.HasPrefix(p, "/ui/")
}

// protect answers 401, 429 or the metrics refusal before next (which reads the body) runs.
// writeErr writes an API error in the gateway's shape.
func protect(sec Security, limits Limits, writeErr func(w http.ResponseWriter, r *http.Request, err error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header(), r)
		if r.URL.Path == "/metrics" && sec.MetricsToken != "" && !bearerIs(r, sec.MetricsToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			writeErr(w, r, errMetricsToken)
			return
		}
		if sec.Keys == nil || openPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		customer, err := sec.Keys.CheckAuthorization(r.Context(), r.Header.Get("Authorization"))
		if err != nil {
			writeErr(w, r, err)
			return
		}
		if sec.Limiter != nil {
			if ok, wait := sec.Limiter.Allow(customer, time.Now()); !ok {
				writeErr(w, r, apierr.RateLimitedFor(wait))
				return
			}
		}
		if r.Method == http.MethodPost && r.URL.Path == "/v1/jobs" {
			// An unknown length may run to the limit; a declared one over it is refused by
			// the guard without reading, so it holds nothing.
			n := r.ContentLength
			if n < 0 {
				n = limits.MaxImageBytes
			}
			if n <= limits.MaxImageBytes {
				res, ok := sec.Uploads.TryReserve(n)
				if !ok {
					writeErr(w, r, apierr.UploadsBusy(sec.Uploads.Max()))
					return
				}
				defer res.Release()
			}
		}
		next.ServeHTTP(w, r)
	})
}

func bearerIs(r *http.Request, token string) bool {
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "bearer") &&
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}

// SecurityHeaders sets the headers of setSecurityHeaders on responses that do not pass
// through the gateway's own middleware (the health probes in front of it).
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header(), r)
		next.ServeHTTP(w, r)
	})
}

// setSecurityHeaders sets what every response carries. API answers (keys, secrets, job
// details, customers' images) are never stored by caches and never rendered as pages.
func setSecurityHeaders(h http.Header, r *http.Request) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if p := r.URL.Path; strings.HasPrefix(p, "/v1/") || p == "/metrics" || p == "/healthz" || p == "/livez" || p == "/readyz" {
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	}
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}
