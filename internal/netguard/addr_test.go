package netguard

import (
	"net/netip"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	blocked := blockedRanges()
	tests := []struct {
		addr string
		kind string // "" means public
	}{
		{"8.8.8.8", ""},
		{"93.184.216.34", ""},
		{"2001:4860:4860::8888", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"192.169.0.0", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},  // 6to4 of 8.8.8.8
		{"0.0.0.0", "this-network"},
		{"0.1.2.3", "this-network"},
		{"10.0.0.1", "private"},
		{"100.64.0.1", "shared (carrier-grade NAT)"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"169.254.169.254", "link-local"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.0.2.1", "documentation"},
		{"192.168.1.1", "private"},
		{"198.18.0.1", "benchmarking"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::127.0.0.1", "reserved"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::ffff:0:a00:1", "reserved"},
		{"64:ff9b::7f00:1", "loopback"},      // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", "link-local"}, // NAT64 of 169.254.169.254
		{"64:ff9b:1::1", "private"},
		{"2002:7f00:1::", "loopback"},   // 6to4 of 127.0.0.1
		{"2002:c0a8:101::1", "private"}, // 6to4 of 192.168.1.1
		{"2001::1", "reserved"},         // Teredo
		{"2001:db8::1", "documentation"},
		{"fc00::1", "private"},
		{"fd00::1", "private"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fec0::1", "private"},
		{"5f00::1", "reserved"},      // SRv6 SIDs
		{"5f00:ffff::1", "reserved"}, // SRv6 SIDs
		{"100:0:0:1::1", "reserved"}, // dummy prefix
		{"100::1", "reserved"},       // discard-only
		{"2001:2::1", "reserved"},    // benchmarking, in the IETF block
		{"2001:20::1", "reserved"},   // ORCHIDv2
		{"4000::1", "reserved"},      // unassigned, outside global unicast
		{"e000::1", "reserved"},      // unassigned
		{"3fff:fff::1", "documentation"},
		{"2606:4700::1111", ""},
		{"2a00:1450:4001::200e", ""},
		{"ff02::1", "multicast"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			if got := classify(blocked, netip.MustParseAddr(tt.addr)); got != tt.kind {
				t.Errorf("classify(%s) = %q, want %q", tt.addr, got, tt.kind)
			}
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	got, err := ParseCIDRs([]string{"127.0.0.0/8", " fd00::/8 ", "10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("10.1.2.3/32"),
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("prefix %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"127.0.0.0/33", "localhost", "10.0.0.0/x", ""} {
		_, err := ParseCIDRs([]string{"127.0.0.0/8", bad})
		if err == nil {
			t.Errorf("ParseCIDRs(%q) succeeded", bad)
			continue
		}
		if want := "\"" + bad + "\""; !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCIDRs(%q) error %q does not name the value", bad, err)
		}
	}
}

func TestNewPolicyNormalizesPrefixes(t *testing.T) {
	t.Parallel()
	p := NewPolicy([]netip.Prefix{
		netip.MustParsePrefix("::ffff:127.0.0.0/104"),
		netip.MustParsePrefix("10.1.2.3/16"), // host bits set
	}, false)
	for _, s := range []string{"127.0.0.1", "::ffff:127.0.0.1", "10.1.200.1"} {
		if !p.allowed(netip.MustParseAddr(s)) {
			t.Errorf("%s not allowed", s)
		}
	}
	if p.allowed(netip.MustParseAddr("10.2.0.1")) {
		t.Error("10.2.0.1 allowed")
	}
}
