package detect

import (
	"context"
	"fmt"
	"image"
	"slices"
	"sort"
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
	// FaceAngles also searches the image turned by these angles (degrees):
	// the cascades only find upright faces, and heads tilted over an
	// instrument or a shoulder are common.
	FaceAngles []float64
	// AngleScaleFactor is the pyramid ratio for the turned searches; a
	// coarser ratio than ScaleFactor keeps their cost down.
	AngleScaleFactor float64
	// AngleCascades are the face cascades run on turned images (the
	// mirrored profile cascade counts as ProfileFace).
	AngleCascades []string
	// Plates.
	PlateMinNeighbors int
	PlateMinWidth     int
	PlateDenseStep    bool
	PlateGrow         [4]float64
}

// DefaultConfig is the tuned configuration (see docs/engine.md for the
// measurements behind it).
func DefaultConfig() Config {
	return Config{
		ScaleFactor:       1.1,
		Workers:           1,
		FaceCascades:      []string{FrontalFaceDefault, ProfileFace},
		MirrorProfile:     true,
		FaceMinSize:       20,
		FaceMinNeighbors:  2,
		FaceGrow:          [4]float64{0.25, 0.25, 0.4, 0.3},
		FaceAngles:        []float64{-40, -20, 20, 40},
		AngleScaleFactor:  1.1,
		AngleCascades:     []string{FrontalFaceDefault, ProfileFace},
		PlateMinNeighbors: 3,
		PlateMinWidth:     60,
		PlateDenseStep:    true,
		PlateGrow:         [4]float64{0.05, 0.05, 0.1, 0.1},
	}
}

// Detector finds faces and licence plates. It is safe for concurrent use.
type Detector struct {
	cfg   Config
	faces []*Cascade
	// faceNames[i] is the file faces[i] came from.
	faceNames []string
	plates    *Cascade
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
		d.faceNames = append(d.faceNames, name)
		if name == ProfileFace && cfg.MirrorProfile {
			m, err := c.Mirrored()
			if err != nil {
				return nil, fmt.Errorf("mirror profile cascade: %w", err)
			}
			d.faces = append(d.faces, m)
			d.faceNames = append(d.faceNames, name)
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
		jobs = d.faceJobs()
		for range jobs {
			classes = append(classes, Face)
		}
	}
	if plates {
		mw := d.cfg.PlateMinWidth
		jobs = append(jobs, Job{Cascade: d.plates, MinSize: image.Pt(mw, mw*d.plates.Height/d.plates.Width), MinNeighbors: d.cfg.PlateMinNeighbors, DenseStep: d.cfg.PlateDenseStep})
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
	if faces {
		for _, a := range d.cfg.FaceAngles {
			rot := rotate(g, a)
			sf := d.cfg.AngleScaleFactor
			if sf <= 1 {
				sf = d.cfg.ScaleFactor
			}
			groups, err := Run(ctx, rot.img, d.angleJobs(), Options{ScaleFactor: sf, DenseStep: d.cfg.DenseStep, Workers: d.cfg.Workers, Inside: rot.inside})
			if err != nil {
				return nil, err
			}
			for _, gs := range groups {
				for _, gr := range gs {
					// Grown in the turned frame, so hair and chin are added
					// along the head's own axis, then boxed upright.
					r := rot.sourceBox(grow(gr.Rect, d.cfg.FaceGrow))
					if !r.Empty() {
						faceDets = append(faceDets, Detection{Class: Face, Rect: r, Score: score(gr.Neighbors)})
					}
				}
			}
		}
	}
	return append(mergeOverlapping(faceDets), mergeOverlapping(plateDets)...), nil
}

// angleJobs are the face jobs run on turned images: only the cascades
// named in AngleCascades.
func (d *Detector) angleJobs() []Job {
	var jobs []Job
	for i, j := range d.faceJobs() {
		if slices.Contains(d.cfg.AngleCascades, d.faceNames[i]) {
			jobs = append(jobs, j)
		}
	}
	return jobs
}

func (d *Detector) faceJobs() []Job {
	jobs := make([]Job, len(d.faces))
	for i, c := range d.faces {
		ms := d.cfg.FaceMinSize
		jobs[i] = Job{Cascade: c, MinSize: image.Pt(ms, ms*c.Height/c.Width), MinNeighbors: d.cfg.FaceMinNeighbors}
	}
	return jobs
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

// mergeOverlapping drops detections of one class that lie (almost) inside
// a larger one, so an object found by several cascades or at several
// angles is reported once. Boxes that merely overlap are kept as they
// are: joining them into their union would chain neighbouring faces into
// one box much larger than any of them.
func mergeOverlapping(ds []Detection) []Detection {
	sort.SliceStable(ds, func(i, j int) bool { return area(ds[i].Rect) > area(ds[j].Rect) })
	var out []Detection
	for _, d := range ds {
		inside := false
		for i := range out {
			if 10*area(d.Rect.Intersect(out[i].Rect)) >= 9*area(d.Rect) {
				out[i].Score = max(out[i].Score, d.Score)
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, d)
		}
	}
	return out
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }
