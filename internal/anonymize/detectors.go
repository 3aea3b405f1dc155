package anonymize

import (
	"context"
	"errors"
	"image"
	"slices"
	"sync"
	"time"

	"github.com/anonjob/anonjob/internal/detect"
)

// Detector finds objects in an upright image.
type Detector interface {
	Detect(ctx context.Context, img *image.RGBA) ([]detect.Detection, error)
}

// PlateDetector finds licence plates over the whole image (Detect) and, closer, inside the
// boxes of the vehicles found in it.
type PlateDetector interface {
	Detector
	DetectInVehicles(ctx context.Context, img *image.RGBA, vehicles []image.Rectangle) ([]detect.Detection, error)
}

// ObjectDetector finds persons and vehicles (classes detect.Person and detect.Vehicle) in one
// pass. small asks for small ones too, at a cost; the plate search alone does not need them:
// a vehicle too small for the coarse pass carries a plate too small to search.
type ObjectDetector interface {
	DetectObjects(ctx context.Context, img *image.RGBA, small bool) ([]detect.Detection, error)
}

// Detectors are what the pipeline detects with. Each is safe for concurrent use; a nil one
// cannot be asked for.
type Detectors struct {
	Faces Detector
	// Objects runs once per image for persons, vehicles and the plate search alike.
	Objects ObjectDetector
	// Plates are searched over the whole image and inside every vehicle Objects finds.
	Plates PlateDetector
}

// Stage is the time one step of Process took. Stages that run side by side overlap.
type Stage struct {
	Name     string
	Duration time.Duration
}

// Stage names, in Result.Stages.
const (
	StageDecode          = "decode"
	StageFaces           = "faces"
	StageObjects         = "objects"
	StagePlates          = "plates"
	StagePlatesInVehicle = "plates_in_vehicles"
	StageDetect          = "detect" // all of detection, wall clock
	StageAnonymize       = "anonymize"
	StageEncode          = "encode"
)

func (ds Detectors) check(r Request) error {
	var errs []error
	if r.Faces && ds.Faces == nil {
		errs = append(errs, errors.New("no detector for face"))
	}
	if (r.Persons || r.Vehicles) && ds.Objects == nil {
		errs = append(errs, errors.New("no detector for person and vehicle"))
	}
	if r.Plates && ds.Plates == nil {
		errs = append(errs, errors.New("no detector for license_plate"))
	}
	return errors.Join(errs...)
}

// detect runs what r asks for side by side: faces; plates over the whole image; persons and
// vehicles, then plates inside the vehicles. The object pass runs when any of persons,
// vehicles or plates is asked for, once.
func (ds Detectors) detect(ctx context.Context, img *image.RGBA, r Request, stages *stageClock) ([]detect.Detection, error) {
	var (
		found  findings
		plates findings
		wg     sync.WaitGroup
	)
	timed := func(name string, f func() ([]detect.Detection, error)) ([]detect.Detection, error) {
		start := time.Now()
		d, err := f()
		stages.add(name, time.Since(start))
		return d, err
	}
	// Plates of both searches are merged at the end; their errors count with the others.
	addPlates := func(d []detect.Detection, err error) {
		plates.add(d, nil)
		found.add(nil, err)
	}
	if r.Faces {
		wg.Go(func() {
			found.add(timed(StageFaces, func() ([]detect.Detection, error) { return ds.Faces.Detect(ctx, img) }))
		})
	}
	if r.Plates {
		wg.Go(func() {
			addPlates(timed(StagePlates, func() ([]detect.Detection, error) { return ds.Plates.Detect(ctx, img) }))
		})
	}
	if ds.Objects != nil && (r.Persons || r.Vehicles || r.Plates) {
		wg.Go(func() {
			objs, err := timed(StageObjects, func() ([]detect.Detection, error) { return ds.Objects.DetectObjects(ctx, img, r.Persons || r.Vehicles) })
			if err != nil {
				found.add(nil, err)
				return
			}
			keep, vehicles := r.wanted(objs)
			found.add(keep, nil)
			if r.Plates && len(vehicles) > 0 {
				addPlates(timed(StagePlatesInVehicle, func() ([]detect.Detection, error) {
					return ds.Plates.DetectInVehicles(ctx, img, vehicles)
				}))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(found.errs...); err != nil {
		return nil, err
	}
	// A plate found by both searches is reported once.
	found.sets = append(found.sets, detect.DropContained(slices.Concat(plates.sets...)))
	return slices.Concat(found.sets...), nil
}

// wanted splits the object pass's detections into those r asks for and the boxes of all
// vehicles, which the plate search looks into whether or not vehicles are asked for.
func (r Request) wanted(objs []detect.Detection) (keep []detect.Detection, vehicles []image.Rectangle) {
	for _, o := range objs {
		switch o.Class {
		case detect.Person:
			if r.Persons {
				keep = append(keep, o)
			}
		case detect.Vehicle:
			vehicles = append(vehicles, o.Rect)
			if r.Vehicles {
				keep = append(keep, o)
			}
		}
	}
	return keep, vehicles
}

// findings collects what detectors running side by side find, and their errors.
type findings struct {
	mu   sync.Mutex
	sets [][]detect.Detection
	errs []error
}

// add keeps what one detector found and its error.
func (f *findings) add(d []detect.Detection, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, d)
	f.errs = append(f.errs, err)
}

// stageClock collects stage times from concurrent detectors.
type stageClock struct {
	mu     sync.Mutex
	stages []Stage
}

func (c *stageClock) add(name string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stages = append(c.stages, Stage{Name: name, Duration: d})
}

// run runs f as the stage name, in a trace span of that name, and records its time when it
// succeeds.
func (c *stageClock) run(ctx context.Context, name string, f func(context.Context) error) error {
	start := time.Now()
	sctx, span := stage(ctx, name)
	err := f(sctx)
	endStage(span, err)
	if err == nil {
		c.add(name, time.Since(start))
	}
	return err
}
