package clientwebhook

import (
	"errors"
	"net"
	"testing"
)

// TestClassifyOpErrors: failures below HTTP that only say which operation failed.
func TestClassifyOpErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "remote error", Err: errors.New("tls: handshake failure")}, classTLS},
		{&net.OpError{Op: "tls", Err: errors.New("bad record")}, classTLS},
		{&net.OpError{Op: "read", Err: errors.New("odd")}, classOther},
		{errors.New("our own"), classInternal},
		{nil, ""},
	} {
		if got := classify(0, tc.err); got != tc.want {
			t.Errorf("classify(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	for code, want := range map[int]string{200: "", 299: "", 300: "http_3xx", 404: "http_4xx", 599: "http_5xx", 600: ""} {
		if got := classify(code, nil); got != want {
			t.Errorf("classify(%d) = %q, want %q", code, got, want)
		}
	}
}
