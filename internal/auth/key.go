// Package auth authenticates API calls by API key and scopes them to the key's customer.
// A key is "aj_<id>_<secret>": the id finds the stored key, the secret (256 random bits) is
// stored only as its SHA-256.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/anonjob/anonjob/internal/store"
)

const prefix = "aj_"

// parse splits a key into its id and secret.
func parse(key string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	return id, secret, ok && len(id) == 16 && len(secret) == 43
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// KeyWriter stores new keys.
type KeyWriter interface {
	InsertAPIKey(ctx context.Context, k store.APIKey) error
}

// CreateKey makes a key for customer and stores it. The returned key is the only copy of its
// secret: show it once.
func CreateKey(ctx context.Context, w KeyWriter, customer string) (id, key string, err error) {
	if customer == "" || len(customer) > 128 || strings.ContainsAny(customer, " \t\r\n") {
		return "", "", fmt.Errorf("customer %q: must be 1 to 128 characters without spaces", customer)
	}
	idb, secretb := make([]byte, 8), make([]byte, 32)
	if _, err := rand.Read(idb); err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	if _, err := rand.Read(secretb); err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	id = hex.EncodeToString(idb)
	secret := base64.RawURLEncoding.EncodeToString(secretb)
	if err := w.InsertAPIKey(ctx, store.APIKey{ID: id, Customer: customer, SecretHash: hashSecret(secret)}); err != nil {
		return "", "", err
	}
	return id, prefix + id + "_" + secret, nil
}
