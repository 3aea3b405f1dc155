package netguard

import "net/netip"

// blockedRange is a block of addresses that is not the public internet, with the name used in
// refusals.
type blockedRange struct {
	prefix netip.Prefix
	kind   string
}

// blockedRanges lists the non-public IPv4 and IPv6 blocks (IANA special-purpose registries).
// IPv4-mapped IPv6 addresses are unmapped before matching, so the IPv4 entries cover them too.
// More specific entries come first so that a refusal names the narrowest rule.
func blockedRanges() []blockedRange {
	r := func(p, kind string) blockedRange { return blockedRange{netip.MustParsePrefix(p), kind} }
	return []blockedRange{
		r("0.0.0.0/8", "this-network"),
		r("10.0.0.0/8", "private"),
		r("100.64.0.0/10", "shared (carrier-grade NAT)"),
		r("127.0.0.0/8", "loopback"),
		r("169.254.0.0/16", "link-local"), // includes the 169.254.169.254 cloud metadata service
		r("172.16.0.0/12", "private"),
		r("192.0.0.0/24", "reserved"),
		r("192.0.2.0/24", "documentation"),
		r("192.88.99.0/24", "reserved"),
		r("192.168.0.0/16", "private"),
		r("198.18.0.0/15", "benchmarking"),
		r("198.51.100.0/24", "documentation"),
		r("203.0.113.0/24", "documentation"),
		r("224.0.0.0/4", "multicast"),
		r("255.255.255.255/32", "broadcast"),
		r("240.0.0.0/4", "reserved"),

		r("::/128", "unspecified"),
		r("::1/128", "loopback"),
		r("::/96", "reserved"),           // deprecated IPv4-compatible addresses
		r("::ffff:0:0:0/96", "reserved"), // IPv4-translated (SIIT)
		r("64:ff9b:1::/48", "private"),   // local-use NAT64: translates to whatever the site chooses
		r("100::/64", "reserved"),        // discard-only
		r("100:0:0:1::/64", "reserved"),  // dummy prefix (RFC 9780)
		r("2001::/23", "reserved"),       // IETF protocol assignments, including Teredo
		r("2001:db8::/32", "documentation"),
		r("3fff::/20", "documentation"),
		r("5f00::/16", "reserved"), // segment routing (SRv6) SIDs (RFC 9602)
		r("fc00::/7", "private"),   // unique local
		r("fe80::/10", "link-local"),
		r("fec0::/10", "private"), // deprecated site-local
		r("ff00::/8", "multicast"),
	}
}

// embeddedIPv4 returns the IPv4 address inside a NAT64 (RFC 6052 well-known prefix) or 6to4
// address: such a target reaches that IPv4 address, so it must pass the same rules.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case netip.MustParsePrefix("64:ff9b::/96").Contains(a): // RFC 6052: address in the last 32 bits
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case netip.MustParsePrefix("2002::/16").Contains(a): // RFC 3056: address in bits 16-47
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// normalize drops the zone and turns IPv4-mapped IPv6 (::ffff:a.b.c.d) into plain IPv4, so
// that one address has one form when matched against prefixes.
func normalize(a netip.Addr) netip.Addr { return a.WithZone("").Unmap() }

// classify returns the kind of non-public block a holds, or "" when a is public.
func classify(blocked []blockedRange, a netip.Addr) string {
	if !a.IsValid() {
		return "invalid"
	}
	a = normalize(a)
	for _, r := range blocked {
		if r.prefix.Contains(a) {
			return r.kind
		}
	}
	if v4, ok := embeddedIPv4(a); ok {
		return classify(blocked, v4)
	}
	// Outside 2000::/3 nothing is global unicast today: the IANA special-purpose registry
	// names blocks such as 5f00::/16, and the rest is unassigned. Refusing the whole space
	// keeps a newly reserved block from passing until it is listed here.
	if a.Is6() && !globalUnicast.Contains(a) {
		return "reserved"
	}
	return ""
}

// globalUnicast is where IANA assigns global unicast IPv6 addresses (RFC 4291 section 2.4).
var globalUnicast = netip.MustParsePrefix("2000::/3")
