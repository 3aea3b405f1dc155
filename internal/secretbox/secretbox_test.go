package secretbox_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/secretbox"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets.key")
	box, created, err := secretbox.EnsureKeyFile(path)
	if err != nil || !created {
		t.Fatalf("EnsureKeyFile = %v, %v", created, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}
	again, created, err := secretbox.EnsureKeyFile(path)
	if err != nil || created {
		t.Fatalf("second EnsureKeyFile = %v, %v", created, err)
	}
	clear := []byte("whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0")
	sealed, err := box.Seal(clear, "webhook_secret:acme")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, clear) || !secretbox.IsSealed(sealed) {
		t.Fatalf("sealed form shows the secret: %s", sealed)
	}
	got, err := again.Open(sealed, "webhook_secret:acme")
	if err != nil || !bytes.Equal(got, clear) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := box.Open(sealed, "webhook_secret:other"); err == nil {
		t.Fatal("a value moved to another row opened")
	}
	other, _ := secretbox.New(bytes.Repeat([]byte{7}, 32))
	if _, err := other.Open(sealed, "webhook_secret:acme"); err == nil || !strings.Contains(err.Error(), "another secrets key") {
		t.Fatalf("another key: %v", err)
	}
	var none *secretbox.Box
	if _, err := none.Open(sealed, "webhook_secret:acme"); !errors.Is(err, secretbox.ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
	if v, err := none.Seal(clear, "x"); err != nil || !bytes.Equal(v, clear) {
		t.Fatalf("no key seals nothing: %q %v", v, err)
	}
	if v, err := box.Open(clear, "x"); err != nil || !bytes.Equal(v, clear) {
		t.Fatalf("a clear value opens as is: %q %v", v, err)
	}
}
