// Package providerhook makes the callback URLs handed to the anonymization engine and reads
// the completion webhooks the engine posts to them. The Celantur v1 webhook is not signed, so
// each callback URL carries an unguessable per-job token.
package providerhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Path is where anonjob receives the provider's webhooks.
const Path = "/v1/webhooks/celantur"

// DefaultTokenTTL is how long a callback token is accepted when NewSigner is told nothing.
const DefaultTokenTTL = 24 * time.Hour

// Signer mints and checks per-job callback tokens: an expiry time and an HMAC-SHA256 of the
// job id and that time under a server key shared by all replicas. The first key mints; every
// key verifies, so tokens made before a rotation keep working while the old key is kept.
// Copies share their keys: SetKeys on one is seen by all.
type Signer struct {
	keys *atomic.Pointer[[][]byte]
	ttl  time.Duration
}

// NewSigner uses key, which must be secret and at least 32 random bytes, and DefaultTokenTTL.
func NewSigner(key []byte) Signer { return NewKeyedSigner([][]byte{key}, DefaultTokenTTL) }

// NewKeyedSigner mints with keys[0] and accepts tokens of any of keys, for ttl after minting.
func NewKeyedSigner(keys [][]byte, ttl time.Duration) Signer {
	s := Signer{keys: new(atomic.Pointer[[][]byte]), ttl: ttl}
	s.SetKeys(keys)
	return s
}

// SetKeys replaces the keys (after a rotation): keys[0] mints from now on.
func (s Signer) SetKeys(keys [][]byte) {
	cp := make([][]byte, len(keys))
	for i, k := range keys {
		cp[i] = append([]byte(nil), k...)
	}
	s.keys.Store(&cp)
}

// tokenLen is 8 bytes of expiry (Unix seconds) and the 32-byte MAC.
const tokenLen = 8 + sha256.Size

// Token returns a callback token of a job, valid for the signer's TTL.
func (s Signer) Token(jobID string) string {
	return s.tokenAt(jobID, time.Now().Add(s.ttl))
}

func (s Signer) tokenAt(jobID string, expire time.Time) string {
	keys := *s.keys.Load()
	b := make([]byte, 8, tokenLen)
	binary.BigEndian.PutUint64(b, uint64(expire.Unix()))
	b = append(b, mac(keys[0], jobID, b[:8])...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Verify reports whether token is an unexpired callback token of the job under one of the
// signer's keys. The MACs are compared in constant time.
func (s Signer) Verify(jobID, token string) bool {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != tokenLen {
		return false
	}
	ok := false
	for _, k := range *s.keys.Load() {
		if hmac.Equal(b[8:], mac(k, jobID, b[:8])) {
			ok = true
		}
	}
	return ok && time.Now().Unix() < int64(binary.BigEndian.Uint64(b[:8]))
}

func mac(key []byte, jobID string, expire []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("celantur-callback-v2\x00"))
	m.Write([]byte(jobID))
	m.Write([]byte{0})
	m.Write(expire)
	return m.Sum(nil)
}

// CallbackURL is the URL the provider must POST the job's webhook to: base (the service's
// public URL) with the webhook path and the job id and token as query parameters.
func (s Signer) CallbackURL(base *url.URL, jobID string) *url.URL {
	u := base.JoinPath(Path)
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // JoinPath leaves a base with no path relative
	}
	q := url.Values{}
	q.Set("job_id", jobID)
	q.Set("token", s.Token(jobID))
	u.RawQuery = q.Encode()
	return u
}
