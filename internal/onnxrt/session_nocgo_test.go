//go:build !cgo

package onnxrt

import (
	"errors"
	"strings"
	"testing"
)

func TestNoCgo(t *testing.T) {
	t.Parallel()
	err := Init("/usr/local/share/anonjob/detectors/" + LibraryFile)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "--provider-url") {
		t.Fatalf("Init without cgo: %v, want ErrUnavailable naming --provider-url", err)
	}
	if _, err := NewSession("m.onnx", "", "face model", nil, nil, SessionOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("NewSession without cgo: %v", err)
	}
}
