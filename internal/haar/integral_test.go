package haar

import (
	"bytes"
	"image"
	"math/rand/v2"
	"testing"
)

func randomGray(w, h int, seed uint64) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, 2))
	for i := range g.Pix {
		g.Pix[i] = uint8(rng.IntN(256))
	}
	return g
}

// newIntegral computes the tables for g in memory of their own.
func newIntegral(g *image.Gray, withTilted bool) *integral {
	return (&tables{}).integral(g, withTilted)
}

// resize is resizeInto new memory.
func resize(src *image.Gray, w, h int) *image.Gray { return resizeInto(nil, src, w, h) }

// TestIntegralTables checks all three summed-area tables against their
// definitions, computed by brute force.
func TestIntegralTables(t *testing.T) {
	t.Parallel()
	for _, size := range []image.Point{{1, 1}, {7, 3}, {3, 9}, {17, 11}} {
		g := randomGray(size.X, size.Y, uint64(size.X*100+size.Y))
		it := newIntegral(g, true)
		px := func(x, y int) int64 { return int64(g.Pix[y*g.Stride+x]) }
		for Y := 0; Y <= size.Y; Y++ {
			for X := 0; X <= size.X; X++ {
				var sum, sq, tilted int64
				for y := 0; y < Y; y++ {
					for x := 0; x < X; x++ {
						sum += px(x, y)
						sq += px(x, y) * px(x, y)
					}
				}
				for y := 0; y < Y; y++ {
					for x := 0; x < size.X; x++ {
						if d := x - X + 1; d <= Y-y-1 && -d <= Y-y-1 {
							tilted += px(x, y)
						}
					}
				}
				i := Y*it.stride + X
				if int64(it.sum[i]) != sum || int64(it.sqsum[i]) != sq || int64(it.tilted[i]) != tilted {
					t.Fatalf("%v at (%d,%d): sum %d/%d sq %d/%d tilted %d/%d", size, X, Y,
						it.sum[i], sum, it.sqsum[i], sq, it.tilted[i], tilted)
				}
			}
		}
	}
}

// TestTiltedRectSum checks the corner offsets of 45-degree rectangles: on
// an image of ones, a rotated w x h rectangle covers 2*w*h pixels of the
// lattice (Lienhart and Maydt).
func TestTiltedRectSum(t *testing.T) {
	t.Parallel()
	ones := image.NewGray(image.Rect(0, 0, 30, 30))
	for i := range ones.Pix {
		ones.Pix[i] = 1
	}
	it := newIntegral(ones, true)
	for _, r := range []WeightedRect{{X: 10, Y: 2, W: 4, H: 3}, {X: 12, Y: 5, W: 6, H: 6}, {X: 8, Y: 0, W: 1, H: 1}, {X: 20, Y: 1, W: 3, H: 9}} {
		c := &Cascade{Width: 30, Height: 30, Features: []Feature{{Tilted: true, Rects: []WeightedRect{{X: r.X, Y: r.Y, W: r.W, H: r.H, Weight: 1}, {}}}}}
		o := newEvaluator(c, it).feats[0].ofs[0]
		got := it.tilted[o[0]] - it.tilted[o[1]] - it.tilted[o[2]] + it.tilted[o[3]]
		if want := int32(2 * r.W * r.H); got != want {
			t.Errorf("tilted %dx%d at %d,%d covers %d pixels, want %d", r.W, r.H, r.X, r.Y, got, want)
		}
	}
}

func TestResize(t *testing.T) {
	t.Parallel()
	g := image.NewGray(image.Rect(0, 0, 4, 2))
	copy(g.Pix, []uint8{0, 0, 200, 200, 0, 0, 200, 200})
	half := resize(g, 2, 1)
	if half.Pix[0] != 0 || half.Pix[1] != 200 {
		t.Errorf("2x downscale of two flat halves gave %v", half.Pix)
	}
	same := resize(g, 4, 2)
	for i := range same.Pix {
		if same.Pix[i] != g.Pix[i] {
			t.Fatalf("identity resize changed pixel %d", i)
		}
	}
	up := resize(g, 8, 4)
	if up.Pix[0] != 0 || up.Pix[7] != 200 || up.Pix[3] <= 0 || up.Pix[3] >= 200 {
		t.Errorf("upscale row %v", up.Pix[:8])
	}
}

func TestGrayLuma(t *testing.T) {
	t.Parallel()
	img := image.NewRGBA(image.Rect(0, 0, 3, 1))
	copy(img.Pix, []uint8{255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255})
	g := Gray(img)
	// OpenCV's BGR2GRAY: 0.299, 0.587, 0.114
	if g.Pix[0] != 76 || g.Pix[1] != 150 || g.Pix[2] != 29 {
		t.Errorf("luma %v, want [76 150 29]", g.Pix)
	}
}

// TestGrayFastPathsMatchGeneric: the RGBA and NRGBA paths read the pixel buffers directly,
// offsets of a sub-image included; on opaque pixels they must give what At gives.
func TestGrayFastPathsMatchGeneric(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 7))
	rgba := image.NewRGBA(image.Rect(0, 0, 9, 7))
	nrgba := image.NewNRGBA(rgba.Rect)
	for i := range rgba.Pix {
		v := uint8(rng.UintN(256))
		if i%4 == 3 {
			v = 255
		}
		rgba.Pix[i], nrgba.Pix[i] = v, v
	}
	sub := image.Rect(2, 1, 8, 6)
	for name, img := range map[string]image.Image{
		"RGBA":  rgba.SubImage(sub),
		"NRGBA": nrgba.SubImage(sub),
	} {
		got := Gray(img)
		want := Gray(struct{ image.Image }{img}) // hides the type: the generic path
		if !bytes.Equal(got.Pix, want.Pix) || got.Rect != want.Rect {
			t.Errorf("%s: %v, generic %v", name, got.Pix, want.Pix)
		}
	}
}
