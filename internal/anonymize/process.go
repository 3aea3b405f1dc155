package anonymize

import (
	"context"
	"errors"
	"fmt"
	"image"
	"slices"
	"sort"
	"sync"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/limits"
)

// Detector finds the objects of one class in an upright image.
type Detector interface {
	Detect(ctx context.Context, img *image.RGBA) ([]detect.Detection, error)
}

// Detectors is the detector of each class the pipeline can hide.
type Detectors map[detect.Class]Detector

// Request says what to hide and how.
type Request struct {
	Method  Method
	Faces   bool
	Plates  bool
	Quality int // JPEG quality 1-100; 0 means DefaultQuality
	// Limits bound the image's size and working memory; zero fields are the defaults.
	Limits limits.Image
}

// classes lists the classes r asks for.
func (r Request) classes() []detect.Class {
	var cs []detect.Class
	if r.Faces {
		cs = append(cs, detect.Face)
	}
	if r.Plates {
		cs = append(cs, detect.LicensePlate)
	}
	return cs
}

// DefaultQuality is the JPEG quality used when the request names none.
const DefaultQuality = 90

// Result holds every file produced for one image.
type Result struct {
	Format       Format
	Anonymized   []byte
	BinaryMask   []byte // PNG
	InstanceMask []byte // PNG
	Metadata     []byte // JSON
	Detections   []detect.Detection
	Size         image.Point
}

// Process decodes data, detects, hides and encodes all outputs. Errors
// caused by the input wrap ErrNotImage.
func Process(ctx context.Context, ds Detectors, data []byte, req Request) (*Result, error) {
	if _, ok := ParseMethod(string(req.Method)); !ok {
		return nil, fmt.Errorf("unknown method %q", req.Method)
	}
	q := req.Quality
	if q == 0 {
		q = DefaultQuality
	}
	if q < 1 || q > 100 {
		return nil, fmt.Errorf("quality %d out of range 1-100", q)
	}
	for _, c := range req.classes() {
		if ds[c] == nil {
			return nil, fmt.Errorf("no detector for %s", c)
		}
	}
	_, span := stage(ctx, "decode")
	img, f, err := Decode(data, req.Limits)
	endStage(span, err)
	if err != nil {
		return nil, err
	}
	dctx, span := stage(ctx, "detect")
	dets, err := ds.detect(dctx, img, req.classes())
	endStage(span, err)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	// A stable order makes ids, masks and metadata reproducible.
	sort.SliceStable(dets, func(i, j int) bool {
		a, b := dets[i].Rect.Min, dets[j].Rect.Min
		if a.Y != b.Y {
			return a.Y < b.Y
		}
		return a.X < b.X
	})
	anonymized := req.Method != Detect
	_, span = stage(ctx, "anonymize")
	if anonymized {
		for _, det := range dets {
			apply(img, det.Rect, req.Method)
		}
	}
	span.End()
	_, span = stage(ctx, "encode")
	defer span.End()
	size := img.Rect.Size()
	res := &Result{Format: f, Detections: dets, Size: size}
	if res.Anonymized, err = Encode(img, f, q); err != nil {
		return nil, err
	}
	if res.BinaryMask, err = Encode(binaryMask(size, dets, anonymized), PNG, 0); err != nil {
		return nil, err
	}
	if res.InstanceMask, err = Encode(instanceMask(size, dets), PNG, 0); err != nil {
		return nil, err
	}
	if res.Metadata, err = metadata(size, dets, anonymized); err != nil {
		return nil, err
	}
	return res, nil
}

// detect runs the detectors of classes side by side (each is safe for
// concurrent use) and returns their detections in class order.
func (ds Detectors) detect(ctx context.Context, img *image.RGBA, classes []detect.Class) ([]detect.Detection, error) {
	found := make([][]detect.Detection, len(classes))
	errs := make([]error, len(classes))
	var wg sync.WaitGroup
	for i, c := range classes {
		wg.Go(func() { found[i], errs[i] = ds[c].Detect(ctx, img) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(found...), nil
}
