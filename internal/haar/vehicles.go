package haar

import (
	"context"
	"image"
	"math"

	"github.com/anonjob/anonjob/internal/detect"
	"github.com/anonjob/anonjob/internal/limits"
)

// Inside vehicles, plates are searched closer than over the whole image: each vehicle's box
// (padded a little, since a plate may sit on its edge) is scaled so that the smallest plate
// it may carry fills the cascade's 60x20 window, up for a small vehicle, down for a large
// one. The smallest plate searched is a tenth of the vehicle's width (a plate is about
// 0.52 m on a car 1.8 m wide, seen from the front or the back; from an angle it shrinks with
// the width the car shows) and at least VehicleMinPlateWidth px; the largest is as large as
// the crop.
const (
	VehicleMinPlateWidth = 20
	vehiclePlateShare    = 0.1
	vehiclePad           = 0.05
	// maxVehicleUpscale bounds the upscale of a small vehicle's crop: beyond it bilinear
	// upscaling adds no detail the cascade can use.
	maxVehicleUpscale = 3
)

// DetectInVehicles finds licence plates inside the given vehicle boxes of img, on scaled
// crops. The crops together cost at most what limits.PlateCropPixels scanned from the
// cascade's window size costs: when more vehicles than that are given, every crop's smallest
// plate grows alike.
func (d *PlateDetector) DetectInVehicles(ctx context.Context, img *image.RGBA, vehicles []image.Rectangle) ([]detect.Detection, error) {
	type crop struct {
		r     image.Rectangle
		scale float64
	}
	var crops []crop
	total := 0.0
	for _, v := range vehicles {
		r := detect.Grow(v, [4]float64{vehiclePad, vehiclePad, vehiclePad, vehiclePad}).Intersect(img.Rect)
		if r.Empty() {
			continue
		}
		minPlate := math.Max(VehicleMinPlateWidth, vehiclePlateShare*float64(v.Dx()))
		s := math.Min(maxVehicleUpscale, float64(d.cascade.Width)/minPlate)
		crops = append(crops, crop{r, s})
		total += s * s * float64(r.Dx()*r.Dy())
	}
	shrink := 1.0
	if total > limits.PlateCropPixels {
		shrink = math.Sqrt(limits.PlateCropPixels / total)
	}
	var out []detect.Detection
	for _, c := range crops {
		// A large vehicle's crop, whose smallest plate is k or more times the window, is
		// scanned at 1/k of its size, so that no crop is held larger than it is scanned.
		s := c.scale * shrink
		k := max(1, int(1/s))
		g := shrinkRGBAGray(img, c.r, k)
		minW := roundInt(float64(d.cascade.Width) / (s * float64(k)))
		job := Job{Cascade: d.cascade, MinSize: image.Pt(minW, max(1, minW*d.cascade.Height/d.cascade.Width)),
			MinNeighbors: d.cfg.MinNeighbors, DenseStep: d.cfg.DenseStep}
		groups, err := Run(ctx, g, []Job{job}, Options{ScaleFactor: d.cfg.ScaleFactor, Workers: d.cfg.Workers})
		if err != nil {
			return nil, err
		}
		for _, gr := range groups[0] {
			r := image.Rect(gr.Rect.Min.X*k, gr.Rect.Min.Y*k, gr.Rect.Max.X*k, gr.Rect.Max.Y*k).Add(c.r.Min)
			out = append(out, detect.Detection{Class: detect.LicensePlate,
				Rect: detect.Grow(r, d.cfg.Grow).Intersect(img.Rect), Score: score(gr.Neighbors)})
		}
	}
	return detect.DropContained(out), nil
}
