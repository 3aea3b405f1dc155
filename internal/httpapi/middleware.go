package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/anonjob/anonjob/internal/apierr"
	"github.com/anonjob/anonjob/internal/limits"
)

// Limits bound request bodies per route. A zero field means its default.
type Limits struct {
	MaxImageBytes   int64 // POST /v1/jobs; 0: DefaultMaxImageBytes
	MaxWebhookBytes int64 // provider webhooks; 0: DefaultMaxWebhookBytes
	MaxBodyBytes    int64 // every other request; 0: DefaultMaxBodyBytes
}

// Defaults of Limits.
const (
	// DefaultMaxImageBytes is the API's bound on one image.
	DefaultMaxImageBytes = limits.DefaultMaxImageBytes
	// DefaultMaxWebhookBytes bounds a provider webhook, a few hundred bytes of links.
	DefaultMaxWebhookBytes = 64 << 10
	// DefaultMaxBodyBytes bounds every other request body.
	DefaultMaxBodyBytes = 1 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxImageBytes <= 0 {
		l.MaxImageBytes = DefaultMaxImageBytes
	}
	if l.MaxWebhookBytes <= 0 {
		l.MaxWebhookBytes = DefaultMaxWebhookBytes
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return l
}

// requestState is per-request information the gateway's error handlers need but cannot get
// from a gRPC status: the HTTP status to use, and whether the body ran over its limit.
type requestState struct {
	code      int
	overLimit bool
	limit     int64
	ndjson    bool // a watch stream: its 200 answer is newline-delimited JSON
}

type stateKey struct{}

func stateOf(ctx context.Context) *requestState {
	s, _ := ctx.Value(stateKey{}).(*requestState)
	return s
}

// codeWriter applies the HTTP status chosen by an error handler.
type codeWriter struct {
	http.ResponseWriter
	state       *requestState
	wroteHeader bool
}

func (w *codeWriter) WriteHeader(code int) {
	if w.state.code != 0 && code >= 400 {
		code = w.state.code
	}
	if w.state.ndjson && code == http.StatusOK {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.wroteHeader = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush for streams.
func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// limitedBody fails reads past the limit and remembers that it did.
type limitedBody struct {
	io.ReadCloser
	left  int64
	state *requestState
}

var errOverLimit = errors.New("request body is larger than the limit")

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body exactly at the limit from a longer one.
		var one [1]byte
		if n, _ := b.ReadCloser.Read(one[:]); n > 0 {
			b.state.overLimit = true
			return 0, errOverLimit
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// guard installs the request state, bounds the body and rejects what the gateway would
// otherwise misread: a body declared larger than the limit, an image upload whose
// Content-Type is not an image type the engine takes, and path or query values it cannot
// parse (checkRequest).
func guard(limits Limits, routes []route, fail func(w http.ResponseWriter, r *http.Request, err error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &requestState{}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		w = &codeWriter{ResponseWriter: w, state: st}
		st.limit = limits.MaxBodyBytes
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/jobs":
			st.limit = limits.MaxImageBytes
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if !slices.Contains([]string{"image/jpeg", "image/png"}, mt) {
				fail(w, r, apierr.New(codes.InvalidArgument, apierr.UnsupportedMedia,
					"image.content_type: the body must be the image itself, sent with Content-Type image/jpeg or image/png",
					nil, "image.content_type"))
				return
			}
		case r.Method == http.MethodGet && r.URL.Path == "/v1/jobs:watch":
			st.ndjson = true
		case r.URL.Path == "/v1/webhooks/celantur":
			st.limit = limits.MaxWebhookBytes
		}
		if q := r.URL.Query(); q.Has("status") {
			r.URL.RawQuery = normalizeStatuses(q).Encode()
		}
		if err := checkRequest(routes, r); err != nil {
			fail(w, r, err)
			return
		}
		if r.ContentLength > st.limit {
			st.overLimit = true
			fail(w, r, tooLarge(st.limit))
			return
		}
		if r.Body != nil {
			r.Body = &limitedBody{ReadCloser: r.Body, left: st.limit, state: st}
		}
		next.ServeHTTP(w, r)
	})
}

// accessLog logs each request without its query string, which may carry tokens.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rw, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rw.code), slog.Duration("took", time.Since(start)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
