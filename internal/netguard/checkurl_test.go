package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	const accepted = "" // the reason of a URL CheckURL accepts
	strict := NewPolicy(nil, false)
	loopbackOK := NewPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false).WithPorts(AllPorts())
	httpOK := NewPolicy(nil, true).WithPorts(AllPorts())
	extraPorts := NewPolicy(nil, false).WithPorts([]PortRange{{9000, 9100}})

	tests := []struct {
		name   string
		policy *Policy
		url    string
		reason string
	}{
		{"https name", strict, "https://public.example/hook?token=x", accepted},
		{"upper case and trailing dot", strict, "https://PUBLIC.Example./hook", accepted},
		{"https IPv4 literal", strict, "https://93.184.216.34:8443/", accepted},
		{"https IPv6 literal", strict, "https://[2606:4700::1111]/", accepted},
		{"dual stack name", strict, "https://dual.example/", accepted},
		{"IPv6 name", strict, "https://v6public.example/", accepted},
		{"NAT64 of a public address", strict, "https://nat64pub.example/", accepted},

		{"http refused", strict, "http://public.example/", ReasonInsecureScheme},
		{"http to public literal refused", strict, "http://93.184.216.34/", ReasonInsecureScheme},
		{"http allowed by flag", httpOK, "http://public.example/", accepted},

		{"loopback literal", strict, "https://127.0.0.1/", ReasonForbiddenAddress},
		{"loopback literal other", strict, "https://127.8.9.10:9000/", ReasonForbiddenAddress},
		{"private 10", strict, "https://10.0.0.1/", ReasonForbiddenAddress},
		{"private 172", strict, "https://172.16.5.4/", ReasonForbiddenAddress},
		{"private 192", strict, "https://192.168.1.1/", ReasonForbiddenAddress},
		{"metadata", strict, "https://169.254.169.254/latest/meta-data/", ReasonForbiddenAddress},
		{"cgnat", strict, "https://100.64.0.1/", ReasonForbiddenAddress},
		{"this network", strict, "https://0.0.0.0/", ReasonForbiddenAddress},
		{"broadcast", strict, "https://255.255.255.255/", ReasonForbiddenAddress},
		{"multicast", strict, "https://224.0.0.1/", ReasonForbiddenAddress},
		{"IPv6 loopback", strict, "https://[::1]/", ReasonForbiddenAddress},
		{"IPv6 unspecified", strict, "https://[::]/", ReasonForbiddenAddress},
		{"IPv4-mapped private", strict, "https://[::ffff:10.0.0.1]/", ReasonForbiddenAddress},
		{"IPv4-mapped loopback", strict, "http://[::ffff:127.0.0.1]/", ReasonForbiddenAddress},
		{"IPv4-mapped hex form", strict, "https://[::ffff:7f00:1]/", ReasonForbiddenAddress},
		{"IPv4-compatible loopback", strict, "https://[::127.0.0.1]/", ReasonForbiddenAddress},
		{"NAT64 of private", strict, "https://[64:ff9b::a00:1]/", ReasonForbiddenAddress},
		{"6to4 of private", strict, "https://[2002:a00:1::]/", ReasonForbiddenAddress},
		{"IPv6 link-local with zone", strict, "https://[fe80::1%25eth0]/", ReasonForbiddenAddress},
		{"IPv6 unique local", strict, "https://[fd00::1]/", ReasonForbiddenAddress},
		{"IPv6 multicast", strict, "https://[ff02::1]/", ReasonForbiddenAddress},
		{"percent-encoded loopback", strict, "https://%31%32%37.0.0.1/", ReasonInvalidURL},
		{"name to loopback", strict, "https://loop.example/", ReasonForbiddenAddress},
		{"name to IPv6 loopback", strict, "https://loop6.example/", ReasonForbiddenAddress},
		{"name to public and private", strict, "https://both.example/", ReasonForbiddenAddress},
		{"name to mapped private", strict, "https://mapped.example/", ReasonForbiddenAddress},
		{"name to metadata", strict, "https://meta.example/", ReasonForbiddenAddress},
		{"name to NAT64 loopback", strict, "https://nat64loop.example/", ReasonForbiddenAddress},
		{"name to 6to4 private", strict, "https://sixtofour.example/", ReasonForbiddenAddress},
		{"name to CGNAT", strict, "https://cgnat.example/", ReasonForbiddenAddress},
		{"name to ULA", strict, "https://ula.example/", ReasonForbiddenAddress},
		{"name to 0.0.0.0", strict, "https://unspecified.example/", ReasonForbiddenAddress},
		{"private even with http allowed", httpOK, "http://10.0.0.1/", ReasonForbiddenAddress},

		{"allowed loopback over http", loopbackOK, "http://127.0.0.1:8080/hook", accepted},
		{"allowed loopback name over http", loopbackOK, "http://loop.example/", accepted},
		{"allowed loopback mapped", loopbackOK, "https://[::ffff:127.0.0.1]/", accepted},
		{"allow-list is not everything", loopbackOK, "https://10.0.0.1/", ReasonForbiddenAddress},
		{"allow-list does not permit http elsewhere", loopbackOK, "http://public.example/", ReasonInsecureScheme},
		{"mixed allowed and public over http", loopbackOK, "http://dual.example/", ReasonInsecureScheme},

		{"decimal integer host", strict, "http://2130706433/", ReasonInvalidURL},
		{"hex short host", strict, "http://0x7f.1/", ReasonInvalidURL},
		{"hex integer host", strict, "https://0x7f000001/", ReasonInvalidURL},
		{"octal host", strict, "https://0177.0.0.1/", ReasonInvalidURL},
		{"short dotted host", strict, "https://127.1/", ReasonInvalidURL},
		{"leading zero dotted host", strict, "https://127.000.000.001/", ReasonInvalidURL},
		{"decimal integer with allow-list", loopbackOK, "http://2130706433/", ReasonInvalidURL},
		{"userinfo", strict, "https://user:pw@public.example/", ReasonInvalidURL},
		{"user only", strict, "https://user@public.example/", ReasonInvalidURL},
		{"ftp", strict, "ftp://public.example/", ReasonInvalidURL},
		{"javascript", strict, "javascript:alert(1)", ReasonInvalidURL},
		{"relative", strict, "/hook", ReasonInvalidURL},
		{"scheme relative", strict, "//public.example/hook", ReasonInvalidURL},
		{"opaque", strict, "https:public.example", ReasonInvalidURL},
		{"no host", strict, "https:///hook", ReasonInvalidURL},
		{"empty", strict, "", ReasonInvalidURL},
		{"space in host", strict, "https://pub lic.example/", ReasonInvalidURL},
		{"non-ASCII host", strict, "https://bücher.example/", ReasonInvalidURL},
		{"unbracketed IPv6", strict, "https://::1/", ReasonInvalidURL},
		{"bracketed IPv4", strict, "https://[127.0.0.1]/", ReasonInvalidURL},
		{"port zero", strict, "https://public.example:0/", ReasonInvalidURL},
		{"port too big", strict, "https://public.example:65536/", ReasonInvalidURL},
		{"too long", strict, "https://public.example/" + strings.Repeat("a", maxURLLen), ReasonInvalidURL},

		{"unknown name", strict, "https://nowhere.example/", ReasonUnresolvable},

		{"default https port", strict, "https://public.example/", accepted},
		{"port 443 spelled out", strict, "https://public.example:443/", accepted},
		{"port 8443", strict, "https://public.example:8443/", accepted},
		{"other port refused", strict, "https://public.example:8080/", ReasonForbiddenPort},
		{"ssh port refused", strict, "https://93.184.216.34:22/", ReasonForbiddenPort},
		{"port refused though allowed address", NewPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false), "http://127.0.0.1:8080/", ReasonForbiddenPort},
		{"extra port range allowed", extraPorts, "https://public.example:9050/", accepted},
		{"outside extra range", extraPorts, "https://public.example:9101/", ReasonForbiddenPort},
		{"SRv6 SID refused", strict, "https://[5f00::1]/", ReasonForbiddenAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.policy.CheckURL(context.Background(), tt.url, testResolver())
			if tt.reason == accepted {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want accepted", tt.url, err)
				}
				return
			}
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("CheckURL(%q) = %v, want *Error %s", tt.url, err, tt.reason)
			}
			if ge.Reason != tt.reason {
				t.Fatalf("CheckURL(%q) reason = %s (%v), want %s", tt.url, ge.Reason, err, tt.reason)
			}
		})
	}
}

