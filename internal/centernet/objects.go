package centernet

import (
	"context"
	"fmt"
	"image"
	"math"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/limits"
)

// Default score thresholds. CenterNet's heatmap peaks are lower than a classifier's scores: a
// clearly visible person scores 0.5-0.85, one half hidden or small 0.15-0.4. Measured on the
// person and vehicle set (internal/testimages/objects, 38 persons, 30 vehicles): persons
// 0.25 -> recall 0.868 (50 boxes), 0.20 -> 0.895 (62), 0.17 -> 0.947 (80), 0.15 -> 0.947 (99);
// vehicles 0.25 -> 0.933, 0.20 -> 0.967, 0.15 -> 0.967. They lean towards masking, as
// everywhere in the engine.
const (
	DefaultPersonThreshold  = 0.17
	DefaultVehicleThreshold = 0.2
)

// VehicleClasses are the COCO classes that count as a vehicle.
var VehicleClasses = []int{COCOBicycle, COCOCar, COCOMotorcycle, COCOBus, COCOTruck}

// ObjectConfig tunes the person and vehicle search.
type ObjectConfig struct {
	// PersonThreshold and VehicleThreshold are the scores a box needs; 0: the defaults.
	PersonThreshold, VehicleThreshold float64
	// Workers is the number of network runs of one image at once: with 2 or more the coarse
	// and the finer run go side by side. 0 or 1: one after the other.
	Workers int
}

// Objects finds persons and vehicles: one network pass per image, shared by both classes
// (and by the plate search, which looks inside the vehicles). It is safe for concurrent use.
type Objects struct {
	m   *Model
	cfg ObjectConfig
}

// NewObjects uses m with cfg; a threshold outside (0, 1) is an error.
func NewObjects(m *Model, cfg ObjectConfig) (*Objects, error) {
	if cfg.PersonThreshold == 0 {
		cfg.PersonThreshold = DefaultPersonThreshold
	}
	if cfg.VehicleThreshold == 0 {
		cfg.VehicleThreshold = DefaultVehicleThreshold
	}
	for _, t := range []struct {
		name string
		v    float64
	}{{"person", cfg.PersonThreshold}, {"vehicle", cfg.VehicleThreshold}} {
		if t.v <= 0 || t.v >= 1 {
			return nil, fmt.Errorf("%s threshold %v is outside (0, 1)", t.name, t.v)
		}
	}
	return &Objects{m: m, cfg: cfg}, nil
}

// FineSide is the longer side up to which the finer pass runs an image larger than MaxSide:
// 1080p at three quarters of its size, a 24 MP photo at about a quarter. On the
// 1920x1080 collage of the face set it puts every face inside a person box from 1440 px at
// the thresholds 0.17 and 0.25 (from 1280 px at 0.17 only), with 0.57 times the pixels of a
// run at 1920x1088. One run, not tiles: a run costs less than tiles of the same area
// (1920x1088 took 3.4 times a 1024x576 run, six 1024x1024 tiles 9.6 times), and it fits
// limits.ObjectRunPixels, which bounds ONNX Runtime's arena.
const FineSide = 1440

// The build fails when a fine run could outgrow limits.ObjectRunPixels, or a coarse one
// limits.CoarseRunPixels.
const (
	_ uint = limits.ObjectRunPixels - FineSide*FineSide
	_ uint = limits.CoarseRunPixels - MaxSide*MaxSide
)

// grow enlarges boxes a little: the network's box is tight around the object, and a box must
// be masked whole to count as hidden.
var grow = [4]float64{0.04, 0.04, 0.04, 0.04}

