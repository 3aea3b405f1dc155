package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// listen starts a loopback listener that counts accepted connections.
func listen(t *testing.T) (port string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, accepted
}

func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	var ge *Error
	if !errors.As(err, &ge) || ge.Reason != reason {
		t.Fatalf("error = %v, want *Error %s", err, reason)
	}
}

// DNS rebinding: the name resolves to a public address when the URL is submitted and to
// loopback when the delivery connects. The connect-time check refuses, and the loopback
// listener never sees a connection.
func TestDialRefusesRebinding(t *testing.T) {
	t.Parallel()
	port, accepted := listen(t)
	p := NewPolicy(nil, false).WithPorts(AllPorts())
	atSubmit := fakeResolver{"rebind.example": {"93.184.216.34"}}
	atConnect := fakeResolver{"rebind.example": {"127.0.0.1"}}

	if err := p.CheckURL(context.Background(), "https://rebind.example:"+port+"/", atSubmit); err != nil {
		t.Fatalf("CheckURL: %v", err)
	}
	conn, err := p.dialContext(&net.Dialer{Timeout: time.Second}, atConnect)(context.Background(), "tcp", "rebind.example:"+port)
	if err == nil {
		_ = conn.Close()
		t.Fatal("dial to a name rebound to loopback succeeded")
	}
	wantReason(t, err, ReasonForbiddenAddress)
	if n := accepted.Load(); n != 0 {
		t.Fatalf("listener accepted %d connections", n)
	}
}

func TestDial(t *testing.T) {
	t.Parallel()
	port, _ := listen(t)
	strict := NewPolicy(nil, false)
	loopbackOK := NewPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false).WithPorts(AllPorts())
	r := fakeResolver{
		"loop.example":  {"127.0.0.1"},
		"mixed.example": {"127.0.0.1", "10.0.0.1"},
	}
	tests := []struct {
		name    string
		policy  *Policy
		network string
		addr    string
		reason  string // "" means connected
	}{
		{"loopback literal refused", strict, "tcp", "127.0.0.1:" + port, ReasonForbiddenAddress},
		{"loopback name refused", strict, "tcp", "loop.example:" + port, ReasonForbiddenAddress},
		{"mapped loopback refused", strict, "tcp", "[::ffff:127.0.0.1]:" + port, ReasonForbiddenAddress},
		{"odd numeric host refused", loopbackOK, "tcp", "2130706433:" + port, ReasonInvalidURL},
		{"loopback literal allowed", loopbackOK, "tcp", "127.0.0.1:" + port, ""},
		{"loopback name allowed", loopbackOK, "tcp4", "loop.example:" + port, ""},
		{"one address outside the allow-list", loopbackOK, "tcp", "mixed.example:" + port, ReasonForbiddenAddress},
		{"unknown name", loopbackOK, "tcp", "nowhere.example:" + port, ReasonUnresolvable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := tt.policy.dialContext(&net.Dialer{Timeout: time.Second}, r)(context.Background(), tt.network, tt.addr)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("dial %s: %v", tt.addr, err)
				}
				_ = conn.Close()
				return
			}
			if err == nil {
				_ = conn.Close()
				t.Fatalf("dial %s connected", tt.addr)
			}
			wantReason(t, err, tt.reason)
		})
	}
}

func TestDialUnsupportedNetwork(t *testing.T) {
	t.Parallel()
	_, err := NewPolicy(nil, false).DialContext(nil)(context.Background(), "udp", "93.184.216.34:53")
	if err == nil {
		t.Fatal("udp dial allowed")
	}
}

// A plain-http request to a public address is refused at connect time, before any dial.
func TestDialPlaintextRule(t *testing.T) {
	t.Parallel()
	r := fakeResolver{"public.example": {"93.184.216.34"}}
	ctx := context.WithValue(context.Background(), plaintextKey{}, true)
	_, err := NewPolicy(nil, false).dialContext(nil, r)(ctx, "tcp", "public.example:80")
	wantReason(t, err, ReasonInsecureScheme)
}

// The socket hook refuses non-public addresses whatever resolved them, and still runs the
// dialer's own hook for addresses it lets through.
func TestControl(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	own := func(string, string, syscall.RawConn) error { calls.Add(1); return nil }
	control := NewPolicy([]netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, false).control(nil, own)
	ctx := context.Background()
	for _, a := range []string{"127.0.0.1:80", "[::1]:443", "[::ffff:169.254.169.254]:80", "[fe80::1%eth0]:80", "10.2.0.1:80", "not-an-address"} {
		err := control(ctx, "tcp", a, nil)
		wantReason(t, err, ReasonForbiddenAddress)
	}
	if calls.Load() != 0 {
		t.Fatal("dialer hook ran for a refused address")
	}
	for _, a := range []string{"93.184.216.34:443", "[2606:4700::1111]:443", "10.1.2.3:80"} {
		if err := control(ctx, "tcp", a, nil); err != nil {
			t.Fatalf("control(%s) = %v", a, err)
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("dialer hook ran %d times, want 3", calls.Load())
	}
}

// The policy's hook is chained with the caller's Control, which still runs on real connects.
func TestDialKeepsCallerControl(t *testing.T) {
	t.Parallel()
	port, _ := listen(t)
	var calls atomic.Int32
	d := &net.Dialer{Timeout: time.Second, Control: func(string, string, syscall.RawConn) error {
		calls.Add(1)
		return nil
	}}
	p := NewPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false).WithPorts(AllPorts())
	conn, err := p.DialContext(d)(context.Background(), "tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	if calls.Load() != 1 {
		t.Fatalf("caller's Control ran %d times, want 1", calls.Load())
	}
	if d.ControlContext != nil {
		t.Fatal("DialContext modified the caller's dialer")
	}
}
