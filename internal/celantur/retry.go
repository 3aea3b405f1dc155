package celantur

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// request describes one API call independent of its attempts.
type request struct {
	op          string
	method      string
	path        []string // unescaped segments below the base URL
	query       url.Values
	body        []byte
	contentType string
	accept      string
	auth        bool
	// stream hands the response body to the caller instead of reading it
	// within the attempt; the attempt's deadline then ends with the headers.
	stream bool
	// throttleToCaller returns a 429 at once instead of waiting out its
	// Retry-After: the caller controls its own rate (the dispatcher lowers
	// its in-flight limit) and would otherwise stall behind the wait.
	throttleToCaller bool
	// once makes a single attempt, bounded by the whole call timeout: the
	// caller retries, and counts its attempts (the dispatcher, for
	// uploads). A retry here would multiply its attempts. The resend after
	// a 401 is a token refresh, not a retry, and stays.
	once bool
}

func (r request) pathString() string { return "/" + strings.Join(r.path, "/") }

// retryPolicy shapes the waits between attempts.
type retryPolicy struct {
	initial, max time.Duration
	// wait maps the wait asked for by Retry-After to the one slept; it is
	// the identity except in tests, which must not depend on wall time.
	wait func(time.Duration) time.Duration
	// onRetry, when set, sees every retry with the error and the wait.
	onRetry func(op string, err error, wait time.Duration)
}

func defaultRetryPolicy() retryPolicy {
	return retryPolicy{
		initial: 250 * time.Millisecond,
		max:     5 * time.Second,
		wait:    func(d time.Duration) time.Duration { return d },
	}
}

// retryAfterError carries the provider's Retry-After to backoff.Retry,
// which waits exactly that long, while the APIError stays reachable for
// the caller.
type retryAfterError struct {
	api  *APIError
	wait *backoff.RetryAfterError
}

func (e *retryAfterError) Error() string   { return e.api.Error() }
func (e *retryAfterError) Unwrap() []error { return []error{e.api, e.wait} }

// call runs r with retries and decodes a 2xx answer with decode. The whole
// call is bounded by the call timeout and each attempt by the attempt
// timeout.
func call[T any](ctx context.Context, c *Client, r request, decode func(*http.Response) (T, error)) (T, error) {
	callCtx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()

	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.retry.initial
	b.MaxInterval = c.retry.max
	b.RandomizationFactor = 0.5 // jitter spreads out clients that failed together
	b.Multiplier = 2

	tries := uint(c.maxRetries) + 1
	if r.once {
		tries = 1
	}
	var lastErr error
	opts := []backoff.RetryOption{
		backoff.WithBackOff(b),
		backoff.WithMaxTries(tries),
		backoff.WithNotify(func(err error, wait time.Duration) {
			c.log.WarnContext(ctx, "retrying provider call", "op", r.op, "path", r.pathString(), "wait", wait, "err", err)
			if c.retry.onRetry != nil {
				c.retry.onRetry(r.op, err, wait)
			}
		}),
	}
	// A wait that would end past the deadline is not started: the last
	// answer explains the failure better than a bare deadline error.
	if dl, ok := callCtx.Deadline(); ok {
		opts = append(opts, backoff.WithMaxElapsedTime(time.Until(dl)))
	}
	v, err := backoff.Retry(callCtx, func() (T, error) {
		v, err := attempt(ctx, callCtx, c, r, decode)
		if err != nil {
			lastErr = err
		}
		return v, err
	}, opts...)
	if err == nil {
		return v, nil
	}
	// Past the deadline, Retry reports the bare context error; the last
	// attempt's error is kept alongside to say what was going wrong.
	if cerr := context.Cause(callCtx); cerr != nil {
		last := unwrapAttemptError(lastErr)
		switch {
		case last == nil:
			return v, fmt.Errorf("celantur: %s: %w", r.op, cerr)
		case errors.Is(last, cerr):
			return v, last
		default:
			return v, fmt.Errorf("celantur: %s: %w; last attempt: %w", r.op, cerr, last)
		}
	}
	return v, unwrapAttemptError(err)
}

// unwrapAttemptError strips the wrappers that only steer backoff.Retry.
func unwrapAttemptError(err error) error {
	var perm *backoff.PermanentError
	if errors.As(err, &perm) {
		err = perm.Err
	}
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.api
	}
	return err
}

