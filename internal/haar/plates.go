package haar

import (
	"context"
	"image"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/limits"
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
	// MinWidth is the smallest plate the whole-image search looks for, in pixels. Smaller
	// plates are searched inside vehicles (DetectInVehicles), where they are: a plate of
	// MinWidth or less belongs to a car far enough off for the object detector to box it.
	MinWidth int
	// DenseStep scans every position at every scale: the default
	// every-other-position scan missed plates of 80-100 px.
	DenseStep bool
	// Grow enlarges each box by these fractions of its width (left, right)
	// and height (top, bottom).
	Grow [4]float64
	// MaxLevelPixels bounds the image the cascade scans: a larger photo is
	// scanned at 1/k of its size (k the smallest integer that fits), so its
	// cost stays that of one of MaxLevelPixels, and plates narrower than
	// k*MinWidth are not searched. 0: no bound.
	MaxLevelPixels int
}

// DefaultPlateConfig is the tuned configuration (see docs/engine.md).
func DefaultPlateConfig() PlateConfig {
	return PlateConfig{
		ScaleFactor:  1.1,
		Workers:      1,
		MinNeighbors: 3,
		// The cascade's cost grows with the inverse square of the smallest plate: from 60 px
		// a 1080p scan took about 1.0 core-s, from 120 px 0.25-0.30 (docs/engine.md).
		MinWidth:  120,
		DenseStep: true,
		Grow:      [4]float64{0.05, 0.05, 0.1, 0.1},
		// 16 MP: a 4896x3264 photo is scanned whole; a 40 MP one at half its
		// size, from plates of 240 px (smaller ones inside its vehicles).
		MaxLevelPixels: limits.PlateLevelPixels,
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
	w, h := img.Rect.Dx(), img.Rect.Dy()
	k := 1
	if maxPx := d.cfg.MaxLevelPixels; maxPx > 0 {
		for (w/k)*(h/k) > maxPx && min(w, h)/(k+1) >= 1 {
			k++
		}
	}
	g := shrinkRGBAGray(img, img.Rect, k)
	mw := d.cfg.MinWidth
	job := Job{Cascade: d.cascade, MinSize: image.Pt(mw, mw*d.cascade.Height/d.cascade.Width),
		MinNeighbors: d.cfg.MinNeighbors, DenseStep: d.cfg.DenseStep}
	groups, err := Run(ctx, g, []Job{job}, Options{ScaleFactor: d.cfg.ScaleFactor, Workers: d.cfg.Workers})
	if err != nil {
		return nil, err
	}
	var out []detect.Detection
	for _, gr := range groups[0] {
		r := image.Rect(gr.Rect.Min.X*k, gr.Rect.Min.Y*k, gr.Rect.Max.X*k, gr.Rect.Max.Y*k)
		out = append(out, detect.Detection{Class: detect.LicensePlate,
			Rect: detect.Grow(r, d.cfg.Grow).Intersect(image.Rect(0, 0, w, h)), Score: score(gr.Neighbors)})
	}
	return detect.DropContained(out), nil
}

// shrinkGray averages g over k x k blocks.
func shrinkGray(g *image.Gray, k int) *image.Gray {
	out := image.NewGray(image.Rect(0, 0, g.Rect.Dx()/k, g.Rect.Dy()/k))
	acc := make([]int, out.Rect.Dx())
	for y := range out.Rect.Dy() {
		averageRows(out.Pix[y*out.Stride:], g.Pix[y*k*g.Stride:], g.Stride, k, acc)
	}
	return out
}

// shrinkRGBAGray is the luma of the r part of img averaged over k x k blocks, as
// shrinkGray(Gray(img.SubImage(r)), k), without holding the full-size luma: it converts k
// rows at a time. A large photo's whole-image search and a large vehicle's crop read it.
func shrinkRGBAGray(img *image.RGBA, r image.Rectangle, k int) *image.Gray {
	if k <= 1 {
		return Gray(img.SubImage(r))
	}
	out := image.NewGray(image.Rect(0, 0, r.Dx()/k, r.Dy()/k))
	rows := image.NewGray(image.Rect(0, 0, r.Dx(), k))
	acc := make([]int, out.Rect.Dx())
	for y := range out.Rect.Dy() {
		lumaRows(rows, img.Pix, img.PixOffset(r.Min.X, r.Min.Y+y*k), img.Stride)
		averageRows(out.Pix[y*out.Stride:], rows.Pix, rows.Stride, k, acc)
	}
	return out
}

// averageRows writes to dst the rounded means of the k x k blocks of the k rows that start at
// src, stride apart; acc, one per block, is scratch space.
func averageRows(dst, src []uint8, stride, k int, acc []int) {
	clear(acc)
	for dy := range k {
		row := src[dy*stride:]
		for x := range acc {
			for _, v := range row[x*k : x*k+k] {
				acc[x] += int(v)
			}
		}
	}
	for x, v := range acc {
		dst[x] = uint8((v + k*k/2) / (k * k))
	}
}

// score maps a neighbour count to (0,1): one cluster of 3 hits is a weak
// detection, 20 hits a confident one.
func score(neighbors int) float64 {
	return float64(neighbors) / float64(neighbors+5)
}
