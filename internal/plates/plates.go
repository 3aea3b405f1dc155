// Package plates finds licence plates by the look every plate shares: a bright panel crossed
// by a row of dark characters, whose strokes make dense vertical edges in a band that is
// quiet above and below. It needs no trained model, so it finds the plates of any country
// with dark characters on a light ground, which OpenCV's Russian plate cascade mostly misses
// (on the engine's labelled set the cascade alone covers 7 of 34 plates).
//
// The search runs a pyramid of the grey image. On each level, windows of a few plate
// heights and shapes are scored with integral images (edge density in the character band
// against the margins above and below it), the best window of each cluster is kept, and
// each is then checked on its pixels: enough contrast, a light ground, and character-sized
// dark runs along its middle.
package plates

import (
	"context"
	"image"
	"math"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/limits"
)

// Config tunes the search. The zero value is the tuned default.
type Config struct {
	// MinHeight is the height of the smallest plate searched for, in pixels; 0: 8 (a plate
	// of about 20x8 px, whose characters are still strokes).
	MinHeight int
	// MaxLevelPixels bounds the finest level: a larger image is searched at a scale that
	// fits, and plates smaller than MinHeight at that scale are not searched; 0:
	// limits.PlateLevelPixels.
	MaxLevelPixels int
}

// Detector finds licence plates. It is safe for concurrent use.
type Detector struct {
	minHeight int
	maxPixels int
}

// New returns a detector for cfg.
func New(cfg Config) *Detector {
	d := &Detector{minHeight: cfg.MinHeight, maxPixels: cfg.MaxLevelPixels}
	if d.minHeight <= 0 {
		d.minHeight = defaultMinHeight
	}
	if d.maxPixels <= 0 {
		d.maxPixels = limits.PlateLevelPixels
	}
	return d
}

const defaultMinHeight = 8

// levelStep is the scale between pyramid levels: each level searches plate heights from
// baseHeight to levelStep times that, so neighbouring levels overlap a little.
const levelStep = 1.6

// maxShare bounds the largest plate searched to a sixth of the image's height: a plate
// closer to the camera than that fills most of the photo's width.
const maxShare = 6

// maxHeight is the tallest plate searched, in image pixels: larger plates are the cascade's,
// which finds them all on the labelled set, while the character search's windows grow over
// walls and windows as they grow.
const maxHeight = 48

// grow widens a found plate a little: the window is scored on its characters, and a plate's
// border and country strip reach beyond them.
var grow = [4]float64{0.04, 0.04, 0.1, 0.1}

// Detect finds the plates of img.
func (d *Detector) Detect(ctx context.Context, img *image.RGBA) ([]detect.Detection, error) {
	b := img.Rect
	if b.Empty() {
		return nil, nil
	}
	g := grey(img, b)
	// The finest level shows a MinHeight plate baseHeight pixels tall, unless that level
	// would hold more than maxPixels; it is never larger than the image.
	first := math.Min(1, baseHeight/float64(d.minHeight))
	if px := float64(b.Dx()*b.Dy()) * first * first; px > float64(d.maxPixels) {
		first = math.Sqrt(float64(d.maxPixels) / float64(b.Dx()*b.Dy()))
	}
	var found []candidate
	for f := first; f*maxHeight >= baseHeight; f /= levelStep {
		w, h := int(float64(b.Dx())*f), int(float64(b.Dy())*f)
		if h < baseHeight*maxShare || w < baseHeight*maxShare {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cs, err := scanLevel(ctx, resample(g, w, h))
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			found = append(found, candidate{rect: toImage(c.rect, b.Min, f), band: toImage(c.band, b.Min, f), score: c.score})
		}
	}
	var out []detect.Detection
	for _, c := range joinLines(found) {
		out = append(out, detect.Detection{Class: detect.LicensePlate, Rect: detect.Grow(c.rect, grow).Intersect(b), Score: c.score})
	}
	return detect.DropContained(nms(out)), nil
}

// toImage maps r on a level of scale f back to the image, whose origin is at.
func toImage(r image.Rectangle, at image.Point, f float64) image.Rectangle {
	return image.Rect(int(math.Floor(float64(r.Min.X)/f)), int(math.Floor(float64(r.Min.Y)/f)),
		int(math.Ceil(float64(r.Max.X)/f)), int(math.Ceil(float64(r.Max.Y)/f))).Add(at)
}

// nms keeps the best of plates found on more than one level.
func nms(ds []detect.Detection) []detect.Detection {
	var out []detect.Detection
	for _, d := range byScore(ds, func(d detect.Detection) float64 { return d.Score }) {
		keep := true
		for _, k := range out {
			if iou(d.Rect, k.Rect) > 0.3 {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, d)
		}
	}
	return out
}

func iou(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	i := float64(in.Dx() * in.Dy())
	if i == 0 {
		return 0
	}
	return i / (float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - i)
}
