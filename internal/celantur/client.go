// Package celantur is a client of the Celantur v1 HTTP API: sign-in,
// upload, status, result downloads, listing and deletion of files. It knows
// nothing of jobs; callers map its files and errors onto their own model.
package celantur

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Credentials authenticate the client. Either Token is set, and sent as is
// without signing in, or Username and Password are exchanged for a token.
type Credentials struct {
	Username, Password string
	// Token is a fixed access token; with it the client never signs in and
	// a 401 is an error.
	Token string
}

// Config configures a Client. Only BaseURL and Credentials are required.
type Config struct {
	// BaseURL is the API root, e.g. "https://api.celantur.com".
	BaseURL     string
	Credentials Credentials
	// HTTPClient sends the requests; nil means one with dial and TLS
	// timeouts. Either way redirects to another host are refused, so the
	// token never leaves for a host it was not meant for.
	HTTPClient *http.Client
	// CallTimeout bounds each call including its retries; 0 means 60s,
	// sized for uploads of a few MB. For Download it bounds the wait for
	// the response headers; reading the body is bounded by the caller's
	// context.
	CallTimeout time.Duration
	// AttemptTimeout bounds each single attempt of a call, so one stalled
	// connection leaves time to retry; 0 means half of CallTimeout. An
	// upload, which has one attempt, is bounded by CallTimeout alone.
	AttemptTimeout time.Duration
	// MaxRetries is how many times a failed attempt is repeated; 0 means
	// 4 and a negative value none. Uploads are never repeated (see Upload).
	MaxRetries int
	// Logger receives retries and sign-ins; nil discards them.
	Logger *slog.Logger
	// WrapTransport, if set, wraps the HTTP client's transport (a nil one is
	// http.DefaultTransport), e.g. to trace requests.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Defaults of Config.
const (
	DefaultCallTimeout = 60 * time.Second
	DefaultMaxRetries  = 4
)

// Client calls one Celantur v1 API. It is safe for concurrent use.
type Client struct {
	base           *url.URL
	creds          Credentials
	hc             *http.Client
	log            *slog.Logger
	callTimeout    time.Duration
	attemptTimeout time.Duration
	maxRetries     int
	retry          retryPolicy
	auth           tokenState
	// now is the clock for token expiry and Retry-After dates.
	now func() time.Time
}

// New checks cfg and returns a client. It does not contact the provider:
// the first call signs in.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("celantur: base URL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	if base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("celantur: base URL %q must not have a query or fragment", cfg.BaseURL)
	}
	c := cfg.Credentials
	if c.Token == "" && (c.Username == "" || c.Password == "") {
		return nil, errors.New("celantur: credentials need a token, or a username and a password")
	}
	callTimeout := cfg.CallTimeout
	if callTimeout <= 0 {
		callTimeout = DefaultCallTimeout
	}
	attemptTimeout := cfg.AttemptTimeout
	if attemptTimeout <= 0 || attemptTimeout > callTimeout {
		attemptTimeout = callTimeout / 2
	}
	maxRetries := cfg.MaxRetries
	switch {
	case maxRetries == 0:
		maxRetries = DefaultMaxRetries
	case maxRetries < 0:
		maxRetries = 0
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := sameHostClient(cfg.HTTPClient)
	if cfg.WrapTransport != nil {
		hc.Transport = cfg.WrapTransport(hc.Transport)
	}
	return &Client{
		base:           base,
		creds:          c,
		hc:             hc,
		log:            log.With("component", "celantur"),
		callTimeout:    callTimeout,
		attemptTimeout: attemptTimeout,
		maxRetries:     maxRetries,
		retry:          defaultRetryPolicy(),
		now:            time.Now,
	}, nil
}

// maxRedirects bounds redirects within the provider's host.
const maxRedirects = 5

// errCrossHostRedirect refuses a redirect that would carry the token to
// another host.
var errCrossHostRedirect = errors.New("refusing redirect to another host")

// sameHostClient returns a copy of hc (or a new client) that follows
// redirects only within the original scheme and host. The caller's client
// is copied, not changed.
func sameHostClient(hc *http.Client) *http.Client {
	var out http.Client
	if hc != nil {
		out = *hc
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = 10 * time.Second
		t.ResponseHeaderTimeout = 0 // each attempt has its own deadline
		t.MaxIdleConnsPerHost = 16
		out.Transport = t
		// No Client.Timeout: it would cut off streamed downloads; calls
		// carry context deadlines instead.
	}
	out.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		first := via[0].URL
		if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
			return errCrossHostRedirect
		}
		return nil
	}
	return &out
}

// FileURL returns the provider's URL of a result file of fileID; kind is
// original, anonymized, binary-mask, instance-mask or metadata. Fetching it
// needs the client's token, so hand it out only as a reference.
func (c *Client) FileURL(fileID, kind string) string {
	return c.endpoint("v1", "file", fileID, kind).String()
}

// endpoint joins path segments, each escaped on its own, to the base URL.
func (c *Client) endpoint(segments ...string) *url.URL {
	esc := make([]string, len(segments))
	for i, s := range segments {
		esc[i] = url.PathEscape(s)
	}
	return c.base.JoinPath(esc...)
}

// checkFileID rejects ids that would change the path rather than name one
// file in it.
func checkFileID(op, id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/?#\\") {
		return fmt.Errorf("celantur: %s: invalid file id %q", op, id)
	}
	return nil
}
