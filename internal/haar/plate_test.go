package haar

import (
	"context"
	"image"
	"image/draw"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/detect"
)

// glyphs is a 5x7 bitmap font for the characters of a Russian-style plate.
var glyphs = map[rune]string{
	'A': ".###.#...##...#######...##...##...#",
	'B': "####.#...##...#####.#...##...#####.",
	'C': ".###.#...##....#....#....#...#.###.",
	'1': "..#...##....#....#....#....#...###.",
	'2': ".###.#...#....#...#...#...#...#####",
	'3': "####.....#....#.###.....#....#####.",
	'7': "#####....#...#...#...#....#....#...",
}

// drawPlate renders a plate "A123BC|77" (black on white with a border, 520
// x 112 like the real format) into g with its top-left corner at (x, y) and
// the given width, averaging the high-resolution drawing down.
func drawPlate(g *image.Gray, x, y, width int) image.Rectangle {
	const W, H = 520, 112
	hi := image.NewGray(image.Rect(0, 0, W, H))
	for i := range hi.Pix {
		hi.Pix[i] = 235
	}
	fill := func(r image.Rectangle, v uint8) {
		r = r.Intersect(hi.Rect)
		for yy := r.Min.Y; yy < r.Max.Y; yy++ {
			for xx := r.Min.X; xx < r.Max.X; xx++ {
				hi.Pix[yy*W+xx] = v
			}
		}
	}
	// border and the separator before the region code
	fill(image.Rect(0, 0, W, 6), 20)
	fill(image.Rect(0, H-6, W, H), 20)
	fill(image.Rect(0, 0, 6, H), 20)
	fill(image.Rect(W-6, 0, W, H), 20)
	fill(image.Rect(398, 0, 404, H), 20)
	text := func(s string, x0, y0, cell int) {
		for i, ch := range s {
			bits := glyphs[ch]
			for row := 0; row < 7; row++ {
				for col := 0; col < 5; col++ {
					if bits[row*5+col] == '#' {
						px, py := x0+i*6*cell+col*cell, y0+row*cell
						fill(image.Rect(px, py, px+cell, py+cell), 15)
					}
				}
			}
		}
	}
	text("A123BC", 20, 18, 11)
	text("77", 415, 20, 7)
	h := width * H / W
	out := image.Rect(x, y, x+width, y+h)
	for yy := 0; yy < h; yy++ {
		for xx := 0; xx < width; xx++ {
			// area average of the high-resolution cells under this pixel
			x0, x1 := xx*W/width, max(xx*W/width+1, (xx+1)*W/width)
			y0, y1 := yy*H/h, max(yy*H/h+1, (yy+1)*H/h)
			sum, n := 0, 0
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					sum += int(hi.Pix[sy*W+sx])
					n++
				}
			}
			g.Pix[(y+yy)*g.Stride+x+xx] = uint8(sum / n)
		}
	}
	return out
}

// street is a textured grey background.
func street(w, h int, seed uint64) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range g.Pix {
		g.Pix[i] = uint8(100 + rng.IntN(40))
	}
	return g
}

// TestPlateSizes masks synthetic plates of 70-300 px: from MinWidth by the whole-image
// search, below it inside a vehicle box four times the plate's width (a car seen from the
// front or the back). A plate counts when a plate detection covers at least 80% of it.
func TestPlateSizes(t *testing.T) {
	t.Parallel()
	d, err := NewPlateDetector(DefaultPlateConfig())
	if err != nil {
		t.Fatal(err)
	}
	// Each size is tried at two sub-pixel phases of the pyramid.
	var missed []string
	for _, width := range []int{70, 80, 100, 140, 200, 300} {
		for _, x := range []int{150, 157} {
			g := street(640, 360, uint64(width+x))
			plate := drawPlate(g, x, 150, width)
			rgba := rgbaOf(g)
			search := "whole image"
			dets, err := d.Detect(context.Background(), rgba)
			if width < d.cfg.MinWidth {
				search = "inside the vehicle"
				vehicle := image.Rect(x+width/2-2*width, 150-width, x+width/2+2*width, 150+width)
				dets, err = d.DetectInVehicles(context.Background(), rgba, []image.Rectangle{vehicle})
			}
			if err != nil {
				t.Fatal(err)
			}
			masked := masks(dets, plate, rgba.Rect)
			t.Logf("plate %dx%d at x=%d, %s: masked=%v, %d detections", plate.Dx(), plate.Dy(), x, search, masked, len(dets))
			if !masked {
				missed = append(missed, strconv.Itoa(plate.Dx())+"x"+strconv.Itoa(plate.Dy())+" ("+search+")")
			}
		}
	}
	if len(missed) > 0 {
		t.Errorf("plates not masked: %s", strings.Join(missed, ", "))
	}
}

// TestPlatesOnDownscaledCopy scans an image over MaxLevelPixels at a fraction of its size and
// still masks its plate, in the image's own coordinates.
func TestPlatesOnDownscaledCopy(t *testing.T) {
	t.Parallel()
	cfg := DefaultPlateConfig()
	cfg.MaxLevelPixels = 640 * 360 // the 1280x720 image is scanned at half its size
	d, err := NewPlateDetector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := street(1280, 720, 7)
	plate := drawPlate(g, 300, 300, 280)
	rgba := rgbaOf(g)
	dets, err := d.Detect(context.Background(), rgba)
	if err != nil {
		t.Fatal(err)
	}
	if !masks(dets, plate, rgba.Rect) {
		t.Fatalf("plate %v not masked: %v", plate, dets)
	}
	// The scan really is at half size: a plate of 160 px, found at full size, is 80 px there,
	// under the smallest searched.
	small := street(1280, 720, 9)
	smallPlate := drawPlate(small, 300, 300, 160)
	srgba := rgbaOf(small)
	full := DefaultPlateConfig()
	full.MaxLevelPixels = 0
	fd, err := NewPlateDetector(full)
	if err != nil {
		t.Fatal(err)
	}
	covers := func(dets []detect.Detection) bool {
		for _, det := range dets {
			in := det.Rect.Intersect(smallPlate)
			if 5*in.Dx()*in.Dy() >= 4*smallPlate.Dx()*smallPlate.Dy() {
				return true
			}
		}
		return false
	}
	atFull, err := fd.Detect(context.Background(), srgba)
	if err != nil || !covers(atFull) {
		t.Fatalf("160 px plate at full size: %v %v", atFull, err)
	}
	if atHalf, _ := d.Detect(context.Background(), srgba); covers(atHalf) {
		t.Fatalf("160 px plate found although the scan was at half size: %v", atHalf)
	}
	if g := shrinkGray(g, 3); g.Rect.Dx() != 426 || g.Rect.Dy() != 240 {
		t.Fatalf("shrinkGray(3) of 1280x720 = %v", g.Rect)
	}
}

// rgbaOf is g as the RGBA image the detectors take.
func rgbaOf(g *image.Gray) *image.RGBA {
	img := image.NewRGBA(g.Rect)
	draw.Draw(img, img.Rect, g, image.Point{}, draw.Src)
	return img
}

// masks reports whether a licence-plate detection inside bounds covers 80 % of plate.
func masks(dets []detect.Detection, plate, bounds image.Rectangle) bool {
	for _, det := range dets {
		in := det.Rect.Intersect(plate)
		if det.Class == detect.LicensePlate && 5*in.Dx()*in.Dy() >= 4*plate.Dx()*plate.Dy() && det.Rect.In(bounds) {
			return true
		}
	}
	return false
}
