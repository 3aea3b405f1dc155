package anonymize

import (
	"context"
	"fmt"
	"image"
	"sort"

	"github.com/anonjob/anonjob/internal/detect"
)

// Detector finds objects in an upright image. *detect.Detector implements it.
type Detector interface {
	Detect(ctx context.Context, img image.Image, faces, plates bool) ([]detect.Detection, error)
}

// Request says what to hide and how.
type Request struct {
	Method  Method
	Faces   bool
	Plates  bool
	Quality int // JPEG quality 1-100; 0 means DefaultQuality
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
func Process(ctx context.Context, d Detector, data []byte, req Request) (*Result, error) {
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
	img, f, err := Decode(data)
	if err != nil {
		return nil, err
	}
	dets, err := d.Detect(ctx, img, req.Faces, req.Plates)
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
	if anonymized {
		for _, det := range dets {
			apply(img, det.Rect, req.Method)
		}
	}
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
