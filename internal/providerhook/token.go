// Package providerhook makes the callback URLs handed to the anonymization engine and reads
// the completion webhooks the engine posts to them. The Celantur v1 webhook is not signed, so
// each callback URL carries an unguessable per-job token.
package providerhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
)

// Path is where anonjob receives the provider's webhooks.
const Path = "/v1/webhooks/celantur"

// Signer mints and checks per-job callback tokens: an HMAC-SHA256 of the job id under a server
// secret shared by all replicas.
type Signer struct {
	key []byte
}

// NewSigner uses key, which must be secret and at least 32 random bytes.
func NewSigner(key []byte) Signer { return Signer{key: append([]byte(nil), key...)} }

// Token returns the callback token of a job.
func (s Signer) Token(jobID string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac(jobID))
}

// Verify reports, in constant time, whether token is the job's callback token.
func (s Signer) Verify(jobID, token string) bool {
	got, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return false
	}
	return hmac.Equal(got, s.mac(jobID))
}

func (s Signer) mac(jobID string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("celantur-callback\x00"))
	m.Write([]byte(jobID))
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
