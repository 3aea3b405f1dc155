// Package detectors opens the built-in engine's detectors from the installed detector data:
// faces with BlazeFace and persons and vehicles with CenterNet, both on ONNX Runtime, and
// licence plates with OpenCV's plate cascade and the character search of package plates.
package detectors

import (
	"context"
	"errors"
	"fmt"
	"image"
	"path/filepath"
	"runtime"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/anonjob/anonjob/internal/anonymize"
	"github.com/anonjob/anonjob/internal/blazeface"
	"github.com/anonjob/anonjob/internal/centernet"
	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/haar"
	"github.com/anonjob/anonjob/internal/onnxrt"
	"github.com/anonjob/anonjob/internal/plates"
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
	// PersonThreshold and VehicleThreshold are the scores a person or vehicle needs; 0: the
	// defaults of package centernet.
	PersonThreshold, VehicleThreshold float64
	// Threads is the cores one image's detection is spread over; 0: all of them. Each
	// detector splits its work into two runs side by side (see Open), each run on half of
	// them, at least one thread.
	Threads int
}

// Set is an open set of detectors. Close it when done.
type Set struct {
	Detectors anonymize.Detectors
	faces     *blazeface.Detector
	objects   *centernet.Model
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
	// Each detector's work is split into two independent runs side by side (the face
	// pyramid's levels two at a time, the coarse object run beside the finer
	// one, the plate cascade beside the character search), each network run on half of the
	// threads: on 2 cores, two single-threaded runs took a 1080p photo's faces from
	// 0.80-0.97 s to 0.71-0.77 s and faces and plates from 1.21-1.30 s to 0.96-1.23 s against
	// one run on two threads at a time (docs/engine.md).
	perRun := max(1, threads/2)
	faces, err := blazeface.New(cfg.ONNXRuntimeLib, blazeface.Config{Dir: cfg.Dir, Threshold: cfg.FaceThreshold,
		Threads: perRun, Workers: threads})
	if err != nil {
		return nil, fmt.Errorf("face detector: %w", err)
	}
	objects, err := centernet.Open(cfg.ONNXRuntimeLib, cfg.Dir, perRun)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("person and vehicle detector: %w", err), faces.Close())
	}
	objs, err := centernet.NewObjects(objects, centernet.ObjectConfig{
		PersonThreshold: cfg.PersonThreshold, VehicleThreshold: cfg.VehicleThreshold, Workers: threads})
	if err != nil {
		return nil, errors.Join(err, faces.Close(), objects.Close())
	}
	pc := haar.DefaultPlateConfig()
	pc.Dir = cfg.Dir
	// Spreading one image's pyramid over the cores cuts its latency when
	// the queue is short; under load the workers keep them busy anyway.
	pc.Workers = threads
	cascade, err := haar.NewPlateDetector(pc)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("plate detector: %w", err), faces.Close(), objects.Close())
	}
	return &Set{
		Detectors: anonymize.Detectors{Faces: faces, Objects: objs,
			Plates: plateSearches{cascade: cascade, chars: plates.New(plates.Config{}), sideBySide: threads > 1}},
		faces:   faces,
		objects: objects,
	}, nil
}

// Close releases the ONNX Runtime sessions.
func (s *Set) Close() error { return errors.Join(s.faces.Close(), s.objects.Close()) }

// plateSearches runs both plate searches and reports what either finds: the cascade finds
// the plates it was trained on, over the whole image and inside vehicles, and the character
// search (package plates) the plates of other countries over the whole image.
type plateSearches struct {
	cascade    anonymize.PlateDetector
	chars      anonymize.Detector
	sideBySide bool // the two searches of one image at once
}

func (ps plateSearches) Detect(ctx context.Context, img *image.RGBA) ([]detect.Detection, error) {
	var found [2][]detect.Detection
	g, gctx := errgroup.WithContext(ctx)
	if !ps.sideBySide {
		g.SetLimit(1)
	}
	for i, d := range []anonymize.Detector{ps.cascade, ps.chars} {
		g.Go(func() (err error) {
			found[i], err = d.Detect(gctx, img)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return detect.DropContained(slices.Concat(found[:]...)), nil
}

func (ps plateSearches) DetectInVehicles(ctx context.Context, img *image.RGBA, vehicles []image.Rectangle) ([]detect.Detection, error) {
	return ps.cascade.DetectInVehicles(ctx, img, vehicles)
}
