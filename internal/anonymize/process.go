package anonymize

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sort"
	"sync"

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
	q, err := ds.validate(req)
	if err != nil {
		return nil, err
	}
	var (
		clock stageClock
		img   *image.RGBA
		f     Format
		dets  []detect.Detection
		res   *Result
	)
	if err := clock.run(ctx, StageDecode, func(context.Context) (err error) {
		img, f, err = Decode(data, req.Limits)
		return err
	}); err != nil {
		return nil, err
	}
	if err := clock.run(ctx, StageDetect, func(ctx context.Context) (err error) {
		dets, err = ds.detect(ctx, img, req, &clock)
		return err
	}); err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	sortDetections(dets)
	anonymized := req.Method != Detect
	// The masks need only the boxes: they are encoded while the image is hidden, which
	// for most boxes runs on one core (only large regions spread over more).
	masks := encodeMasks(img.Rect.Size(), dets, anonymized)
	_ = clock.run(ctx, StageAnonymize, func(context.Context) error {
		if anonymized {
			for _, det := range dets {
				apply(img, det.Rect, req.Method)
			}
		}
		return nil
	})
	if err := clock.run(ctx, StageEncode, func(context.Context) (err error) {
		res, err = encode(img, f, q, dets, anonymized, masks)
		return err
	}); err != nil {
		return nil, err
	}
	res.Stages = clock.stages
	return res, nil
}

// validate checks what the request asks for against the detectors and returns the JPEG
// quality to encode with.
func (ds Detectors) validate(req Request) (quality int, err error) {
	if _, ok := ParseMethod(string(req.Method)); !ok {
		return 0, fmt.Errorf("unknown method %q", req.Method)
	}
	q := req.Quality
	if q == 0 {
		q = DefaultQuality
	}
	if q < 1 || q > 100 {
		return 0, fmt.Errorf("quality %d out of range 1-100", q)
	}
	return q, ds.check(req)
}

// sortDetections puts dets in a total order, which makes ids, masks and metadata
// reproducible: the detectors run side by side and finish in any order.
func sortDetections(dets []detect.Detection) {
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
}

// maskJob is the two masks being encoded; they are ready once wg is done.
type maskJob struct {
	wg               sync.WaitGroup
	binary, instance []byte
	binErr, instErr  error
}

// encodeMasks starts encoding both masks of dets, each on its own goroutine.
func encodeMasks(size image.Point, dets []detect.Detection, anonymized bool) *maskJob {
	m := &maskJob{}
	m.wg.Go(func() { m.binary, m.binErr = encodeMask("binary mask", binaryMask(size, dets, anonymized)) })
	m.wg.Go(func() { m.instance, m.instErr = encodeMask("instance mask", instanceMask(size, dets)) })
	return m
}

// encode writes every output of the hidden img: the image in its own format f at quality q,
// the masks being encoded, and the metadata.
func encode(img *image.RGBA, f Format, q int, dets []detect.Detection, anonymized bool, masks *maskJob) (*Result, error) {
	size := img.Rect.Size()
	res := &Result{Format: f, Detections: dets, Size: size}
	var imgErr error
	res.Anonymized, imgErr = Encode(img, f, q)
	masks.wg.Wait()
	res.BinaryMask, res.InstanceMask = masks.binary, masks.instance
	if err := errors.Join(imgErr, masks.binErr, masks.instErr); err != nil {
		return nil, err
	}
	var err error
	if res.Metadata, err = metadata(size, dets, anonymized); err != nil {
		return nil, err
	}
	return res, nil
}
