package stdwebhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names defined by the specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// signatureVersion tags HMAC-SHA256 signatures in the webhook-signature header.
const signatureVersion = "v1"

// Signer signs messages with every secret it holds. During a rotation it holds the old and
// the new secret, so receivers configured with either one accept the message.
type Signer struct {
	secrets []Secret
}

// NewSigner returns a signer for the given secrets; zero secrets are skipped.
func NewSigner(secrets ...Secret) Signer {
	var s Signer
	for _, sec := range secrets {
		if !sec.IsZero() {
			s.secrets = append(s.secrets, sec)
		}
	}
	return s
}

// Sign returns the webhook-signature header value: "v1,<base64 signature>" per secret,
// separated by spaces. It is empty for a signer without secrets.
func (s Signer) Sign(msgID string, ts time.Time, body []byte) string {
	sigs := make([]string, 0, len(s.secrets))
	for _, sec := range s.secrets {
		sigs = append(sigs, signatureVersion+","+base64.StdEncoding.EncodeToString(mac(sec.key, msgID, ts.Unix(), body)))
	}
	return strings.Join(sigs, " ")
}

// Headers returns the three webhook headers for a message. msgID must stay the same across
// retries of one message: receivers use it to drop duplicates.
func (s Signer) Headers(msgID string, ts time.Time, body []byte) http.Header {
	h := make(http.Header, 3)
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, s.Sign(msgID, ts, body))
	return h
}

// mac computes HMAC-SHA256(key, "{id}.{timestamp}.{body}"). The timestamp is signed so a
// captured message cannot be replayed outside the receiver's tolerance.
func mac(key []byte, msgID string, unix int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, unix, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// NewMessageID returns "msg_" followed by 128 random bits in URL-safe base64.
func NewMessageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails: it aborts the program instead
	return "msg_" + base64.RawURLEncoding.EncodeToString(b)
}
