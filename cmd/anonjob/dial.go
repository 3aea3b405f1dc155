package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/anonjob/anonjob/internal/auth"
)

// dialFlags say how to reach anonjobd: TLS is on for any address but loopback unless told.
type dialFlags struct {
	TLS                *bool  `name:"tls" negatable:"" help:"Dial with TLS (default: on unless --addr is loopback; --no-tls turns it off)." env:"ANONJOB_TLS"`
	CACert             string `name:"ca-cert" help:"PEM file of the CA that signed the server's certificate (default: the system's roots); implies --tls." env:"ANONJOB_CA_CERT"`
	InsecureSkipVerify bool   `name:"insecure-skip-verify" help:"Accept any server certificate (testing only: anyone in between can read the key)." env:"ANONJOB_INSECURE_SKIP_VERIFY"`
}

// useTLS decides TLS for addr.
func (f dialFlags) useTLS(addr string) bool {
	if f.TLS != nil {
		return *f.TLS
	}
	if f.CACert != "" || f.InsecureSkipVerify {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// dial connects to anonjobd at addr, sending key with every call.
func (f dialFlags) dial(addr, key string) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if f.useTLS(addr) {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.InsecureSkipVerify} //nolint:gosec // the user asked
		if f.CACert != "" {
			pem, err := os.ReadFile(f.CACert)
			if err != nil {
				return nil, fmt.Errorf("--ca-cert: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca-cert %s: no PEM certificate in it", f.CACert)
			}
			cfg.RootCAs = pool
		}
		creds = credentials.NewTLS(cfg)
	} else if f.CACert != "" || f.InsecureSkipVerify {
		return nil, fmt.Errorf("--ca-cert and --insecure-skip-verify need TLS, but --no-tls was given")
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(auth.Bearer(key)),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
}
