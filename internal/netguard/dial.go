package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
)

// plaintextKey marks a dial made for a plain-http request, so the dialer can apply the
// https rule to the addresses it actually connects to.
type plaintextKey struct{}

// DialContext returns a dial function that applies the policy at connect time: it resolves the
// host once (with d.Resolver, or net.DefaultResolver), refuses it unless every address passes,
// and dials only those checked addresses, so a DNS answer that changed since CheckURL
// (rebinding) cannot redirect the connection. A socket-level Control hook checks the address
// once more right before connect. d is copied, not modified; a nil d means a zero Dialer.
func (p *Policy) DialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var r Resolver = net.DefaultResolver
	if d != nil && d.Resolver != nil {
		r = d.Resolver
	}
	return p.dialContext(d, r)
}

func (p *Policy) dialContext(d *net.Dialer, r Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	if d != nil {
		nd = *d
	}
	nd.ControlContext = p.control(nd.ControlContext, nd.Control)
	nd.Control = nil
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ipNetwork, err := lookupNetwork(network)
		if err != nil {
			return nil, err
		}
		hostPart, portPart, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("netguard: dial address: %w", err)
		}
		port, err := strconv.ParseUint(portPart, 10, 16)
		if err != nil {
			return nil, refuse(ReasonInvalidURL, "port of host %q is out of range", hostPart)
		}
		// The host usually comes from a URL already checked, but this dialer can be used on its
		// own, so the syntax rules apply again. SplitHostPort has removed IPv6 brackets.
		host, literal, err := checkHost(hostPart, isIPv6(hostPart))
		if err != nil {
			return nil, err
		}
		t := target{host: host, literal: literal}
		addrs, err := p.lookup(ctx, r, ipNetwork, t)
		if err != nil {
			return nil, err
		}
		if err := p.checkAddrs(t, addrs); err != nil {
			return nil, err
		}
		if ctx.Value(plaintextKey{}) != nil {
			if err := p.checkPlaintext(host, addrs); err != nil {
				return nil, err
			}
		}
		if err := p.checkPort(host, uint16(port)); err != nil {
			return nil, err
		}
		var errs []error
		for _, a := range addrs {
			// Unmapped so that ::ffff:a.b.c.d is dialled as the IPv4 address it stands for.
			c, err := nd.DialContext(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		return nil, errors.Join(errs...)
	}
}

// lookupNetwork maps a dial network to the resolver network that gives its addresses. Only
// TCP is supported: nothing else is needed for webhooks, and fewer paths mean fewer holes.
func lookupNetwork(network string) (string, error) {
	switch network {
	case "tcp":
		return "ip", nil
	case "tcp4":
		return "ip4", nil
	case "tcp6":
		return "ip6", nil
	}
	return "", fmt.Errorf("netguard: network %q is not supported", network)
}

// isIPv6 reports whether host (as split from a host:port) is an IPv6 literal.
func isIPv6(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.Is6()
}

// control checks the address the socket is about to connect to, then runs the dialer's own
// hook. It is the last line: whatever resolved the name, a refused address is never connected.
func (p *Policy) control(
	nextCtx func(ctx context.Context, network, address string, c syscall.RawConn) error,
	next func(network, address string, c syscall.RawConn) error,
) func(ctx context.Context, network, address string, c syscall.RawConn) error {
	return func(ctx context.Context, network, address string, c syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return refuse(ReasonForbiddenAddress, "connection to an unparsable address refused")
		}
		if a := ap.Addr(); !p.allowed(a) {
			if kind := classify(p.blocked, a); kind != "" {
				return refuse(ReasonForbiddenAddress, "connection to a %s address refused", kind)
			}
		}
		switch {
		case nextCtx != nil:
			return nextCtx(ctx, network, address, c)
		case next != nil:
			return next(network, address, c)
		}
		return nil
	}
}
