package netguard

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// maxURLLen bounds what is parsed and stored; no legitimate callback URL comes near it.
const maxURLLen = 2048

// target is the part of a URL that decides where a request goes.
type target struct {
	scheme  string
	host    string     // lower-case name without a trailing dot, or the literal address
	literal netip.Addr // valid when the host is an IP literal
	port    uint16     // the port named, or the scheme's default
}

// parseTarget parses raw and applies the syntax rules. The URL text is never echoed in an
// error: its query may hold a client's secret.
func parseTarget(raw string) (target, error) {
	if len(raw) > maxURLLen {
		return target{}, refuse(ReasonInvalidURL, "URL is longer than %d bytes", maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, &Error{Reason: ReasonInvalidURL, Msg: "URL does not parse"}
	}
	return checkURL(u)
}

// checkURL applies the syntax rules to a parsed URL.
func checkURL(u *url.URL) (target, error) {
	if !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return target{}, refuse(ReasonInvalidURL, "URL must be absolute, with a host")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return target{}, refuse(ReasonInvalidURL, "URL scheme must be https")
	}
	if u.User != nil {
		return target{}, refuse(ReasonInvalidURL, "URL must not carry credentials")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return target{}, refuse(ReasonInvalidURL, "URL port is out of range")
		}
	}
	host, literal, err := checkHost(u.Hostname(), strings.HasPrefix(u.Host, "["))
	if err != nil {
		return target{}, err
	}
	return target{scheme: u.Scheme, host: host, literal: literal, port: portOf(u.Scheme, u.Port())}, nil
}

// checkHost accepts an IP literal in its standard form (dotted-quad IPv4, bracketed IPv6) or
// an ASCII DNS name. Names that a C resolver or browser would read as an IPv4 address in
// another notation (2130706433, 0x7f.1, 0177.0.0.1, 127.1) are refused: DNS cannot hold such
// names, and letting a resolver reinterpret them would hide the address from the rules.
func checkHost(host string, bracketed bool) (string, netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is6() != bracketed {
			return "", netip.Addr{}, refuse(ReasonInvalidURL, "only an IPv6 host goes in brackets, and it must")
		}
		return a.String(), a, nil
	}
	if bracketed {
		return "", netip.Addr{}, refuse(ReasonInvalidURL, "bracketed host is not an IPv6 address")
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if len(name) == 0 || len(name) > 253 {
		return "", netip.Addr{}, refuse(ReasonInvalidURL, "host name is empty or too long")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if !validLabel(l) {
			return "", netip.Addr{}, refuse(ReasonInvalidURL, "host %q is not a valid DNS name (use the punycode form of international names)", host)
		}
	}
	if numericLabel(labels[len(labels)-1]) {
		return "", netip.Addr{}, refuse(ReasonInvalidURL, "host %q is a numeric address in a non-standard form", host)
	}
	return name, netip.Addr{}, nil
}

// validLabel reports whether l is a DNS label of letters, digits, inner hyphens and
// underscores (underscores appear in real service names, and resolvers handle them fine).
func validLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// numericLabel reports whether a final label would make the host an IPv4 address in the
// WHATWG URL reading: all decimal digits, or 0x followed by hex digits.
func numericLabel(l string) bool {
	if rest, ok := strings.CutPrefix(l, "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.Trim(l, "0123456789") == ""
}
