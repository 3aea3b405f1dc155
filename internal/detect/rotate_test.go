package detect

import (
	"image"
	"math"
	"testing"
)

// TestRotateRoundTrip draws a bright square, turns the image and checks
// that the square is where the mapping says and maps back onto itself.
func TestRotateRoundTrip(t *testing.T) {
	t.Parallel()
	g := image.NewGray(image.Rect(0, 0, 200, 100))
	sq := image.Rect(140, 30, 160, 50)
	for y := sq.Min.Y; y < sq.Max.Y; y++ {
		for x := sq.Min.X; x < sq.Max.X; x++ {
			g.Pix[y*g.Stride+x] = 255
		}
	}
	for _, deg := range []float64{-40, -20, 20, 40} {
		r := rotate(g, deg)
		// The canvas holds the whole turned photo.
		want := math.Abs(200*math.Cos(deg*math.Pi/180)) + math.Abs(100*math.Sin(deg*math.Pi/180))
		if d := float64(r.img.Rect.Dx()) - want; d < 0 || d > 1 {
			t.Errorf("%v degrees: canvas width %d, want %.1f", deg, r.img.Rect.Dx(), want)
		}
		// Find the bright pixels on the canvas and map their box back.
		box := image.Rectangle{}
		for y := 0; y < r.img.Rect.Dy(); y++ {
			for x := 0; x < r.img.Rect.Dx(); x++ {
				if r.img.Pix[y*r.img.Stride+x] > 128 {
					box = box.Union(image.Rect(x, y, x+1, y+1))
				}
			}
		}
		back := r.sourceBox(box)
		// Boxing upright twice grows a side by (|cos|+|sin|)^2 at most.
		c, s := math.Abs(math.Cos(deg*math.Pi/180)), math.Abs(math.Sin(deg*math.Pi/180))
		limit := int(math.Ceil(float64(sq.Dx())*(c+s)*(c+s))) + 3
		if !sq.In(back.Inset(-1)) || back.Dx() > limit || back.Dy() > limit {
			t.Errorf("%v degrees: square %v came back as %v", deg, sq, back)
		}
		cx, cy := float64(box.Min.X+box.Max.X)/2, float64(box.Min.Y+box.Max.Y)/2
		if !r.inside(cx, cy) || r.inside(0, 0) {
			t.Errorf("%v degrees: inside() wrong", deg)
		}
	}
}
