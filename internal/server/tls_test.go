package server_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
	"github.com/anonjob/anonjob/internal/auth"
	"github.com/anonjob/anonjob/internal/server"
	"github.com/anonjob/anonjob/internal/server/servertest"
	"github.com/anonjob/anonjob/internal/tlsfiles/tlstest"
)

// TestTLS: with a certificate, gRPC and REST (through the gateway's own TLS dial, including a
// stream) answer over TLS to a client trusting the test CA, refuse plain text, and a renewed
// certificate is served without a restart.
func TestTLS(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := ca.Issue(t, dir, 2)
	srv, key := startTLS(t, certFile, keyFile)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := srv.GRPCAddr().String()

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool})),
		grpc.WithPerRPCCredentials(auth.Bearer(key)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	created, err := anonjobv1.NewJobServiceClient(conn).CreateJob(ctx, &anonjobv1.CreateJobRequest{
		Image: &httpbody.HttpBody{Data: testPNG(t)}, Face: true})
	if err != nil {
		t.Fatalf("CreateJob over TLS: %v", err)
	}

	// Plain text is refused.
	plain := dial(t, addr, key)
	if _, err := healthpb.NewHealthClient(plain).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Fatal("the gRPC server answered plain text")
	}
	if resp, err := http.Get("http://" + srv.HTTPAddr().String() + "/healthz"); err == nil { //nolint:noctx // test
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the HTTP server answered plain text")
		}
	}

	// REST over TLS reaches the gRPC server through the gateway, for a call and for a stream.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	base := "https://" + srv.HTTPAddr().String()
	get := func(path string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s over TLS: %v", path, err)
		}
		defer func() { _ = resp.Body.Close() }()
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		return resp.StatusCode, string(buf[:n])
	}
	if code, body := get("/v1/jobs/" + created.GetJob().GetId()); code != http.StatusOK || !strings.Contains(body, created.GetJob().GetId()) {
		t.Fatalf("GET job over TLS: %d %s", code, body)
	}
	if code, body := get("/v1/jobs:watch?since_revision=0"); code != http.StatusOK || !strings.Contains(body, "result") {
		t.Fatalf("watch over TLS: %d %s", code, body)
	}
	if !strings.HasPrefix(srv.PublicURL(), "https://") {
		t.Fatalf("default public URL %s is not https", srv.PublicURL())
	}

	// A renewed certificate (another serial) is served from the next handshakes on.
	time.Sleep(1100 * time.Millisecond) // the files are looked at once a second at most
	ca.Issue(t, dir, 3)
	deadline := time.Now().Add(10 * time.Second)
	for serialOf(t, srv.HTTPAddr().String(), ca) != 3 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was never served")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func serialOf(t *testing.T, addr string, ca *tlstest.CA) int64 {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{RootCAs: ca.Pool}}
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer func() { _ = c.Close() }()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// startTLS starts a server with the pair and returns it with an API key of customer acme.
func startTLS(t *testing.T, certFile, keyFile string) (*server.Server, string) {
	t.Helper()
	cfg := servertest.Config(t, harness.NewDatabase(t))
	cfg.Dispatch, cfg.MaxDBConns = false, 4
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	srv, keys := servertest.Start(t, cfg, "acme")
	return srv, keys[0]
}

// TestListenRules: without TLS only loopback is allowed unless told, and callback and provider
// URLs must be https off loopback.
func TestListenRules(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		set  func(*server.Config)
		want string
	}{
		"all interfaces in clear": {func(c *server.Config) { c.GRPCAddr = ":0" }, "GRPCAddr"},
		"public http address":     {func(c *server.Config) { c.PublicURL = "http://anonjob.example.com" }, "PublicURL"},
		"public http provider":    {func(c *server.Config) { c.ProviderURL = "http://engine.example.com" }, "ProviderURL"},
		"engine beyond loopback":  {func(c *server.Config) { c.Dispatch, c.EngineAddr = true, "0.0.0.0:0" }, "EngineAddr"},
		"cert without key":        {func(c *server.Config) { c.TLSCert = "x.pem" }, "TLSKey"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := server.Defaults()
			cfg.GRPCAddr, cfg.HTTPAddr, cfg.Dispatch = "127.0.0.1:0", "127.0.0.1:0", false
			cfg.DatabaseURL = "postgres://unused.invalid/db"
			c.set(&cfg)
			srv, err := server.Start(context.Background(), cfg)
			if err == nil {
				srv.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v does not name %s", err, c.want)
			}
		})
	}
}
