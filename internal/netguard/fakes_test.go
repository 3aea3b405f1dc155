package netguard

import (
	"context"
	"net"
	"net/netip"
)

// fakeResolver answers from a table, so tests need no DNS.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, s := range f[host] {
		a := netip.MustParseAddr(s)
		if (network == "ip4" && !a.Unmap().Is4()) || (network == "ip6" && !a.Is6()) {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, Server: "10.9.9.9:53", IsNotFound: true}
	}
	return out, nil
}

// testResolver holds the names the tests resolve.
func testResolver() fakeResolver {
	return fakeResolver{
		"public.example":      {"93.184.216.34"},
		"v6public.example":    {"2606:4700::1111"},
		"dual.example":        {"93.184.216.34", "2606:4700::1111"},
		"nat64pub.example":    {"64:ff9b::5db8:d822"}, // 93.184.216.34 through NAT64
		"loop.example":        {"127.0.0.1"},
		"loop6.example":       {"::1"},
		"both.example":        {"93.184.216.34", "10.0.0.1"},
		"mapped.example":      {"::ffff:10.0.0.1"},
		"meta.example":        {"169.254.169.254"},
		"nat64loop.example":   {"64:ff9b::7f00:1"},
		"sixtofour.example":   {"2002:a00:1::1"},
		"cgnat.example":       {"100.64.1.2"},
		"ula.example":         {"fd12:3456::1"},
		"unspecified.example": {"0.0.0.0"},
	}
}
