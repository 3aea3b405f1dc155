//go:build !cgo

package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/onnxrt"
)

// TestNoCgo: without cgo the engine refuses to start and says where to go.
func TestNoCgo(t *testing.T) {
	t.Parallel()
	_, err := New(context.Background(), Config{DataDir: t.TempDir(), Username: "u", Password: "p", PublicURL: "http://engine.invalid"})
	if !errors.Is(err, onnxrt.ErrUnavailable) || !strings.Contains(err.Error(), "--provider-url") {
		t.Fatalf("New without cgo: %v", err)
	}
}
