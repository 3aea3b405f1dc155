package anonymize

import (
	"image"
	"math"
	"testing"
)

// noise fills an image with a high-contrast pattern standing in for facial
// detail.
func noise(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8(((x*7 + y*13) % 5) * 60)
			if (x/3+y/3)%2 == 0 {
				v = 255 - v
			}
			o := img.PixOffset(x, y)
			img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = v, v/2, 255-v, 255
		}
	}
	return img
}

// detail is the mean absolute difference between horizontal neighbours in
// r: what makes features readable.
func detail(img *image.RGBA, r image.Rectangle) float64 {
	var sum float64
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X-1; x++ {
			sum += math.Abs(float64(img.Pix[img.PixOffset(x, y)]) - float64(img.Pix[img.PixOffset(x+1, y)]))
			n++
		}
	}
	return sum / float64(n)
}

func TestEffects(t *testing.T) {
	t.Parallel()
	r := image.Rect(20, 10, 80, 90)
	cases := []struct {
		m         Method
		maxDetail float64 // share of the original detail left inside r
	}{
		{Blur, 0.05},
		{Pixelate, 0.2},
		{Blacken, 0},
	}
	for _, c := range cases {
		t.Run(string(c.m), func(t *testing.T) {
			t.Parallel()
			orig := noise(100, 100)
			img := noise(100, 100)
			apply(img, r, c.m)
			before, after := detail(orig, r), detail(img, r)
			if after > c.maxDetail*before {
				t.Errorf("detail %.2f of %.2f left", after, before)
			}
			for y := 0; y < 100; y++ {
				for x := 0; x < 100; x++ {
					if image.Pt(x, y).In(r) {
						continue
					}
					o := img.PixOffset(x, y)
					if img.Pix[o] != orig.Pix[o] || img.Pix[o+2] != orig.Pix[o+2] {
						t.Fatalf("pixel %d,%d outside the region changed", x, y)
					}
				}
			}
			if c.m == Blacken {
				if p := img.RGBAAt(50, 50); p.R != 0 || p.G != 0 || p.B != 0 || p.A != 255 {
					t.Errorf("blackened pixel %v", p)
				}
			}
		})
	}
}

func TestParseMethod(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"blur", "pixelate", "blacken", "detect"} {
		if _, ok := ParseMethod(s); !ok {
			t.Errorf("%s rejected", s)
		}
	}
	for _, s := range []string{"", "Blur", "smudge"} {
		if _, ok := ParseMethod(s); ok {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestBlurLargeRegion blurs regions large enough to be blurred on a shrunk copy, with blocks
// cut off at the region's edges: detail goes, the mean colour stays, a flat region stays
// exactly as it was, and nothing outside changes.
func TestBlurLargeRegion(t *testing.T) {
	t.Parallel()
	for _, r := range []image.Rectangle{image.Rect(17, 23, 377, 290), image.Rect(0, 0, 400, 300), image.Rect(5, 9, 398, 41)} {
		orig := noise(400, 300)
		img := noise(400, 300)
		blur(img, r)
		if before, after := detail(orig, r), detail(img, r); after > 0.05*before {
			t.Errorf("%v: detail %.2f of %.2f left", r, after, before)
		}
		mean := func(m *image.RGBA) float64 {
			var sum float64
			for y := r.Min.Y; y < r.Max.Y; y++ {
				for x := r.Min.X; x < r.Max.X; x++ {
					sum += float64(m.Pix[m.PixOffset(x, y)])
				}
			}
			return sum / float64(r.Dx()*r.Dy())
		}
		if a, b := mean(orig), mean(img); math.Abs(a-b) > 2 {
			t.Errorf("%v: mean red %.1f before, %.1f after", r, a, b)
		}
		for y := 0; y < 300; y++ {
			for x := 0; x < 400; x++ {
				if o := img.PixOffset(x, y); !image.Pt(x, y).In(r) && img.Pix[o] != orig.Pix[o] {
					t.Fatalf("%v: pixel %d,%d outside the region changed", r, x, y)
				}
			}
		}
		flat := image.NewRGBA(image.Rect(0, 0, 400, 300))
		for i := range flat.Pix {
			flat.Pix[i] = []uint8{200, 30, 90, 255}[i%4]
		}
		blur(flat, r)
		for i, v := range flat.Pix {
			if want := []uint8{200, 30, 90, 255}[i%4]; v != want {
				t.Fatalf("%v: a flat region changed: byte %d is %d, want %d", r, i, v, want)
			}
		}
	}
}
