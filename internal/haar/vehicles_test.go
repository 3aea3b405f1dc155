package haar

import (
	"context"
	"image"
	"image/draw"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
)

// TestPlateSizesInVehicles draws the synthetic Russian-format plate of TestPlateSizes inside a
// "vehicle" box four times its width (a plate seen from the front or the back), at two
// sub-pixel phases, and searches only inside the vehicle: plates below the whole-image
// search's 70 px are masked at every phase from 48 px wide (48x10; 40x8 and 44x9 at some;
// docs/engine.md states it), which the whole-image search misses.
func TestPlateSizesInVehicles(t *testing.T) {
	t.Parallel()
	d, err := NewPlateDetector(DefaultPlateConfig())
	if err != nil {
		t.Fatal(err)
	}
	const reliable = 48 // the smallest width masked at every size and phase from here up
	var smallest int
	for _, width := range []int{20, 24, 28, 30, 34, 40, 44, 48} {
		for _, x := range []int{300, 303} {
			g := street(640, 360, uint64(width+x))
			plate := drawPlate(g, x, 200, width)
			vehicle := image.Rect(x+width/2-2*width, 200-width, x+width/2+2*width, 200+width)
			rgba := image.NewRGBA(g.Rect)
			draw.Draw(rgba, rgba.Rect, g, image.Point{}, draw.Src)
			in, err := d.DetectInVehicles(context.Background(), rgba, []image.Rectangle{vehicle})
			if err != nil {
				t.Fatal(err)
			}
			whole, err := d.Detect(context.Background(), rgba)
			if err != nil {
				t.Fatal(err)
			}
			masked := covers(in, plate)
			t.Logf("plate %dx%d at x=%d in a %dx%d vehicle: masked=%v (whole image: %v)",
				plate.Dx(), plate.Dy(), x, vehicle.Dx(), vehicle.Dy(), masked, covers(whole, plate))
			if covers(whole, plate) {
				t.Errorf("plate %dx%d found by the whole-image search: the test no longer measures the vehicle search", plate.Dx(), plate.Dy())
			}
			if !masked && width >= reliable {
				t.Errorf("plate %dx%d at x=%d not masked inside its vehicle", plate.Dx(), plate.Dy(), x)
			}
			if masked && smallest == 0 {
				smallest = width
			}
		}
	}
	t.Logf("smallest plate masked in a vehicle: %d px wide", smallest)
}

func covers(dets []detect.Detection, plate image.Rectangle) bool {
	for _, det := range dets {
		in := det.Rect.Intersect(plate)
		if det.Class == detect.LicensePlate && 5*in.Dx()*in.Dy() >= 4*plate.Dx()*plate.Dy() {
			return true
		}
	}
	return false
}
