package netguard

import "fmt"

// Reasons an outbound URL or connection is refused. They are stable strings that callers can
// surface as API error reasons.
const (
	// ReasonInvalidURL: the value is not an absolute http(s) URL with a plain host name or address.
	ReasonInvalidURL = "INVALID_URL"
	// ReasonInsecureScheme: plain http to a target that is not on the allow-list.
	ReasonInsecureScheme = "INSECURE_SCHEME"
	// ReasonForbiddenAddress: the host is, or resolves to, a non-public address.
	ReasonForbiddenAddress = "FORBIDDEN_ADDRESS"
	// ReasonUnresolvable: the host name has no addresses.
	ReasonUnresolvable = "UNRESOLVABLE"
	// ReasonForbiddenPort: the URL names a port outside the allowed ones (443 and 8443 by default).
	ReasonForbiddenPort = "FORBIDDEN_PORT"
)

// Error is a refusal by a Policy. Msg names the rule and the host only: it never carries the
// rest of the URL (whose query may hold a client's token) nor the addresses a name resolved to
// (which would let a client map internal DNS).
type Error struct {
	Reason string
	Msg    string
	err    error // underlying cause, kept for errors.Is/As but never printed
}

// Error returns the reason and the message.
func (e *Error) Error() string { return e.Reason + ": " + e.Msg }

// Unwrap returns the underlying cause, if any (for example a resolver error).
func (e *Error) Unwrap() error { return e.err }

// refuse builds a refusal; callers pass only the host and the rule, never the raw URL.
func refuse(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}