// Errors go back to clients and into logs: they name the rule and the host, nothing else.
func TestCheckURLErrorsLeakNothing(t *testing.T) {
	t.Parallel()
	p := NewPolicy(nil, false)
	tests := []struct {
		url      string
		mustHave []string
		mustNot  []string
	}{
		{"https://both.example/?token=s3cret", []string{"both.example", "private"}, []string{"10.0.0.1", "s3cret"}},
		{"https://user:pa55@public.example/", []string{"credentials"}, []string{"pa55", "user"}},
		{"https://nowhere.example/x?token=s3cret", []string{"nowhere.example"}, []string{"10.9.9.9", "s3cret"}},
		{"https://pub lic.example/?token=s3cret", nil, []string{"s3cret"}},
		{"https://loop.example/", []string{"loop.example", "loopback"}, []string{"127.0.0.1"}},
	}
	for _, tt := range tests {
		err := p.CheckURL(context.Background(), tt.url, testResolver())
		if err == nil {
			t.Fatalf("CheckURL(%q) accepted", tt.url)
		}
		for _, s := range tt.mustHave {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("CheckURL(%q) = %q, missing %q", tt.url, err, s)
			}
		}
		for _, s := range tt.mustNot {
			if strings.Contains(err.Error(), s) {
				t.Errorf("CheckURL(%q) = %q, leaks %q", tt.url, err, s)
			}
		}
	}
}

