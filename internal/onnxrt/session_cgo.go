//go:build cgo

package onnxrt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// env is the process's ONNX Runtime environment. ONNX Runtime allows one per
// process and onnxruntime_go keeps it in its own globals, so this is the one
// place that state can be guarded.
var env struct {
	mu   sync.Mutex
	path string // the library loaded, empty before the first Init
}

// Init loads the ONNX Runtime library at path, after checking it against
// LibrarySHA256, and creates the process's environment. Later calls with
// the same path return at once; another path is refused, since a process
// loads the library only once.
func Init(path string) error {
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.path != "" && sameFile(env.path, path) {
		return nil
	}
	if err := VerifyFile(path, LibrarySHA256, "ONNX Runtime library"); err != nil {
		return err
	}
	if env.path != "" {
		return fmt.Errorf("ONNX Runtime is already loaded from %s; this process cannot load %s as well", env.path, path)
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("ONNX Runtime library %s: %w", path, err)
	}
	env.path = path
	return nil
}

// sameFile reports whether a and b name one file, however they are spelled.
func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// Session is one loaded model. Run is safe for concurrent use: ONNX Runtime
// runs one session from many threads, sharing its weights.
type Session struct {
	s       *ort.DynamicAdvancedSession
	outputs int
}

// NewSession loads the model at path, after checking it against wantSHA256.
// Init must have succeeded first.
func NewSession(path, wantSHA256, what string, inputs, outputs []string, o SessionOptions) (*Session, error) {
	if err := VerifyFile(path, wantSHA256, what); err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer func() { _ = opts.Destroy() }()
	threads := o.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if err := errors.Join(
		opts.SetIntraOpNumThreads(threads),
		opts.SetInterOpNumThreads(1),
		// Busy-waiting threads would take the cores from the Go code that
		// decodes, blurs and encodes between two runs.
		opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"),
		// A memory pattern is planned for one input shape; the models here
		// see a new shape with every pyramid level.
		opts.SetMemPattern(false),
	); err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	s, err := ort.NewDynamicAdvancedSession(path, inputs, outputs, opts)
	if err != nil {
		return nil, fmt.Errorf("%s %s does not load (reinstall it with %s): %w", what, path, InstallCommand, err)
	}
	return &Session{s: s, outputs: len(outputs)}, nil
}

// Run feeds one float32 input of the given shape and returns every output.
// A cancelled ctx stops the run early.
func (s *Session) Run(ctx context.Context, shape []int64, data []float32) ([]Output, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in, err := ort.NewTensor(ort.NewShape(shape...), data)
	if err != nil {
		return nil, fmt.Errorf("input tensor: %w", err)
	}
	defer func() { _ = in.Destroy() }()
	ro, err := ort.NewRunOptions()
	if err != nil {
		return nil, fmt.Errorf("run options: %w", err)
	}
	defer func() { _ = ro.Destroy() }()
	terminated := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(terminated)
		_ = ro.Terminate()
	})
	outs := make([]ort.Value, s.outputs)
	err = s.s.RunWithOptions([]ort.Value{in}, outs, ro)
	if !stop() {
		// Terminate has started: wait for it before ro is destroyed, and report the
		// cancellation, with ONNX Runtime's words when it cut the run short.
		<-terminated
		if err != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), errStopped{err})
		} else {
			err = ctx.Err()
		}
	}
	defer func() {
		for _, v := range outs {
			if v != nil {
				_ = v.Destroy()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	res := make([]Output, len(outs))
	for i, v := range outs {
		t, ok := v.(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("output %d is %T, want a float32 tensor", i, v)
		}
		// onnxruntime_go (v1.27.0, createTensorWithCData) has already copied the output
		// into Go memory, which the tensor only wraps: Destroy releases the wrapper and the
		// slice stays valid, so a second copy would buy nothing. Recheck on an upgrade.
		res[i] = Output{Shape: t.GetShape(), Data: t.GetData()}
	}
	return res, nil
}

// errStopped is ONNX Runtime's answer to a run it stopped on Terminate.
type errStopped struct{ err error }

func (e errStopped) Error() string { return "stopped: " + e.err.Error() }

// Stopped reports whether err says that ONNX Runtime cut a run short because its context
// ended, rather than the run finishing first.
func Stopped(err error) bool {
	var s errStopped
	return errors.As(err, &s)
}

// Close releases the model.
func (s *Session) Close() error { return s.s.Destroy() }

// Available reports whether this binary can load ONNX Runtime: it was built with cgo.
func Available() bool { return true }
