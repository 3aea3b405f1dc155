// Package secretbox seals secrets kept in the database (client webhook secrets, the callback
// keys) with AES-256-GCM under a key from a file, so a copy of the database alone reveals none.
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// prefix marks a sealed value: "ajs1:" then base64 of key id (4 bytes), nonce and ciphertext.
const prefix = "ajs1:"

// Box seals and opens values. A nil *Box seals nothing: values pass in clear, and sealed
// values cannot be opened.
type Box struct {
	aead cipher.AEAD
	id   [4]byte // names the key, so a value sealed under another key says so
}

// ErrNoKey means a sealed value was read without a key.
var ErrNoKey = errors.New("the value is sealed and no secrets key was given (--secrets-key-file)")

// New makes a box from a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secrets key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	b := &Box{aead: aead}
	sum := sha256.Sum256(append([]byte("anonjob-secrets-key-id\x00"), key...))
	copy(b.id[:], sum[:4])
	return b, nil
}

// LoadFile reads a key file: 64 hex digits (what WriteKeyFile writes) or 32 bytes in base64.
func LoadFile(path string) (*Box, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	text := strings.TrimSpace(string(raw))
	key, err := hex.DecodeString(text)
	if err != nil {
		if key, err = base64.StdEncoding.DecodeString(text); err != nil {
			return nil, fmt.Errorf("secrets key file %s: want 64 hex digits or base64 of 32 bytes", path)
		}
	}
	return New(key)
}

// EnsureKeyFile loads path, writing a new random key there (mode 0600) first if it is missing.
func EnsureKeyFile(path string) (box *Box, created bool, err error) {
	if _, err := os.Lstat(path); err == nil {
		box, err := LoadFile(path)
		return box, false, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("secrets key file: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generate secrets key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("write secrets key file: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		_ = f.Close()
		return nil, false, fmt.Errorf("write secrets key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("write secrets key file: %w", err)
	}
	box, err = New(key)
	return box, true, err
}

// IsSealed reports whether v is in sealed form.
func IsSealed(v []byte) bool { return bytes.HasPrefix(v, []byte(prefix)) }

// Seal returns v sealed, bound to context (say, the row it belongs to), so a sealed value
// moved to another row does not open. Without a key it returns v unchanged.
func (b *Box) Seal(v []byte, context string) ([]byte, error) {
	if b == nil {
		return v, nil
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	raw := append(b.id[:], nonce...)
	raw = b.aead.Seal(raw, nonce, v, []byte(context))
	return []byte(prefix + base64.RawStdEncoding.EncodeToString(raw)), nil
}

// Open returns the clear value of a sealed one; a value not in sealed form is returned as it
// is (a row from before encryption).
func (b *Box) Open(v []byte, context string) ([]byte, error) {
	if !IsSealed(v) {
		return v, nil
	}
	if b == nil {
		return nil, ErrNoKey
	}
	raw, err := base64.RawStdEncoding.DecodeString(string(v[len(prefix):]))
	ns := b.aead.NonceSize()
	if err != nil || len(raw) < 4+ns+b.aead.Overhead() {
		return nil, errors.New("open sealed secret: malformed")
	}
	if !bytes.Equal(raw[:4], b.id[:]) {
		return nil, fmt.Errorf("open sealed secret: it was sealed under another secrets key (id %x, this key is %x)", raw[:4], b.id[:])
	}
	out, err := b.aead.Open(nil, raw[4:4+ns], raw[4+ns:], []byte(context))
	if err != nil {
		return nil, fmt.Errorf("open sealed secret: %w", err)
	}
	return out, nil
}

// Enabled reports whether the box has a key.
func (b *Box) Enabled() bool { return b != nil }
