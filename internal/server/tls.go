package server

import (
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/anonjob/anonjob/internal/tlsfiles"
)

// setupTransport loads the TLS pair and fills in the default listen addresses; Validate has
// refused what would put keys or images on the network in clear text.
func (s *Server) setupTransport() error {
	if s.cfg.TLSCert != "" {
		r, err := tlsfiles.New(s.cfg.TLSCert, s.cfg.TLSKey, s.cfg.Log)
		if err != nil {
			return err
		}
		s.tls = r
	}
	host := "127.0.0.1"
	if s.tls != nil {
		host = ""
	}
	if s.cfg.GRPCAddr == "" {
		s.cfg.GRPCAddr = net.JoinHostPort(host, DefaultGRPCPort)
	}
	if s.cfg.HTTPAddr == "" {
		s.cfg.HTTPAddr = net.JoinHostPort(host, DefaultHTTPPort)
	}
	return nil
}

// loopbackAddr reports whether a listen address binds only loopback.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && loopbackHost(host)
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// grpcCreds is the gRPC server's transport: TLS when configured.
func (s *Server) grpcCreds() []grpc.ServerOption {
	if s.tls == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(s.tls.ServerConfig("h2")))}
}

// gatewayCreds is how the gateway dials the gRPC server: over TLS, trusting exactly this
// server's certificate, whatever names it carries.
func (s *Server) gatewayCreds() grpc.DialOption {
	if s.tls == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(s.tls.SelfClientConfig()))
}

// serveHTTP serves the gateway, over TLS when configured.
func (s *Server) serveHTTP() error {
	if s.tls == nil {
		return s.http.Serve(s.httpLis)
	}
	s.http.TLSConfig = s.tls.ServerConfig("h2", "http/1.1")
	return s.http.ServeTLS(s.httpLis, "", "")
}

// scheme is the scheme of the HTTP listener's own URLs.
func (s *Server) scheme() string {
	if s.tls != nil {
		return "https"
	}
	return "http"
}

// engineWebhookClient lets the built-in engine post its webhooks to this server's https URL
// (whose certificate it may not otherwise trust); nil keeps the engine's default.
func (s *Server) engineWebhookClient() *http.Client {
	if s.tls == nil {
		return nil
	}
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: s.tls.SelfClientConfig(), ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
