package netguard

import (
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func loopbackPolicy() *Policy {
	return NewPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false).WithPorts(AllPorts())
}

// counting starts a loopback server that counts requests and answers with h.
func counting(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestHTTPClientReachesAllowedLoopback(t *testing.T) {
	t.Parallel()
	srv, hits := counting(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(append([]byte("got "), b...))
	})
	c := loopbackPolicy().HTTPClient(5 * time.Second)
	defer c.CloseIdleConnections()
	resp, err := c.Post(srv.URL+"/hook", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != `got {"a":1}` || hits.Load() != 1 {
		t.Fatalf("status %d body %q hits %d", resp.StatusCode, b, hits.Load())
	}
}

func TestHTTPClientReachesAllowedLoopbackOverTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	c := loopbackPolicy().HTTPClient(5 * time.Second)
	defer c.CloseIdleConnections()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	tr := c.Transport.(*guardTransport).next
	tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tr.TLSClientConfig.RootCAs = roots
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestHTTPClientRefusesLoopback(t *testing.T) {
	t.Parallel()
	srv, hits := counting(t, func(http.ResponseWriter, *http.Request) {})
	for _, p := range []*Policy{NewPolicy(nil, false), NewPolicy(nil, true)} {
		c := p.HTTPClient(5 * time.Second)
		resp, err := c.Get(srv.URL)
		if err == nil {
			_ = resp.Body.Close()
			t.Fatal("request to loopback succeeded")
		}
		wantReason(t, err, ReasonForbiddenAddress)
	}
	if hits.Load() != 0 {
		t.Fatalf("server saw %d requests", hits.Load())
	}
}

func TestHTTPClientDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	target, targetHits := counting(t, func(http.ResponseWriter, *http.Request) {})
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		srv, _ := counting(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/elsewhere", status)
		})
		c := loopbackPolicy().HTTPClient(5 * time.Second)
		resp, err := c.Post(srv.URL, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("status %d, want %d", resp.StatusCode, status)
		}
		if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, "/elsewhere") {
			t.Fatalf("Location %q", loc)
		}
		c.CloseIdleConnections()
	}
	if targetHits.Load() != 0 {
		t.Fatalf("redirect target saw %d requests", targetHits.Load())
	}
}

func TestHTTPClientAppliesURLRules(t *testing.T) {
	t.Parallel()
	srv, hits := counting(t, func(http.ResponseWriter, *http.Request) {})
	c := loopbackPolicy().HTTPClient(5 * time.Second)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, u := range []string{
		"http://user:pw@127.0.0.1:" + port + "/",
		"http://2130706433:" + port + "/",
	} {
		resp, err := c.Get(u)
		if err == nil {
			_ = resp.Body.Close()
			t.Fatalf("GET %s succeeded", u)
		}
		wantReason(t, err, ReasonInvalidURL)
		if strings.Contains(errors.Unwrap(err).Error(), "pw") {
			t.Fatalf("error leaks credentials: %v", errors.Unwrap(err))
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("server saw %d requests", hits.Load())
	}
}

func TestHTTPClientIgnoresProxyEnvironment(t *testing.T) {
	t.Parallel()
	c := NewPolicy(nil, false).HTTPClient(time.Second)
	if c.Transport.(*guardTransport).next.Proxy != nil {
		t.Fatal("transport takes a proxy")
	}
	if c.Timeout != time.Second {
		t.Fatalf("timeout %v", c.Timeout)
	}
}
