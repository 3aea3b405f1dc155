package detect

import (
	"context"
	"fmt"
	"image"
)

// Class is what a detection shows.
type Class int

// Detectable classes.
const (
	Face Class = iota + 1
	LicensePlate
)

func (c Class) String() string {
	switch c {
	case Face:
		return "face"
	case LicensePlate:
		return "license_plate"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Detection is one found object, in input image pixels, already enlarged
// to the area that has to be anonymized.
type Detection struct {
	Class Class
	Rect  image.Rectangle
	// Score in (0,1) grows with the number of agreeing raw hits.
	Score float64
}

// Config tunes the detectors. The zero value is not usable; start from
// DefaultConfig.
type Config struct {
	// Dir holds the cascade files (DefaultDir when empty).
	Dir string
	// ScaleFactor between pyramid levels.
	ScaleFactor float64
	// DenseStep scans every pixel position at every scale.
	DenseStep bool
	// Workers evaluates this many pyramid levels of one image at once.
	Workers int
	// Face cascades and their settings.
	FaceCascades     []string
	MirrorProfile    bool // also run the profile cascade mirrored
	FaceMinSize      int  // smallest face window in pixels
	FaceMinNeighbors int
	// FaceGrow enlarges each face box by these fractions of its width
	// (left, right) and height (top, bottom), to cover hair, ears and chin.
	FaceGrow [4]float64
	// Plates.
	PlateMinNeighbors int
	PlateMinWidth     int
	PlateGrow         [4]float64
}

// DefaultConfig is the tuned configuration (see docs/engine.md for the
// measurements behind it).
func DefaultConfig() Config {
	return Config{
		ScaleFactor:       1.1,
		Workers:           1,
		FaceCascades:      []string{FrontalFaceDefault, FrontalFaceAlt2, ProfileFace},
		MirrorProfile:     true,
		FaceMinSize:       20,
		FaceMinNeighbors:  3,
		FaceGrow:          [4]float64{0.2, 0.2, 0.35, 0.25},
		PlateMinNeighbors: 3,
		PlateMinWidth:     60,
		PlateGrow:         [4]float64{0.05, 0.05, 0.1, 0.1},
	}
}

// Detector finds faces and licence plates. It is safe for concurrent use.
type Detector struct {
	cfg    Config
	faces  []*Cascade
	plates *Cascade
}

// New loads and verifies the cascade files named by cfg.
func New(cfg Config) (*Detector, error) {
	d := &Detector{cfg: cfg}
	for _, name := range cfg.FaceCascades {
		c, err := LoadCascade(cfg.Dir, name)
		if err != nil {
			return nil, err
		}
		d.faces = append(d.faces, c)
		if name == ProfileFace && cfg.MirrorProfile {
			m, err := c.Mirrored()
			if err != nil {
				return nil, fmt.Errorf("mirror profile cascade: %w", err)
			}
			d.faces = append(d.faces, m)
		}
	}
	p, err := LoadCascade(cfg.Dir, RussianPlate)
	if err != nil {
		return nil, err
	}
	d.plates = p
	return d, nil
}

// Detect finds the requested classes in img.
func (d *Detector) Detect(ctx context.Context, img image.Image, faces, plates bool) ([]Detection, error) {
	g := Gray(img)
	var jobs []Job
	var classes []Class
	if faces {
		for _, c := range d.faces {
			ms := d.cfg.FaceMinSize
			jobs = append(jobs, Job{Cascade: c, MinSize: image.Pt(ms, ms*c.Height/c.Width), MinNeighbors: d.cfg.FaceMinNeighbors})
			classes = append(classes, Face)
		}
	}
	if plates {
		mw := d.cfg.PlateMinWidth
		jobs = append(jobs, Job{Cascade: d.plates, MinSize: image.Pt(mw, mw*d.plates.Height/d.plates.Width), MinNeighbors: d.cfg.PlateMinNeighbors})
		classes = append(classes, LicensePlate)
	}
	if len(jobs) == 0 {
		return nil, nil
	}
	groups, err := Run(ctx, g, jobs, Options{ScaleFactor: d.cfg.ScaleFactor, DenseStep: d.cfg.DenseStep, Workers: d.cfg.Workers})
	if err != nil {
		return nil, err
	}
	bounds := g.Rect
	var faceDets, plateDets []Detection
	for j, gs := range groups {
		for _, gr := range gs {
			switch classes[j] {
			case Face:
				faceDets = append(faceDets, Detection{Class: Face, Rect: grow(gr.Rect, d.cfg.FaceGrow).Intersect(bounds), Score: score(gr.Neighbors)})
			case LicensePlate:
				plateDets = append(plateDets, Detection{Class: LicensePlate, Rect: grow(gr.Rect, d.cfg.PlateGrow).Intersect(bounds), Score: score(gr.Neighbors)})
			}
		}
	}
	return append(mergeOverlapping(faceDets), mergeOverlapping(plateDets)...), nil
}

// score maps a neighbour count to (0,1): one cluster of 3 hits is a weak
// detection, 20 hits a confident one.
func score(neighbors int) float64 {
	return float64(neighbors) / float64(neighbors+5)
}

// grow enlarges r by fractions of its size: left, right, top, bottom.
func grow(r image.Rectangle, f [4]float64) image.Rectangle {
	w, h := float64(r.Dx()), float64(r.Dy())
	return image.Rect(
		r.Min.X-roundInt(w*f[0]), r.Min.Y-roundInt(h*f[2]),
		r.Max.X+roundInt(w*f[1]), r.Max.Y+roundInt(h*f[3]),
	)
}

// mergeOverlapping joins detections of one class found by several cascades
// (or twice by one) into their union, so one object is reported once. Two
// boxes are joined when their overlap covers half of the smaller one.
func mergeOverlapping(ds []Detection) []Detection {
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(ds) && !changed; i++ {
			for j := i + 1; j < len(ds); j++ {
				a, b := ds[i].Rect, ds[j].Rect
				inter := area(a.Intersect(b))
				if inter == 0 || 2*inter < min(area(a), area(b)) {
					continue
				}
				ds[i].Rect = a.Union(b)
				ds[i].Score = max(ds[i].Score, ds[j].Score)
				ds = append(ds[:j], ds[j+1:]...)
				changed = true
				break
			}
		}
	}
	return ds
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }
