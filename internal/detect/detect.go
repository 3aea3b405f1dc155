// Package detect holds what every detector of the built-in engine returns:
// scored boxes of a class, in the pixels of the upright input image, already
// grown to the area that has to be anonymized. The detectors themselves live
// in their own packages (blazeface for faces, centernet for persons and vehicles,
// haar for licence plates).
package detect

import (
	"fmt"
	"image"
	"math"
	"sort"
)

// DefaultDir is where scripts/install-detector-data.sh puts the ONNX Runtime
// library, the models and the cascade files.
const DefaultDir = "/usr/local/share/anonjob/detectors"

// InstallCommand installs the detector data.
const InstallCommand = "scripts/install-detector-data.sh"

// Class is what a detection shows.
type Class int

// Detectable classes.
const (
	Face Class = iota + 1
	LicensePlate
	Person
	Vehicle
)

func (c Class) String() string {
	switch c {
	case Face:
		return "face"
	case LicensePlate:
		return "license_plate"
	case Person:
		return "person"
	case Vehicle:
		return "vehicle"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Detection is one found object.
type Detection struct {
	Class Class
	Rect  image.Rectangle
	// Score in (0,1): the detector's confidence.
	Score float64
}

// Grow enlarges r by fractions of its size: left, right, top, bottom.
func Grow(r image.Rectangle, f [4]float64) image.Rectangle {
	w, h := float64(r.Dx()), float64(r.Dy())
	return image.Rect(
		r.Min.X-int(math.Round(w*f[0])), r.Min.Y-int(math.Round(h*f[2])),
		r.Max.X+int(math.Round(w*f[1])), r.Max.Y+int(math.Round(h*f[3])),
	)
}

// DropContained drops detections of one class that lie (almost) inside a
// larger one, so an object found by several searches is reported once.
// Boxes that merely overlap are kept as they are: joining them into their
// union would chain neighbouring objects into one box much larger than any
// of them.
func DropContained(ds []Detection) []Detection {
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
