package store_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/secretbox"
	"github.com/anonjob/anonjob/internal/store"
)

// TestAPIKeys: stored, read back, listed without hashes and revoked once.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	for _, k := range []store.APIKey{{ID: "k1", Customer: "acme", SecretHash: []byte{1}}, {ID: "k2", Customer: "globex", SecretHash: []byte{2}}} {
		must(t, s.InsertAPIKey(ctx, k))
	}
	k, err := s.APIKey(ctx, "k2")
	if err != nil || k.Customer != "globex" || !bytes.Equal(k.SecretHash, []byte{2}) || k.RevokeTime != nil || k.CreateTime.IsZero() {
		t.Fatalf("APIKey = %+v, %v", k, err)
	}
	if _, err := s.APIKey(ctx, "nope"); !errors.Is(err, store.ErrKeyNotFound) {
		t.Fatalf("missing APIKey = %v", err)
	}
	must(t, s.RevokeAPIKey(ctx, "k1"))
	first, _ := s.APIKey(ctx, "k1")
	must(t, s.RevokeAPIKey(ctx, "k1"))
	again, _ := s.APIKey(ctx, "k1")
	if first.RevokeTime == nil || again.RevokeTime == nil || !first.RevokeTime.Equal(*again.RevokeTime) {
		t.Fatalf("revoke times %v then %v, want one that stays", first.RevokeTime, again.RevokeTime)
	}
	if err := s.RevokeAPIKey(ctx, "nope"); !errors.Is(err, store.ErrKeyNotFound) {
		t.Fatalf("revoking a missing key = %v", err)
	}
	list, err := s.ListAPIKeys(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "k1" || list[1].ID != "k2" || list[0].SecretHash != nil ||
		list[0].RevokeTime == nil || list[1].RevokeTime != nil {
		t.Fatalf("ListAPIKeys = %+v, %v", list, err)
	}
}

// TestSecrets: server secrets and callback keys, in clear and sealed, with their rotations.
func TestSecrets(t *testing.T) {
	t.Parallel()
	box, err := secretbox.New(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for name, box := range map[string]*secretbox.Box{"clear": nil, "sealed": box} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := store.New(newPool(t), store.Config{SecretBox: box})
			a, err := s.Secret(ctx, "a", 16)
			if err != nil || len(a) != 16 {
				t.Fatalf("Secret = %x, %v", a, err)
			}
			if again, err := s.Secret(ctx, "a", 16); err != nil || !bytes.Equal(again, a) {
				t.Fatalf("second Secret = %x, %v; want %x", again, err, a)
			}
			if b, err := s.Secret(ctx, "b", 16); err != nil || bytes.Equal(b, a) {
				t.Fatalf("another Secret = %x, %v", b, err)
			}
			keys, err := s.CallbackKeys(ctx)
			if err != nil || len(keys) != 1 || len(keys[0]) != 32 {
				t.Fatalf("CallbackKeys = %d keys, %v", len(keys), err)
			}
			must(t, s.RotateCallbackKey(ctx, time.Hour))
			rotated, err := s.CallbackKeys(ctx)
			if err != nil || len(rotated) != 2 || !bytes.Equal(rotated[1], keys[0]) || bytes.Equal(rotated[0], keys[0]) {
				t.Fatalf("after rotation: %d keys, %v", len(rotated), err)
			}
			// A second rotation ends the oldest at once: at most two are accepted.
			must(t, s.RotateCallbackKey(ctx, time.Hour))
			twice, err := s.CallbackKeys(ctx)
			if err != nil || len(twice) != 2 || !bytes.Equal(twice[1], rotated[0]) {
				t.Fatalf("after a second rotation: %d keys, %v", len(twice), err)
			}
			// No grace: the previous key ends now.
			must(t, s.RotateCallbackKey(ctx, 0))
			if now, err := s.CallbackKeys(ctx); err != nil || len(now) != 1 {
				t.Fatalf("after a rotation without grace: %d keys, %v", len(now), err)
			}

			n := 0
			fresh := func() string { n++; return string(rune('a' + n)) }
			secrets, err := s.WebhookSecrets(ctx, "acme", fresh)
			if err != nil || !slices.Equal(secrets, []string{"b"}) {
				t.Fatalf("WebhookSecrets = %v, %v", secrets, err)
			}
			if again, err := s.WebhookSecrets(ctx, "acme", fresh); err != nil || !slices.Equal(again, secrets) {
				t.Fatalf("second WebhookSecrets = %v, %v", again, err)
			}
			must(t, s.RotateWebhookSecret(ctx, "acme", "two", time.Hour))
			must(t, s.RotateWebhookSecret(ctx, "acme", "three", time.Hour))
			if got, err := s.WebhookSecrets(ctx, "acme", fresh); err != nil || !slices.Equal(got, []string{"three", "two"}) {
				t.Fatalf("after rotations: %v, %v", got, err)
			}
			if n, err := s.RevokePreviousWebhookSecrets(ctx, "acme"); err != nil || n != 1 {
				t.Fatalf("RevokePreviousWebhookSecrets = %d, %v", n, err)
			}
			if got, err := s.WebhookSecrets(ctx, "acme", fresh); err != nil || !slices.Equal(got, []string{"three"}) {
				t.Fatalf("after revoking: %v, %v", got, err)
			}
			if other, err := s.WebhookSecrets(ctx, "globex", fresh); err != nil || len(other) != 1 || other[0] == "three" {
				t.Fatalf("another customer's secrets: %v, %v", other, err)
			}
		})
	}
}

// TestSealSecrets seals what an earlier run without a box kept in clear, once, and leaves the
// values readable through the box.
func TestSealSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	clear := store.New(pool, store.Config{})
	plain, err := clear.WebhookSecrets(ctx, "acme", func() string { return "s3cret" })
	if err != nil {
		t.Fatal(err)
	}
	keys, err := clear.CallbackKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := clear.SealSecrets(ctx); err != nil || n != 0 {
		t.Fatalf("SealSecrets without a box = %d, %v", n, err)
	}
	box, err := secretbox.New(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed := store.New(pool, store.Config{SecretBox: box})
	if n, err := sealed.SealSecrets(ctx); err != nil || n != 2 {
		t.Fatalf("SealSecrets = %d, %v; want 2", n, err)
	}
	if n, err := sealed.SealSecrets(ctx); err != nil || n != 0 {
		t.Fatalf("second SealSecrets = %d, %v; want 0", n, err)
	}
	if got, err := sealed.WebhookSecrets(ctx, "acme", nil); err != nil || !slices.Equal(got, plain) {
		t.Fatalf("sealed webhook secrets = %v, %v; want %v", got, err, plain)
	}
	if got, err := sealed.CallbackKeys(ctx); err != nil || len(got) != 1 || !bytes.Equal(got[0], keys[0]) {
		t.Fatalf("sealed callback keys: %v", err)
	}
	if _, err := clear.WebhookSecrets(ctx, "acme", nil); err == nil {
		t.Fatal("a store without the box read a sealed secret")
	}
}
