package openapi

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestVendoredViewerIsPinned: the embedded viewer is exactly the pinned release (see
// swaggerui/README.md).
func TestVendoredViewerIsPinned(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"swaggerui/swagger-ui-bundle.js": "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2",
		"swaggerui/swagger-ui.css":       "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d",
	} {
		b, err := viewer.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
			t.Errorf("%s: sha256 %x, want %s", name, sum, want)
		}
	}
}

func TestBuildRefusesAnUnexpectedDocument(t *testing.T) {
	t.Parallel()
	if _, err := Build([]byte(`{"swagger":"2.0","info":{"title":"x","version":"1"},"paths":{}}`)); err == nil {
		t.Fatal("a document without the job routes was accepted")
	}
}
