package main

import (
	"context"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/server/servertest"
	"github.com/anonjob/anonjob/internal/tlsfiles/tlstest"
)

// TestTLS: against a TLS server the CLI works with --ca-cert (TLS by default for the name
// that is not loopback, and with --tls on loopback), fails without trusting the CA, and with
// --no-tls.
func TestTLS(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.Issue(t, t.TempDir(), 2, "anonjob.test")
	cfg := servertest.Config(t, harness.NewDatabase(t))
	cfg.Dispatch = false
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	srv, keys := servertest.Start(t, cfg, "cli")
	key := keys[0]
	ctx := context.Background()
	addr := srv.GRPCAddr().String()
	img := writePNG(t)
	for name, c := range map[string]struct {
		args []string
		ok   bool
	}{
		"ca on loopback":            {[]string{"--addr", addr, "--ca-cert", ca.File}, true},
		"--tls with ca":             {[]string{"--addr", addr, "--tls", "--ca-cert", ca.File}, true},
		"skip verify":               {[]string{"--addr", addr, "--insecure-skip-verify"}, true},
		"loopback default is plain": {[]string{"--addr", addr}, false},
		"tls without the ca":        {[]string{"--addr", addr, "--tls"}, false},
		"--no-tls with ca":          {[]string{"--addr", addr, "--no-tls", "--ca-cert", ca.File}, false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out, errOut strings.Builder
			args := append(append(c.args, "--api-key", key), "submit", img)
			code := run(ctx, args, &out, &errOut)
			if (code == 0) != c.ok {
				t.Fatalf("exit %d, want success %v: %s %s", code, c.ok, out.String(), errOut.String())
			}
		})
	}
	// A name that is not loopback dials TLS unasked (and here fails to resolve, not to speak).
	var f dialFlags
	if !f.useTLS("anonjob.example.com:9090") || f.useTLS("localhost:9090") || f.useTLS("127.0.0.1:9090") || f.useTLS("[::1]:9090") {
		t.Fatal("TLS by default only beyond loopback")
	}
}
