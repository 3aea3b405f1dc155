// Package stdwebhooks signs and verifies webhooks per the Standard Webhooks specification
// (https://www.standardwebhooks.com/): HMAC-SHA256 over "{id}.{timestamp}.{body}", sent in the
// webhook-id, webhook-timestamp and webhook-signature headers, with secrets in "whsec_" form.
package stdwebhooks

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// secretPrefix marks a symmetric secret in its displayed form.
const secretPrefix = "whsec_"

// The specification asks for keys between 24 and 64 bytes.
const (
	minKeyLen = 24
	maxKeyLen = 64
	newKeyLen = 32
)

// ErrInvalidSecret is returned for a secret that is not "whsec_" followed by base64 of 24 to
// 64 bytes.
var ErrInvalidSecret = errors.New("invalid webhook secret")

// Secret is a symmetric signing key. The zero Secret is not usable.
type Secret struct {
	key []byte
}

// NewSecret returns a secret of 32 random bytes.
func NewSecret() (Secret, error) {
	key := make([]byte, newKeyLen)
	if _, err := rand.Read(key); err != nil {
		return Secret{}, fmt.Errorf("generating webhook secret: %w", err)
	}
	return Secret{key: key}, nil
}

// ParseSecret parses the "whsec_<base64>" form. The prefix may be omitted, as the
// specification's own libraries allow.
func ParseSecret(s string) (Secret, error) {
	b64 := strings.TrimPrefix(strings.TrimSpace(s), secretPrefix)
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		// The input is a secret: never put it in the error.
		return Secret{}, fmt.Errorf("%w: not base64 after %q", ErrInvalidSecret, secretPrefix)
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return Secret{}, fmt.Errorf("%w: key is %d bytes, want %d to %d", ErrInvalidSecret, len(key), minKeyLen, maxKeyLen)
	}
	return Secret{key: key}, nil
}

// String returns the secret in its "whsec_<base64>" form, the one shown to its owner.
func (s Secret) String() string {
	return secretPrefix + base64.StdEncoding.EncodeToString(s.key)
}

// LogValue keeps the secret out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(secretPrefix + "REDACTED") }

// GoString keeps the secret out of %#v output.
func (s Secret) GoString() string { return "stdwebhooks.Secret{REDACTED}" }

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return len(s.key) == 0 }
