package stdwebhooks

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	secret, err := ParseSecret(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(vectorTimestamp, 0)
	body := []byte(vectorBody)
	valid := func() http.Header {
		return http.Header{
			"Webhook-Id":        {vectorID},
			"Webhook-Timestamp": {"1614265330"},
			"Webhook-Signature": {vectorSignature},
		}
	}
	with := func(name, value string) http.Header {
		h := valid()
		if value == "" {
			h.Del(name)
		} else {
			h.Set(name, value)
		}
		return h
	}
	validSig := strings.TrimPrefix(vectorSignature, "v1,")
	tests := []struct {
		name      string
		secret    Secret
		h         http.Header
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error // nil means accepted
	}{
		{"valid", secret, valid(), body, ts, 0, nil},
		{"within default tolerance, late", secret, valid(), body, ts.Add(5 * time.Minute), 0, nil},
		{"within default tolerance, early", secret, valid(), body, ts.Add(-5 * time.Minute), 0, nil},
		{"valid among other entries", secret, with("webhook-signature", "v1a,AAAA v1,bm90IGl0 "+vectorSignature), body, ts, 0, nil},

		{"tampered body", secret, valid(), []byte(`{"test": 2432232315}`), ts, 0, ErrNoMatchingSignature},
		{"body with trailing newline", secret, valid(), append([]byte(vectorBody), '\n'), ts, 0, ErrNoMatchingSignature},
		{"wrong secret", mustSecret(t), valid(), body, ts, 0, ErrNoMatchingSignature},
		{"other message id", secret, with("webhook-id", "msg_other"), body, ts, 0, ErrNoMatchingSignature},
		{"other timestamp", secret, with("webhook-timestamp", "1614265331"), body, ts, 0, ErrNoMatchingSignature},
		{"stale", secret, valid(), body, ts.Add(5*time.Minute + time.Second), 0, ErrTimestampTooOld},
		{"future", secret, valid(), body, ts.Add(-5*time.Minute - time.Second), 0, ErrTimestampTooNew},
		{"stale under a tighter tolerance", secret, valid(), body, ts.Add(31 * time.Second), 30 * time.Second, ErrTimestampTooOld},

		{"missing id", secret, with("webhook-id", ""), body, ts, 0, ErrMissingHeader},
		{"missing timestamp", secret, with("webhook-timestamp", ""), body, ts, 0, ErrMissingHeader},
		{"missing signature", secret, with("webhook-signature", ""), body, ts, 0, ErrMissingHeader},
		{"timestamp not a number", secret, with("webhook-timestamp", "yesterday"), body, ts, 0, ErrInvalidHeader},
		{"timestamp with sign", secret, with("webhook-timestamp", "+1614265330"), body, ts, 0, ErrInvalidHeader},
		{"negative timestamp", secret, with("webhook-timestamp", "-1614265330"), body, ts, 0, ErrInvalidHeader},
		{"fractional timestamp", secret, with("webhook-timestamp", "1614265330.0"), body, ts, 0, ErrInvalidHeader},
		{"timestamp in milliseconds", secret, with("webhook-timestamp", "1614265330000"), body, ts, 0, ErrTimestampTooNew},
		{"huge timestamp", secret, with("webhook-timestamp", strings.Repeat("9", 40)), body, ts, 0, ErrInvalidHeader},
		{"signature without version", secret, with("webhook-signature", validSig), body, ts, 0, ErrInvalidHeader},
		{"signature of another version", secret, with("webhook-signature", "v2,"+validSig), body, ts, 0, ErrNoMatchingSignature},
		{"signature not base64", secret, with("webhook-signature", "v1,!!!"), body, ts, 0, ErrNoMatchingSignature},
		{"signature empty", secret, with("webhook-signature", "v1,"), body, ts, 0, ErrNoMatchingSignature},
		{"signature truncated", secret, with("webhook-signature", vectorSignature[:len(vectorSignature)-4]), body, ts, 0, ErrNoMatchingSignature},
		{"only spaces", secret, with("webhook-signature", "   "), body, ts, 0, ErrNoMatchingSignature},
		{"zero secret", Secret{}, valid(), body, ts, 0, ErrInvalidSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(tt.secret, tt.h, tt.body, tt.now, tt.tolerance)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want accepted", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}
