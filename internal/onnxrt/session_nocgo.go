//go:build !cgo

package onnxrt

import "context"

// Init reports ErrUnavailable: ONNX Runtime needs cgo.
func Init(string) error { return ErrUnavailable }

// Session cannot exist without cgo.
type Session struct{}

// NewSession reports ErrUnavailable.
func NewSession(string, string, string, []string, []string, SessionOptions) (*Session, error) {
	return nil, ErrUnavailable
}

// Run reports ErrUnavailable.
func (*Session) Run(context.Context, []int64, []float32) ([]Output, error) {
	return nil, ErrUnavailable
}

// Close does nothing.
func (*Session) Close() error { return nil }

// Stopped is always false: nothing runs.
func Stopped(error) bool { return false }

// Available reports whether this binary can load ONNX Runtime: not without cgo.
func Available() bool { return false }
