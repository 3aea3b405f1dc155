package haar

import (
	"context"
	"image"

	"github.com/anonjob/anonjob/internal/detect"
)

// PlateConfig tunes the licence-plate search. Start from DefaultPlateConfig.
type PlateConfig struct {
	// Dir holds the cascade file (detect.DefaultDir when empty).
	Dir string
	// ScaleFactor between pyramid levels.
	ScaleFactor float64
	// Workers evaluates this many pyramid levels of one image at once.
	Workers int
	// MinNeighbors is the number of overlapping window hits a plate needs.
	MinNeighbors int
	// MinWidth is the smallest plate searched for, in pixels.
	MinWidth int
	// DenseStep scans every position at every scale: the default
	// every-other-position scan missed plates of 80-100 px.
	DenseStep bool
	// Grow enlarges each box by these fractions of its width (left, right)
	// and height (top, bottom).
	Grow [4]float64
}

// DefaultPlateConfig is the tuned configuration (see docs/engine.md).
func DefaultPlateConfig() PlateConfig {
	return PlateConfig{
		ScaleFactor:  1.1,
		Workers:      1,
		MinNeighbors: 3,
		MinWidth:     60,
		DenseStep:    true,
		Grow:         [4]float64{0.05, 0.05, 0.1, 0.1},
	}
}

// PlateDetector finds licence plates with OpenCV's Russian plate cascade.
// It is safe for concurrent use.
type PlateDetector struct {
	cfg     PlateConfig
	cascade *Cascade
}

// NewPlateDetector loads and verifies the cascade file.
func NewPlateDetector(cfg PlateConfig) (*PlateDetector, error) {
	c, err := LoadCascade(cfg.Dir, RussianPlate)
	if err != nil {
		return nil, err
	}
	return &PlateDetector{cfg: cfg, cascade: c}, nil
}

// Detect finds licence plates in img.
func (d *PlateDetector) Detect(ctx context.Context, img *image.RGBA) ([]detect.Detection, error) {
	g := Gray(img)
	mw := d.cfg.MinWidth
	job := Job{Cascade: d.cascade, MinSize: image.Pt(mw, mw*d.cascade.Height/d.cascade.Width),
		MinNeighbors: d.cfg.MinNeighbors, DenseStep: d.cfg.DenseStep}
	groups, err := Run(ctx, g, []Job{job}, Options{ScaleFactor: d.cfg.ScaleFactor, Workers: d.cfg.Workers})
	if err != nil {
		return nil, err
	}
	var out []detect.Detection
	for _, gr := range groups[0] {
		out = append(out, detect.Detection{Class: detect.LicensePlate,
			Rect: detect.Grow(gr.Rect, d.cfg.Grow).Intersect(g.Rect), Score: score(gr.Neighbors)})
	}
	return detect.DropContained(out), nil
}

// score maps a neighbour count to (0,1): one cluster of 3 hits is a weak
// detection, 20 hits a confident one.
func score(neighbors int) float64 {
	return float64(neighbors) / float64(neighbors+5)
}