func TestCheckURLUnresolvableKeepsCause(t *testing.T) {
	t.Parallel()
	err := NewPolicy(nil, false).CheckURL(context.Background(), "https://nowhere.example/", testResolver())
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("error %v does not wrap the resolver's *net.DNSError", err)
	}
}

func TestCheckURLCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := NewPolicy(nil, false).CheckURL(ctx, "https://public.example/", testResolver())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CheckURL with a cancelled context = %v, want context.Canceled", err)
	}
	var ge *Error
	if errors.As(err, &ge) {
		t.Fatalf("cancellation reported as a refusal: %v", err)
	}
}

// *net.Resolver satisfies Resolver; literals never reach it, so this needs no DNS.
func TestCheckURLNetResolver(t *testing.T) {
	t.Parallel()
	p := NewPolicy(nil, false)
	if err := p.CheckURL(context.Background(), "https://93.184.216.34/", &net.Resolver{}); err != nil {
		t.Fatal(err)
	}
	if err := p.CheckURL(context.Background(), "https://127.0.0.1/", nil); err == nil {
		t.Fatal("loopback accepted with the default resolver")
	}
}

func TestParsePorts(t *testing.T) {
	t.Parallel()
	got, err := ParsePorts([]string{"9443", " 8000-8999"})
	if err != nil || len(got) != 2 || got[0] != (PortRange{9443, 9443}) || got[1] != (PortRange{8000, 8999}) {
		t.Fatalf("ParsePorts = %v, %v", got, err)
	}
	for _, bad := range []string{"0", "65536", "9-8", "x", "1-", ""} {
		if _, err := ParsePorts([]string{bad}); err == nil {
			t.Errorf("ParsePorts(%q) accepted", bad)
		}
	}
}
