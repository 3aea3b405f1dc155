package stdwebhooks

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a message's timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Reasons Verify rejects a message; the returned error wraps one of them.
var (
	ErrMissingHeader       = errors.New("missing webhook header")
	ErrInvalidHeader       = errors.New("invalid webhook header")
	ErrTimestampTooOld     = errors.New("webhook timestamp too old")
	ErrTimestampTooNew     = errors.New("webhook timestamp too far in the future")
	ErrNoMatchingSignature = errors.New("no matching webhook signature")
)

// Verify checks a received message against secret: the headers are present and well formed,
// the timestamp is within tolerance of now (DefaultTolerance when tolerance <= 0), and one of
// the v1 signatures matches, compared in constant time. Signatures of other versions are
// ignored, as the specification requires.
func Verify(secret Secret, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if secret.IsZero() {
		return ErrInvalidSecret
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, tsText, sigText := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	for _, name := range []string{HeaderID, HeaderTimestamp, HeaderSignature} {
		if h.Get(name) == "" {
			return fmt.Errorf("%w: %s", ErrMissingHeader, name)
		}
	}
	ts, err := parseTimestamp(tsText)
	if err != nil {
		return err
	}
	if now.Sub(time.Unix(ts, 0)) > tolerance {
		return ErrTimestampTooOld
	}
	if time.Unix(ts, 0).Sub(now) > tolerance {
		return ErrTimestampTooNew
	}
	want := mac(secret.key, id, ts, body)
	for _, field := range strings.Fields(sigText) {
		version, sig, ok := strings.Cut(field, ",")
		if !ok {
			return fmt.Errorf("%w: %s entry without a version", ErrInvalidHeader, HeaderSignature)
		}
		if version != signatureVersion {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue // a malformed entry cannot match; another entry still may
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

// parseTimestamp accepts decimal digits only: strconv alone would also take a sign.
func parseTimestamp(s string) (int64, error) {
	if strings.Trim(s, "0123456789") != "" || len(s) > 18 {
		return 0, fmt.Errorf("%w: %s is not unix seconds", ErrInvalidHeader, HeaderTimestamp)
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrInvalidHeader, HeaderTimestamp, err)
	}
	return ts, nil
}
