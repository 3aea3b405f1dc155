package clientwebhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"

	"github.com/anonjob/anonjob/internal/netguard"
)

var errRedirect = errors.New("redirects are not followed")

// Classes of failed attempts. An attempt log shows the class, never the remote error text:
// what a connection error says (refused here, reset there, which certificate) would let a
// client use the sender as a port scanner of whatever its callback URL can name.
const (
	classTimeout   = "timeout"
	classRefused   = "connect_refused"
	classReset     = "connection_reset"
	classDNS       = "dns"
	classTLS       = "tls"
	classNetwork   = "network_unreachable"
	classOther     = "connection_failed"
	classInternal  = "internal"
	classForbidden = "forbidden_target"
)

// classify names the outcome of an attempt that got status code (0 for none) or err: "" for
// success, http_3xx/http_4xx/http_5xx for an answer that is not success, otherwise the class
// of err. A refusal by the callback rules keeps its reason, which is anonjob's own.
func classify(code int, err error) string {
	if err == nil || errors.Is(err, errRedirect) {
		if code >= 300 && code < 600 {
			return fmt.Sprintf("http_%dxx", code/100)
		}
		return ""
	}
	var ge *netguard.Error
	if errors.As(err, &ge) {
		return classForbidden + ": " + ge.Reason
	}
	var (
		dnsErr  *net.DNSError
		netErr  net.Error
		certErr *tls.CertificateVerificationError
		hostErr x509.HostnameError
		authErr x509.UnknownAuthorityError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
		opErr   *net.OpError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return classTimeout
	case errors.As(err, &dnsErr):
		return classDNS
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authErr),
		errors.As(err, &invErr), errors.As(err, &recErr), errors.As(err, &alert):
		return classTLS
	case errors.Is(err, syscall.ECONNREFUSED):
		return classRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return classReset
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return classNetwork
	case errors.As(err, &opErr):
		if opErr.Op == "remote error" || opErr.Op == "tls" {
			return classTLS
		}
		return classOther
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return classOther // the request failed some other way: its text may be the remote's
	}
	return classInternal
}
