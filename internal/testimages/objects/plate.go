package objects

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// supersample is how much larger a plate is drawn before it is
// area-averaged to its size: small plates get soft, even edges.
const supersample = 8

var parsedFont = sync.OnceValues(func() (*opentype.Font, error) { return opentype.Parse(gomonobold.TTF) })

// RenderPlate draws an EU-style plate of w x h px: white with a dark
// border, a blue strip with a country letter at the left and text in
// black. Only integer arithmetic and a fixed font are involved, so the
// pixels are the same on every run.
func RenderPlate(text string, w, h int) (*image.RGBA, error) {
	f, err := parsedFont()
	if err != nil {
		return nil, fmt.Errorf("plate font: %w", err)
	}
	W, H := w*supersample, h*supersample
	big := image.NewRGBA(image.Rect(0, 0, W, H))
	fill(big, big.Rect, plateInk)
	border := max(supersample/2, H/16)
	fill(big, image.Rect(border, border, W-border, H-border), plateWhite)
	strip := image.Rect(border, border, border+W*9/100, H-border)
	fill(big, strip, plateBlue)
	// the ring of stars, reduced to a small yellow square
	sq := strip.Dx() / 3
	cx, cy := (strip.Min.X+strip.Max.X)/2, strip.Min.Y+strip.Dy()/3
	fill(big, image.Rect(cx-sq/2, cy-sq/2, cx+sq/2, cy+sq/2), plateStar)
	if err := drawText(big, f, "D", image.Rect(strip.Min.X, strip.Min.Y+strip.Dy()/2, strip.Max.X, strip.Max.Y-border), plateWhite); err != nil {
		return nil, err
	}
	if err := drawText(big, f, text, image.Rect(strip.Max.X+border, border*2, W-border*2, H-border*2), plateInk); err != nil {
		return nil, err
	}
	return shrink(big, supersample), nil
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// drawText writes s centred in r, as large as fits.
func drawText(dst *image.RGBA, f *opentype.Font, s string, r image.Rectangle, c color.Color) error {
	size := float64(r.Dy()) * 1.3
	for ; size > 4; size *= 0.95 {
		face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingNone})
		if err != nil {
			return fmt.Errorf("plate font face: %w", err)
		}
		b, _ := font.BoundString(face, s)
		bw, bh := (b.Max.X - b.Min.X).Ceil(), (b.Max.Y - b.Min.Y).Ceil()
		if bw <= r.Dx() && bh <= r.Dy() {
			x := r.Min.X + (r.Dx()-bw)/2 - b.Min.X.Floor()
			y := r.Min.Y + (r.Dy()-bh)/2 - b.Min.Y.Floor()
			d := font.Drawer{Dst: dst, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
			d.DrawString(s)
			return face.Close()
		}
		_ = face.Close()
	}
	return fmt.Errorf("plate text %q does not fit %v", s, r)
}

// shrink area-averages img by an integer factor.
func shrink(img *image.RGBA, k int) *image.RGBA {
	w, h := img.Rect.Dx()/k, img.Rect.Dy()/k
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	n := uint32(k * k)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s [4]uint32
			for dy := 0; dy < k; dy++ {
				row := img.Pix[img.PixOffset(x*k, y*k+dy):]
				for dx := 0; dx < k; dx++ {
					for i := range 4 {
						s[i] += uint32(row[dx*4+i])
					}
				}
			}
			o := out.PixOffset(x, y)
			for i := range 4 {
				out.Pix[o+i] = uint8((s[i] + n/2) / n)
			}
		}
	}
	return out
}
