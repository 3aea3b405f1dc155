package haar

import (
	"bytes"
	"context"
	"image"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
)

// TestPlateSizesInVehicles draws the synthetic Russian-format plate of TestPlateSizes inside a
// "vehicle" box four times its width (a plate seen from the front or the back), at eight
// placements (sub-pixel phases and backgrounds), and searches inside the vehicle: from 56 px
// wide (56x12) every plate is masked there. It logs the share masked at each width inside
// vehicles and by the whole-image search (docs/engine.md gives them): the vehicle search adds
// part of the 40-48 px plates, which the whole-image search misses.
func TestPlateSizesInVehicles(t *testing.T) {
	if raceEnabled {
		// 64 searches, each its own pyramid, about thirty times slower under the race
		// detector (48 s), which has nothing to find in them; CI's run without -race runs it.
		t.Skip("slow under the race detector; run without -race")
	}
	t.Parallel()
	d, err := NewPlateDetector(DefaultPlateConfig())
	if err != nil {
		t.Fatal(err)
	}
	const reliable = 56
	for _, width := range []int{40, 48, 56, 64} {
		hit, wholeHit, n := 0, 0, 0
		for _, x := range []int{200, 201, 202, 203} {
			for _, y := range []int{120, 151} {
				g := street(480, 300, uint64(width*7+x+y))
				plate := drawPlate(g, x, y, width)
				vehicle := image.Rect(x+width/2-2*width, y-width, x+width/2+2*width, y+width)
				rgba := rgbaOf(g)
				in, err := d.DetectInVehicles(context.Background(), rgba, []image.Rectangle{vehicle})
				if err != nil {
					t.Fatal(err)
				}
				n++
				if covers(in, plate) {
					hit++
				} else if width >= reliable {
					t.Errorf("plate %dx%d at (%d,%d) not masked inside its %dx%d vehicle",
						plate.Dx(), plate.Dy(), x, y, vehicle.Dx(), vehicle.Dy())
				}
				whole, err := d.Detect(context.Background(), rgba)
				if err != nil {
					t.Fatal(err)
				}
				if covers(whole, plate) {
					wholeHit++
				}
			}
		}
		t.Logf("plates %d px wide: %d of %d masked inside vehicles, %d by the whole-image search", width, hit, n, wholeHit)
	}
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

// TestShrinkRGBAGray pins the crop reader of large vehicles to the full-size luma averaged
// afterwards, on a crop that does not start at the image's corner and does not divide by k.
func TestShrinkRGBAGray(t *testing.T) {
	t.Parallel()
	g := street(203, 131, 5)
	img := image.NewRGBA(g.Rect)
	for i, v := range g.Pix {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = v, uint8(i), v/2, 255
	}
	r := image.Rect(17, 9, 180, 121)
	for _, k := range []int{1, 2, 3, 5} {
		got := shrinkRGBAGray(img, r, k)
		want := Gray(img.SubImage(r))
		if k > 1 {
			want = shrinkGray(want, k)
		}
		if got.Rect != want.Rect || !bytes.Equal(got.Pix, want.Pix) {
			t.Errorf("k=%d: %v differs from %v", k, got.Rect, want.Rect)
		}
	}
}

// TestPlateInLargeVehicle searches a vehicle so wide that its crop is scanned at half size
// (its smallest plate, a tenth of 1200 px, is twice the window) and masks its plate in the
// image's own coordinates.
func TestPlateInLargeVehicle(t *testing.T) {
	t.Parallel()
	d, err := NewPlateDetector(DefaultPlateConfig())
	if err != nil {
		t.Fatal(err)
	}
	g := street(1400, 800, 11)
	plate := drawPlate(g, 601, 401, 180)
	rgba := rgbaOf(g)
	dets, err := d.DetectInVehicles(context.Background(), rgba, []image.Rectangle{image.Rect(100, 200, 1300, 700)})
	if err != nil {
		t.Fatal(err)
	}
	if !covers(dets, plate) {
		t.Fatalf("plate %v not masked inside its vehicle: %v", plate, dets)
	}
}
