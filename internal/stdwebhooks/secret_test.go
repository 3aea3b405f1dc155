package stdwebhooks

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretRoundTrip(t *testing.T) {
	t.Parallel()
	a, b := mustSecret(t), mustSecret(t)
	if a.String() == b.String() {
		t.Fatal("two new secrets are equal")
	}
	s := a.String()
	rest, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		t.Fatalf("secret %q lacks the whsec_ prefix", s)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) != 32 {
		t.Fatalf("secret body decodes to %d bytes, %v; want 32", len(key), err)
	}
	parsed, err := ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.String() != s {
		t.Fatalf("round trip gave %q, want %q", parsed, s)
	}
	unprefixed, err := ParseSecret(rest)
	if err != nil || unprefixed.String() != s {
		t.Fatalf("ParseSecret without prefix = %v, %v", unprefixed, err)
	}
}

func TestParseSecretRejects(t *testing.T) {
	t.Parallel()
	enc := func(n int) string { return "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n)) }
	for _, bad := range []string{"", "whsec_", "whsec_not*base64*at*all", enc(23), enc(65), "whsec_" + base64.RawStdEncoding.EncodeToString([]byte("twenty-five bytes of key!"))} {
		_, err := ParseSecret(bad)
		if !errors.Is(err, ErrInvalidSecret) {
			t.Errorf("ParseSecret(%q) = %v, want ErrInvalidSecret", bad, err)
			continue
		}
		if body := strings.TrimPrefix(bad, "whsec_"); body != "" && strings.Contains(err.Error(), body) {
			t.Errorf("error %q repeats the secret", err)
		}
	}
	for _, n := range []int{24, 64} {
		if _, err := ParseSecret(enc(n)); err != nil {
			t.Errorf("%d-byte key refused: %v", n, err)
		}
	}
}

func TestSecretStaysOutOfLogs(t *testing.T) {
	t.Parallel()
	s := mustSecret(t)
	key := strings.TrimPrefix(s.String(), "whsec_")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("rotated", "secret", s)
	if strings.Contains(buf.String(), key) {
		t.Fatalf("slog output contains the key: %s", buf.String())
	}
	if out := fmt.Sprintf("%#v", s); strings.Contains(out, key) {
		t.Fatalf("%%#v output contains the key: %s", out)
	}
}
