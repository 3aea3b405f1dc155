package anonymize

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sort"
	"sync"
	"time"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/limits"
)

// Request says what to hide and how.
type Request struct {
	Method   Method
	Faces    bool
	Plates   bool
	Persons  bool
	Vehicles bool
	Quality  int // JPEG quality 1-100; 0 means DefaultQuality
	// Limits bound the image's size and working memory; zero fields are the defaults.
	Limits limits.Image
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
	// Stages are the times of the steps, for logs and benchmarks.
	Stages []Stage
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
	if err := ds.check(req); err != nil {
		return nil, err
	}
	var clock stageClock
	start := time.Now()
	_, span := stage(ctx, "decode")
	img, f, err := Decode(data, req.Limits)
	endStage(span, err)
	if err != nil {
		return nil, err
	}
	clock.add(StageDecode, time.Since(start))
	start = time.Now()
	dctx, span := stage(ctx, "detect")
	dets, err := ds.detect(dctx, img, req, &clock)
	endStage(span, err)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	clock.add(StageDetect, time.Since(start))
	// A total order makes ids, masks and metadata reproducible: the detectors run side by
	// side and finish in any order.
	sort.SliceStable(dets, func(i, j int) bool {
		a, b := dets[i], dets[j]
		switch {
		case a.Rect.Min.Y != b.Rect.Min.Y:
			return a.Rect.Min.Y < b.Rect.Min.Y
		case a.Rect.Min.X != b.Rect.Min.X:
			return a.Rect.Min.X < b.Rect.Min.X
		case a.Class != b.Class:
			return a.Class < b.Class
		case a.Rect.Max.Y != b.Rect.Max.Y:
			return a.Rect.Max.Y < b.Rect.Max.Y
		}
		return a.Rect.Max.X < b.Rect.Max.X
	})
	anonymized := req.Method != Detect
	start = time.Now()
	_, span = stage(ctx, "anonymize")
	if anonymized {
		for _, det := range dets {
			apply(img, det.Rect, req.Method)
		}
	}
	span.End()
	clock.add(StageAnonymize, time.Since(start))
	start = time.Now()
	_, span = stage(ctx, "encode")
	defer span.End()
	size := img.Rect.Size()
	res := &Result{Format: f, Detections: dets, Size: size}
	// The three images are independent and each encoder runs on one core: side by side they
	// take about the time of the largest, not of all three.
	var wg sync.WaitGroup
	var errs [3]error
	wg.Go(func() { res.Anonymized, errs[0] = Encode(img, f, q) })
	wg.Go(func() { res.BinaryMask, errs[1] = Encode(binaryMask(size, dets, anonymized), PNG, 0) })
	wg.Go(func() { res.InstanceMask, errs[2] = Encode(instanceMask(size, dets), PNG, 0) })
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	if res.Metadata, err = metadata(size, dets, anonymized); err != nil {
		return nil, err
	}
	clock.add(StageEncode, time.Since(start))
	res.Stages = clock.stages
	return res, nil
}
