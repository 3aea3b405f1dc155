package stdwebhooks

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The example published with the specification.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustSecret(t *testing.T) Secret {
	t.Helper()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKnownVector(t *testing.T) {
	t.Parallel()
	// The independent verifier must itself agree with the published vector.
	if !specVerifies(vectorSecret, vectorID, strconv.Itoa(vectorTimestamp), vectorSignature, []byte(vectorBody)) {
		t.Fatal("the test's own verifier rejects the published vector")
	}
	secret, err := ParseSecret(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(vectorTimestamp, 0)
	if got := NewSigner(secret).Sign(vectorID, ts, []byte(vectorBody)); got != vectorSignature {
		t.Fatalf("Sign = %q, want %q", got, vectorSignature)
	}
	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", strconv.Itoa(vectorTimestamp))
	h.Set("webhook-signature", vectorSignature)
	if err := Verify(secret, h, []byte(vectorBody), ts.Add(time.Minute), 0); err != nil {
		t.Fatalf("Verify(vector) = %v", err)
	}
}

func TestHeadersFollowSpec(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "{}", `{"file_id":"j-1","file_status":"done"}`, strings.Repeat("x.", 5000)} {
		secret := mustSecret(t)
		id := NewMessageID()
		ts := time.Unix(1700000000, 999_000_000) // sub-second part is not signed
		h := NewSigner(secret).Headers(id, ts, []byte(body))
		if got := h.Get("webhook-id"); got != id {
			t.Fatalf("webhook-id = %q, want %q", got, id)
		}
		if got := h.Get("webhook-timestamp"); got != "1700000000" {
			t.Fatalf("webhook-timestamp = %q", got)
		}
		if !specVerifies(secret.String(), id, "1700000000", h.Get("webhook-signature"), []byte(body)) {
			t.Fatalf("signature %q does not verify per the spec", h.Get("webhook-signature"))
		}
		if len(h) != 3 {
			t.Fatalf("headers %v, want exactly three", h)
		}
	}
}

// During a rotation both secrets sign: one "v1," entry per secret, each verifying with its
// own secret only.
func TestRotation(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret, otherSecret := mustSecret(t), mustSecret(t), mustSecret(t)
	id, ts, body := NewMessageID(), time.Unix(1700000000, 0), []byte(`{"a":1}`)
	s := NewSigner(oldSecret, newSecret)
	header := s.Sign(id, ts, body)
	entries := strings.Split(header, " ")
	if len(entries) != 2 {
		t.Fatalf("header %q, want two entries", header)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e, "v1,") {
			t.Fatalf("entry %q lacks the v1 prefix", e)
		}
	}
	if got := specSignatures(oldSecret.String(), id, "1700000000", header, body); !got[0] || got[1] {
		t.Fatalf("old secret matches %v, want [true false]", got)
	}
	if got := specSignatures(newSecret.String(), id, "1700000000", header, body); got[0] || !got[1] {
		t.Fatalf("new secret matches %v, want [false true]", got)
	}
	h := s.Headers(id, ts, body)
	for _, sec := range []Secret{oldSecret, newSecret} {
		if err := Verify(sec, h, body, ts, 0); err != nil {
			t.Fatalf("Verify with a rotation secret: %v", err)
		}
	}
	if err := Verify(otherSecret, h, body, ts, 0); err == nil {
		t.Fatal("Verify accepted an unrelated secret")
	}
}

func TestSignerWithoutSecrets(t *testing.T) {
	t.Parallel()
	if got := NewSigner(Secret{}).Sign("msg_x", time.Unix(1, 0), nil); got != "" {
		t.Fatalf("Sign = %q, want empty", got)
	}
}

func TestNewMessageID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := NewMessageID()
		rest, ok := strings.CutPrefix(id, "msg_")
		if !ok || len(rest) < 20 || strings.Trim(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("id %q is not msg_ followed by url-safe characters", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}
