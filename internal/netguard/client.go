package netguard

import (
	"context"
	"net"
	"net/http"
	"time"
)

// HTTPClient returns a client for requests to client-supplied URLs. It dials through
// DialContext, never follows redirects (the 3xx response is returned as is, since a redirect
// could point anywhere), ignores proxy settings from the environment (a proxy would make the
// connect-time check see the proxy's address, not the target's), and applies the URL and https
// rules to every request. timeout bounds each request as a whole; zero means none.
func (p *Policy) HTTPClient(timeout time.Duration) *http.Client {
	dialTimeout := 10 * time.Second
	if timeout > 0 && timeout < dialTimeout {
		dialTimeout = timeout
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            p.DialContext(&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}),
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: &guardTransport{p: p, next: tr},
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// guardTransport applies the URL rules to each request and tells the dialer when the request
// is plain http, so the https rule is judged on the addresses actually connected to.
type guardTransport struct {
	p    *Policy
	next *http.Transport
}

// RoundTrip implements http.RoundTripper.
func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t, err := checkURL(req.URL)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, err
	}
	if t.scheme == "http" && !g.p.allowHTTP {
		req = req.WithContext(context.WithValue(req.Context(), plaintextKey{}, true))
	}
	return g.next.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the transport.
func (g *guardTransport) CloseIdleConnections() { g.next.CloseIdleConnections() }
