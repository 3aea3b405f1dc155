// Package tlsfiles serves a certificate and key from files and picks up a renewal (certbot,
// cert-manager) without a restart: the files are looked at again, at most once a second, by
// the handshakes that need them.
package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Reloader holds the current certificate of a cert and key file pair.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// New loads the pair once; a pair that does not load is an error now rather than at the first
// handshake.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

func (r *Reloader) load() error {
	var stamp [2]fileStamp
	var err error
	for i, p := range []string{r.certFile, r.keyFile} {
		if stamp[i], err = stampOf(p); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.stamp = &cert, stamp
	return nil
}

// Certificate returns the current certificate, reloading it first if either file changed. A
// pair that no longer loads (a renewal half written) keeps the previous certificate.
func (r *Reloader) Certificate() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < time.Second {
		return r.cert
	}
	r.checked = time.Now()
	c, errC := stampOf(r.certFile)
	k, errK := stampOf(r.keyFile)
	if errC == nil && errK == nil && c == r.stamp[0] && k == r.stamp[1] {
		return r.cert
	}
	if err := r.load(); err != nil {
		r.log.Warn("TLS certificate changed but does not load; keeping the previous one", "err", err)
		return r.cert
	}
	r.log.Info("TLS certificate reloaded", "cert", r.certFile)
	return r.cert
}

// ServerConfig is the TLS configuration of a server presenting the certificate.
func (r *Reloader) ServerConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.Certificate(), nil
		},
	}
}

// SelfClientConfig is for the server's own connections to itself (the gateway dialing the gRPC
// server, the built-in engine posting webhooks): whatever name is dialed, the peer must present
// exactly the certificate this process serves; otherwise the usual verification against the
// system roots applies.
func (r *Reloader) SelfClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, //nolint:gosec // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("TLS: the server presented no certificate")
			}
			if own := r.Certificate(); len(own.Certificate) > 0 && bytes.Equal(cs.PeerCertificates[0].Raw, own.Certificate[0]) {
				return nil
			}
			opts := x509.VerifyOptions{DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		},
	}
}
