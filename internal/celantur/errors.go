package celantur

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrMalformedResponse marks a 2xx answer whose body could not be decoded.
// Sending the same request again would not help, so it is never retried.
var ErrMalformedResponse = errors.New("celantur: malformed response")

// APIError is an answer of the provider with a status code outside 2xx.
type APIError struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Message is the provider's reason, taken from its JSON error body when
	// there is one, else from the body text or the status text.
	Message string
	// RetryAfter is the wait the provider asked for in Retry-After, or 0.
	RetryAfter time.Duration
	// Op names the client call: signin, upload, status, download, list or delete.
	Op string
}

// Error describes the failed call without any credential or query string.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "celantur: %s: HTTP %d", e.Op, e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if e.Message != "" && e.Message != http.StatusText(e.StatusCode) {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Retryable reports whether the same request may succeed later: 5xx and
// 429 may, every other status will not.
func (e *APIError) Retryable() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

// transportError is a failure below HTTP: a refused or reset connection, a
// timed out attempt, a truncated body. Its message leaves out the URL, which
// may carry a webhook token in its query string.
type transportError struct {
	op, method, path string
	err              error
	// permanent marks failures retrying cannot fix, such as a refused
	// redirect or an untrusted certificate.
	permanent bool
}

func (e *transportError) Error() string {
	return fmt.Sprintf("celantur: %s: %s %s: %v", e.op, e.method, e.path, e.err)
}

func (e *transportError) Unwrap() error { return e.err }

// IsNotFound reports whether err is the provider's 404, such as the status
// of a file it does not know (any more).
func IsNotFound(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound
}

// IsThrottled reports whether err is the provider's 429, and the wait its
// Retry-After asked for (0 when none).
func IsThrottled(err error) (time.Duration, bool) {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests {
		return apiErr.RetryAfter, true
	}
	return 0, false
}

// IsRetryable reports whether the failed call may succeed if made again
// later: a 5xx or 429 answer, a network failure or a timeout. A call cut
// short by its context counts as retryable, since the request itself was
// never refused. Other 4xx answers and malformed responses are not.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, ErrMalformedResponse) {
		return false
	}
	// An API error decides even when a context error is wrapped alongside:
	// a 400 stays permanent whatever happened to the deadline afterwards.
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Retryable()
	}
	var tErr *transportError
	if errors.As(err, &tErr) && tErr.permanent {
		return false
	}
	return tErr != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// maxErrorBody bounds how much of an error answer is read for its message.
const maxErrorBody = 64 << 10

// maxMessage bounds the text taken from a non-JSON error body.
const maxMessage = 300

// newAPIError reads the error answer resp; the caller closes the body.
func newAPIError(op string, resp *http.Response, now time.Time) *APIError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody)) // a partial body still gives a message
	return &APIError{
		StatusCode: resp.StatusCode,
		Message:    errorMessage(body, resp.StatusCode),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now),
		Op:         op,
	}
}

// errorMessage extracts the reason from an error body. Providers spell the
// field differently, so the usual names are tried in turn.
func errorMessage(body []byte, status int) string {
	var fields map[string]any
	if json.Unmarshal(body, &fields) == nil {
		for _, k := range []string{"message", "Message", "detail", "error", "error_description"} {
			if s, ok := fields[k].(string); ok && s != "" {
				return s
			}
		}
	}
	s := strings.TrimSpace(string(body))
	if s == "" || strings.HasPrefix(s, "<") { // an HTML error page says nothing useful
		return http.StatusText(status)
	}
	if len(s) > maxMessage {
		s = s[:maxMessage] + "…"
	}
	return s
}

// parseRetryAfter reads Retry-After as delay seconds or an HTTP date;
// anything else, or a time already past, gives 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
