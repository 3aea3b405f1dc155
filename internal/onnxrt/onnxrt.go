// Package onnxrt runs ONNX models with ONNX Runtime, loaded from its shared
// library at run time (through github.com/yalue/onnxruntime_go, which needs
// cgo). The library and every model are checked against pinned SHA-256 sums
// before use: a different file would silently change what gets detected.
//
// A build without cgo compiles, and every call reports ErrUnavailable.
package onnxrt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Pinned ONNX Runtime: the shared library of the npm package
// onnxruntime-node@1.30.0 (bin/napi-v6/linux/x64/libonnxruntime.so.1).
const (
	Version       = "1.30.0"
	LibraryFile   = "libonnxruntime.so.1"
	LibrarySHA256 = "ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23"
)

// InstallCommand installs the library and the models.
const InstallCommand = "scripts/install-detector-data.sh"

// ErrUnavailable reports a binary built without cgo: ONNX Runtime cannot be
// loaded at all.
var ErrUnavailable = errors.New("this binary was built without cgo (CGO_ENABLED=0), so it cannot load ONNX Runtime " +
	"and has no built-in engine; rebuild it with CGO_ENABLED=1 and a C compiler, or run anonjobd with " +
	"--provider-url pointing at another engine")

// VerifyFile checks that path exists and has the given SHA-256; what names
// the file in errors ("ONNX Runtime library", "face model").
func VerifyFile(path, wantSHA256, what string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s %s is missing; install it with %s: %w", what, path, InstallCommand, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA256 {
		return fmt.Errorf("%s %s has sha256 %s, want %s; reinstall it with %s", what, path, got, wantSHA256, InstallCommand)
	}
	return nil
}

// SessionOptions tune one session.
type SessionOptions struct {
	// Threads is the number of threads one Run may use; 0 means one per
	// core (runtime.GOMAXPROCS).
	Threads int
}

// Output is one output tensor of a Run, copied out of ONNX Runtime.
type Output struct {
	Shape []int64
	Data  []float32
}