// attempt makes one exchange. Its context derives from the caller's ctx and
// is cancelled when callCtx ends or the attempt timeout passes; for a
// streamed answer those two stop applying once the headers are in, and the
// body's Close cancels it.
func attempt[T any](ctx, callCtx context.Context, c *Client, r request, decode func(*http.Response) (T, error)) (T, error) {
	var zero T
	actx, acancel := context.WithCancelCause(ctx)
	limit := c.attemptTimeout
	if r.once {
		limit = c.callTimeout // no later attempt to leave time for
	}
	attemptTimeout := fmt.Errorf("attempt timed out after %s: %w", limit, context.DeadlineExceeded)
	stopCall := context.AfterFunc(callCtx, func() { acancel(context.Cause(callCtx)) })
	timer := time.AfterFunc(limit, func() { acancel(attemptTimeout) })
	disarm := func() {
		stopCall()
		timer.Stop()
	}
	done := func() {
		disarm()
		acancel(nil)
	}

	resp, err := c.exchange(actx, r)
	if err != nil {
		done()
		return zero, c.classifyTransport(actx, r, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := newAPIError(r.op, resp, c.now())
		_ = resp.Body.Close()
		done()
		switch {
		case !apiErr.Retryable(), r.throttleToCaller && apiErr.StatusCode == http.StatusTooManyRequests:
			return zero, backoff.Permanent(apiErr)
		case apiErr.RetryAfter > 0:
			return zero, &retryAfterError{api: apiErr, wait: &backoff.RetryAfterError{Duration: c.retry.wait(apiErr.RetryAfter)}}
		default:
			return zero, apiErr
		}
	}
	if r.stream {
		disarm()
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { acancel(nil) }}
		return decode(resp)
	}
	v, err := decode(resp)
	_ = resp.Body.Close() // fully read or abandoned: either way nothing left to report
	done()
	if err != nil {
		if errors.Is(err, ErrMalformedResponse) {
			return zero, backoff.Permanent(err)
		}
		return zero, c.classifyTransport(actx, r, err)
	}
	return v, nil
}

// exchange sends r once, signing in as needed. A 401 with a signed-in
// token triggers one fresh sign-in and one resend.
func (c *Client) exchange(ctx context.Context, r request) (*http.Response, error) {
	u := c.endpoint(r.path...)
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	for resent := false; ; resent = true {
		// A fresh reader per send: a resend after a 401 or a retry must
		// carry the whole body again.
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
		if err != nil {
			return nil, backoff.Permanent(fmt.Errorf("celantur: %s: build request: %w", r.op, err))
		}
		if r.contentType != "" {
			req.Header.Set("Content-Type", r.contentType)
		}
		if r.accept != "" {
			req.Header.Set("Accept", r.accept)
		}
		var tok string
		if r.auth {
			if tok, err = c.token(ctx); err != nil {
				// The sign-in retried on its own; retrying around it would
				// multiply the attempts.
				return nil, backoff.Permanent(err)
			}
			authorize(req, tok)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized && r.auth && c.canSignIn() && !resent {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody)) // lets the connection be reused
			_ = resp.Body.Close()
			c.invalidate(tok)
			c.log.InfoContext(ctx, "token rejected, signing in again", "op", r.op)
			continue
		}
		return resp, nil
	}
}

// classifyTransport turns a failure below HTTP into a transportError,
// permanent when retrying cannot help.
func (c *Client) classifyTransport(actx context.Context, r request, err error) error {
	var perm *backoff.PermanentError
	if errors.As(err, &perm) {
		return err
	}
	// url.Error repeats the URL, whose query may hold a webhook token.
	var uErr *url.Error
	if errors.As(err, &uErr) {
		err = uErr.Err
	}
	// The transport reports a cancelled context as context.Canceled; the
	// cause says whether it was the attempt's deadline.
	if cause := context.Cause(actx); cause != nil && errors.Is(err, context.Canceled) {
		err = cause
	}
	tErr := &transportError{op: r.op, method: r.method, path: r.pathString(), err: err}
	var (
		unknownCA x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
	)
	if errors.Is(err, errCrossHostRedirect) || errors.As(err, &unknownCA) ||
		errors.As(err, &invalid) || errors.As(err, &hostname) {
		tErr.permanent = true
		return backoff.Permanent(tErr)
	}
	return tErr
}

// cancelOnClose ends a streamed attempt's context when the caller closes
// the body.
type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
