// Package netguard decides which client-supplied URLs anonjob may send requests to, so that a
// callback URL cannot make the server reach its own loopback, private network or the cloud
// metadata service. The URL is checked when it is submitted and the address is checked again
// when the connection is made, which defeats DNS rebinding.
package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Resolver looks up the addresses of a host. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy decides whether anonjob may send requests to a client-supplied URL.
// It is immutable and safe for concurrent use.
type Policy struct {
	allow     []netip.Prefix
	allowHTTP bool
	blocked   []blockedRange
	ports     []PortRange
}

// NewPolicy returns a policy that refuses non-public addresses except those inside allow, and
// plain http except when allowHTTP is set or every address of the host is inside allow
// (loopback test receivers and private deployments rarely have certificates). Only ports 443
// and 8443 are allowed; WithPorts adds others.
func NewPolicy(allow []netip.Prefix, allowHTTP bool) *Policy {
	p := &Policy{allowHTTP: allowHTTP, blocked: blockedRanges(), ports: defaultPorts}
	for _, pf := range allow {
		p.allow = append(p.allow, normalizePrefix(pf))
	}
	return p
}

// ParseCIDRs parses allow-list values such as "127.0.0.0/8" or "fd00::/8". A bare address is
// taken as a single-host prefix.
func ParseCIDRs(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("invalid CIDR %q: %w", s, err)
			}
			out = append(out, netip.PrefixFrom(a.WithZone(""), a.BitLen()))
			continue
		}
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid CIDR %q: %w", s, err)
		}
		out = append(out, pf)
	}
	return out, nil
}

// normalizePrefix masks host bits and turns an IPv4-mapped IPv6 prefix into its IPv4 form,
// because addresses are unmapped before they are matched.
func normalizePrefix(pf netip.Prefix) netip.Prefix {
	pf = pf.Masked()
	if a := pf.Addr(); a.Is4In6() && pf.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), pf.Bits()-96)
	}
	return pf
}

// CheckURL checks a client-supplied URL when it is submitted: an absolute http(s) URL without
// credentials, whose host resolves, where every resolved address is public or allowed, and
// which uses https unless plain http is allowed for it. A nil resolver means
// net.DefaultResolver. Refusals are *Error; a cancelled ctx returns its error wrapped.
func (p *Policy) CheckURL(ctx context.Context, raw string, resolver Resolver) error {
	t, err := parseTarget(raw)
	if err != nil {
		return err
	}
	addrs, err := p.lookup(ctx, resolver, "ip", t)
	if err != nil {
		return err
	}
	if err := p.checkAddrs(t, addrs); err != nil {
		return err
	}
	if t.scheme == "http" {
		if err := p.checkPlaintext(t.host, addrs); err != nil {
			return err
		}
	}
	return p.checkPort(t.host, t.port)
}

// lookup returns the addresses of t's host: the literal itself, or what resolver answers.
func (p *Policy) lookup(ctx context.Context, resolver Resolver, network string, t target) ([]netip.Addr, error) {
	if t.literal.IsValid() {
		return []netip.Addr{t.literal}, nil
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	addrs, err := resolver.LookupNetIP(ctx, network, t.host)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("netguard: resolving %q: %w", t.host, ctxErr)
	}
	if err != nil || len(addrs) == 0 {
		// The resolver's error names the DNS server; keep it for errors.As, out of the message.
		return nil, &Error{Reason: ReasonUnresolvable, Msg: fmt.Sprintf("host %q does not resolve", t.host), err: err}
	}
	return addrs, nil
}

// checkAddrs refuses the host unless every address is public or allowed: with several
// addresses the client does not choose which one is dialled, so one bad answer is enough.
func (p *Policy) checkAddrs(t target, addrs []netip.Addr) error {
	for _, a := range addrs {
		if p.allowed(a) {
			continue
		}
		if kind := classify(p.blocked, a); kind != "" {
			if t.literal.IsValid() {
				return refuse(ReasonForbiddenAddress, "host %q is a %s address", t.host, kind)
			}
			return refuse(ReasonForbiddenAddress, "host %q resolves to a %s address", t.host, kind)
		}
	}
	return nil
}

// checkPlaintext refuses plain http unless the policy allows it or every address is allowed.
func (p *Policy) checkPlaintext(host string, addrs []netip.Addr) error {
	if p.allowHTTP {
		return nil
	}
	for _, a := range addrs {
		if !p.allowed(a) {
			return refuse(ReasonInsecureScheme, "host %q must be reached over https", host)
		}
	}
	return nil
}

// allowed reports whether a is inside an allow-list prefix.
func (p *Policy) allowed(a netip.Addr) bool {
	a = normalize(a)
	for _, pf := range p.allow {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}
