package netguard

import (
	"fmt"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of TCP ports.
type PortRange struct{ Lo, Hi uint16 }

// DefaultPorts are the ports a callback URL may name when nothing else is allowed: https's own
// and its common alternative. Any other port of a public address would let a client use the
// webhook sender to probe services that were never meant to receive webhooks.
var defaultPorts = []PortRange{{443, 443}, {8443, 8443}}

// AllPorts allows every port (tests with receivers on random loopback ports).
func AllPorts() []PortRange { return []PortRange{{1, 65535}} }

// ParsePorts parses allow-list values such as "9443" or "8000-8999".
func ParsePorts(ss []string) ([]PortRange, error) {
	out := make([]PortRange, 0, len(ss))
	for _, s := range ss {
		s = strings.TrimSpace(s)
		lo, hi, isRange := strings.Cut(s, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.ParseUint(lo, 10, 16)
		h, err2 := strconv.ParseUint(hi, 10, 16)
		if err1 != nil || err2 != nil || l == 0 || h < l {
			return nil, fmt.Errorf("invalid port or range %q: want 1-65535 or LOW-HIGH", s)
		}
		out = append(out, PortRange{uint16(l), uint16(h)})
	}
	return out, nil
}

// WithPorts returns a copy of p that also allows ports in extra, besides 443 and 8443.
func (p *Policy) WithPorts(extra []PortRange) *Policy {
	c := *p
	c.ports = append(append([]PortRange(nil), defaultPorts...), extra...)
	return &c
}

// checkPort refuses a port the policy does not allow.
func (p *Policy) checkPort(host string, port uint16) error {
	for _, r := range p.ports {
		if port >= r.Lo && port <= r.Hi {
			return nil
		}
	}
	return refuse(ReasonForbiddenPort, "port %d of host %q is not allowed: use 443 or 8443", port, host)
}

// portOf is the port a URL leads to: the one it names, or its scheme's default.
func portOf(scheme, port string) uint16 {
	if port == "" {
		if scheme == "http" {
			return 80
		}
		return 443
	}
	n, _ := strconv.ParseUint(port, 10, 16) // range checked by checkURL
	return uint16(n)
}
