// Package detectors opens the built-in engine's detectors, one per class,
// from the installed detector data: faces with BlazeFace on ONNX Runtime,
// licence plates with OpenCV's plate cascade.
package detectors

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/anonjob/anonjob/internal/anonymize"
	"github.com/anonjob/anonjob/internal/blazeface"
	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/haar"
	"github.com/anonjob/anonjob/internal/onnxrt"
)

// Config says where the detector data is and how to run it. The zero value
// uses the installed defaults.
type Config struct {
	// Dir holds the models and cascades; empty: detect.DefaultDir.
	Dir string
	// ONNXRuntimeLib is ONNX Runtime's shared library; empty:
	// Dir/libonnxruntime.so.1.
	ONNXRuntimeLib string
	// FaceThreshold is the score a face needs; 0: blazeface.DefaultThreshold.
	FaceThreshold float64
	// Threads bounds the cores one image's detection uses; 0: all of them.
	Threads int
}

// Set is an open set of detectors. Close it when done.
type Set struct {
	Detectors anonymize.Detectors
	faces     *blazeface.Detector
}

// Open loads and verifies every detector. Errors name the missing or
// altered file and the install script.
func Open(cfg Config) (*Set, error) {
	if cfg.Dir == "" {
		cfg.Dir = detect.DefaultDir
	}
	if cfg.ONNXRuntimeLib == "" {
		cfg.ONNXRuntimeLib = filepath.Join(cfg.Dir, onnxrt.LibraryFile)
	}
	threads := cfg.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	faces, err := blazeface.New(cfg.ONNXRuntimeLib, blazeface.Config{Dir: cfg.Dir, Threshold: cfg.FaceThreshold, Threads: threads})
	if err != nil {
		return nil, fmt.Errorf("face detector: %w", err)
	}
	pc := haar.DefaultPlateConfig()
	pc.Dir = cfg.Dir
	// Spreading one image's pyramid over the cores cuts its latency when
	// the queue is short; under load the workers keep them busy anyway.
	pc.Workers = threads
	plates, err := haar.NewPlateDetector(pc)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("plate detector: %w", err), faces.Close())
	}
	return &Set{
		Detectors: anonymize.Detectors{detect.Face: faces, detect.LicensePlate: plates},
		faces:     faces,
	}, nil
}

// Close releases the ONNX Runtime sessions.
func (s *Set) Close() error { return s.faces.Close() }
