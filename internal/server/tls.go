package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/anonjob/anonjob/internal/tlsfiles"
)

// Default ports; without TLS the listeners stay on loopback unless told otherwise.
const (
	defaultGRPCPort = "9090"
	defaultHTTPPort = "8080"
)

// setupTransport loads the TLS pair, fills in the default listen addresses and refuses what
// would put keys or images on the network in clear text.
func (s *Server) setupTransport() error {
	if (s.cfg.TLSCert == "") != (s.cfg.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
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
		s.cfg.GRPCAddr = net.JoinHostPort(host, defaultGRPCPort)
	}
	if s.cfg.HTTPAddr == "" {
		s.cfg.HTTPAddr = net.JoinHostPort(host, defaultHTTPPort)
	}
	if !s.cfg.AllowInsecureListen {
		for _, a := range []struct{ flag, addr string }{{"--grpc-addr", s.cfg.GRPCAddr}, {"--http-addr", s.cfg.HTTPAddr}} {
			if s.tls == nil && !loopbackAddr(a.addr) {
				return fmt.Errorf("%s %q is not a loopback address and there is no TLS: give --tls-cert and --tls-key, "+
					"or --allow-insecure-listen for a network you trust", a.flag, a.addr)
			}
		}
		// The built-in engine speaks plain HTTP with a password of this run.
		if s.cfg.ProviderURL == "" && s.cfg.Dispatch && !loopbackAddr(s.cfg.EngineAddr) {
			return fmt.Errorf("--engine-addr %q is not a loopback address and the built-in engine has no TLS: "+
				"keep it on loopback, or give --allow-insecure-listen", s.cfg.EngineAddr)
		}
	}
	urls := []struct{ flag, raw string }{{"--public-url", s.cfg.PublicURL}, {"--engine-public-url", s.cfg.EnginePublicURL}}
	for _, raw := range s.providerURLs() {
		urls = append(urls, struct{ flag, raw string }{"--provider-url", raw})
	}
	for _, u := range urls {
		if u.raw == "" {
			continue
		}
		p, err := url.Parse(u.raw)
		if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
			return fmt.Errorf("%s %q: must be an absolute http or https URL", u.flag, u.raw)
		}
		// The built-in engine speaks plain HTTP: between machines only on a trusted network.
		if p.Scheme != "https" && !loopbackHost(p.Hostname()) && (u.flag == "--public-url" || !s.cfg.AllowInsecureListen) {
			return fmt.Errorf("%s %q: must be https unless it is a loopback address (or, for an engine, --allow-insecure-listen is given)", u.flag, u.raw)
		}
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
