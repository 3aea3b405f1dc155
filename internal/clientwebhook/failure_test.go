package clientwebhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/netguard"
)

// Each failure is produced for real on loopback and must come out as its class, with nothing
// of the remote's words in it.
func TestClassifyAttemptFailures(t *testing.T) {
	t.Parallel()
	policy := netguard.NewPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false).WithPorts(netguard.AllPorts())
	// Only a safety net (the timeout case sets its own deadline): a TLS handshake on a busy
	// machine under the race detector can take seconds.
	client := policy.HTTPClient(30 * time.Second)

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + closed.Addr().String() + "/"
	_ = closed.Close()

	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(code)
			_, _ = w.Write([]byte("secret internal detail"))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	untrusted := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(untrusted.Close)
	reset := hangUp(t)
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(stop) }) // runs first: the handler must not hold Close up

	tests := []struct {
		name, url string
		timeout   time.Duration
		want      string
	}{
		{"refused", refusedURL, 0, classRefused},
		{"server error", status(503), 0, "http_5xx"},
		{"client error", status(404), 0, "http_4xx"},
		{"redirect", status(302), 0, "http_3xx"},
		{"success", status(204), 0, ""},
		{"untrusted certificate", untrusted.URL, 0, classTLS},
		{"reset", reset, 0, classReset},
		{"timeout", slow.URL, 100 * time.Millisecond, classTimeout},
		{"port not allowed", "https://93.184.216.34:22/", 0, classForbidden + ": " + netguard.ReasonForbiddenPort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tt.url, strings.NewReader("{}"))
			c := client
			if tt.name == "port not allowed" {
				c = netguard.NewPolicy(nil, false).HTTPClient(time.Second)
			}
			code := 0
			resp, err := c.Do(req)
			if err == nil {
				code = resp.StatusCode
				_ = resp.Body.Close()
				if code >= 300 && code < 400 {
					err = errRedirect
				}
			}
			if got := classify(code, err); got != tt.want {
				t.Fatalf("classify(%d, %v) = %q, want %q", code, err, got, tt.want)
			}
		})
	}
	if got := classify(0, errors.New("read job: connection pool closed")); got != classInternal {
		t.Fatalf("an error of our own = %q, want %q", got, classInternal)
	}
}

// hangUp accepts connections and resets them at once.
func hangUp(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with RST
			}
			buf := make([]byte, 1)
			_, _ = c.Read(buf)
			_ = c.Close()
		}
	}()
	return "http://" + lis.Addr().String() + "/"
}