// DetectObjects finds the persons and vehicles of img (classes detect.Person and
// detect.Vehicle); small adds the finer pass over images larger than MaxSide.
//
// The whole image is run once scaled to a longer side of MaxSide (people filling the frame
// stay within the sizes the network saw in training). A larger image is also run finer (see
// FineSide), where the small people that squashing loses are found: on the 1920x1080 collage
// of the face set, the squashed run alone put 19 of its 27 faces inside a person box at
// threshold 0.25 (26 at the default 0.17), with the finer pass all 27.
func (o *Objects) DetectObjects(ctx context.Context, img *image.RGBA, small bool) ([]detect.Detection, error) {
	b := img.Bounds()
	if b.Empty() {
		return nil, nil
	}
	min := math.Min(o.cfg.PersonThreshold, o.cfg.VehicleThreshold)
	classes := append([]int{COCOPerson}, VehicleClasses...)
	sides := []float64{MaxSide}
	if small && max(b.Dx(), b.Dy()) > MaxSide {
		sides = append(sides, FineSide)
	}
	// The boxes of each run, in the order of sides whichever way the runs went; an error of
	// one run stops the other.
	runs := make([][]Box, len(sides))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, o.cfg.Workers))
	for i, side := range sides {
		g.Go(func() (err error) {
			runs[i], err = o.run(gctx, img, side, min, classes)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	boxes := slices.Concat(runs...)
	var out []detect.Detection
	for _, bx := range boxes {
		c, th := detect.Vehicle, o.cfg.VehicleThreshold
		if bx.Class == COCOPerson {
			c, th = detect.Person, o.cfg.PersonThreshold
		}
		if bx.Score < th {
			continue
		}
		r := image.Rect(int(math.Floor(bx.X1)), int(math.Floor(bx.Y1)), int(math.Ceil(bx.X2)), int(math.Ceil(bx.Y2)))
		r = detect.Grow(r, grow).Intersect(b)
		if r.Empty() {
			continue
		}
		out = append(out, detect.Detection{Class: c, Rect: r, Score: bx.Score})
	}
	return Merge(out), nil
}

// run is one network pass over the whole image at a longer side of up to side; the boxes are
// in image pixels.
func (o *Objects) run(ctx context.Context, img *image.RGBA, side, minScore float64, classes []int) ([]Box, error) {
	b := img.Bounds()
	scale := math.Min(1, side/float64(max(b.Dx(), b.Dy())))
	w, h := max(32, roundUp32(float64(b.Dx())*scale)), max(32, roundUp32(float64(b.Dy())*scale))
	hd, err := o.m.Run(ctx, InputRGBA(img, b, w, h), w, h)
	if err != nil {
		return nil, err
	}
	sx, sy := float64(b.Dx())/float64(w), float64(b.Dy())/float64(h)
	var boxes []Box
	for _, bx := range Decode(hd, minScore, classes) {
		bx.X1 = float64(b.Min.X) + bx.X1*sx
		bx.X2 = float64(b.Min.X) + bx.X2*sx
		bx.Y1 = float64(b.Min.Y) + bx.Y1*sy
		bx.Y2 = float64(b.Min.Y) + bx.Y2*sy
		boxes = append(boxes, bx)
	}
	return boxes, nil
}

func roundUp32(v float64) int { return int(math.Ceil(v/32)) * 32 }

// Merge keeps one box per object. Per class, best score first: a box lying (almost) inside
// one already kept is dropped; one overlapping a kept box by IoU 0.5 or more widens it to
// their union, since the coarse and the fine run box one object a little differently.
// Vehicle classes are one class here, so a car also seen as a truck is one vehicle.
func Merge(ds []detect.Detection) []detect.Detection {
	slices.SortStableFunc(ds, func(a, b detect.Detection) int { return cmpDesc(a.Score, b.Score) })
	var out []detect.Detection
	for _, d := range ds {
		keep := true
		for i, k := range out {
			if k.Class != d.Class {
				continue
			}
			inter := area(d.Rect.Intersect(k.Rect))
			if 10*inter >= 9*area(d.Rect) {
				keep = false
				break
			}
			if 2*inter >= area(d.Rect)+area(k.Rect)-inter {
				out[i].Rect = k.Rect.Union(d.Rect)
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

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }

// InputRGBA scales the src part of img to w x h (nearest pixel, as Input) as the network's
// input, reading the pixels directly.
func InputRGBA(img *image.RGBA, src image.Rectangle, w, h int) []float32 {
	out := make([]float32, w*h*3)
	xs := make([]int, w)
	for x := range w {
		xs[x] = (src.Min.X + x*src.Dx()/w - img.Rect.Min.X) * 4
	}
	i := 0
	for y := range h {
		row := img.Pix[(src.Min.Y+y*src.Dy()/h-img.Rect.Min.Y)*img.Stride:]
		for _, o := range xs {
			p := row[o : o+3]
			out[i], out[i+1], out[i+2] = float32(p[0]), float32(p[1]), float32(p[2])
			i += 3
		}
	}
	return out
}
