package detect

import (
	"image"
	"math"
)

// rotated is a grey image turned by an angle about the centre of the
// source, on a canvas large enough to hold all of it. Pixels outside the
// source are filled with the nearest edge pixel so that the canvas border
// does not form a strong edge cascades would react to.
type rotated struct {
	img        *image.Gray
	cos, sin   float64
	srcCX      float64 // source centre
	srcCY      float64
	dstCX      float64 // canvas centre
	dstCY      float64
	srcW, srcH int
}

// rotate turns g by deg degrees (counter-clockwise as displayed).
func rotate(g *image.Gray, deg float64) *rotated {
	rad := deg * math.Pi / 180
	c, s := math.Cos(rad), math.Sin(rad)
	w, h := g.Rect.Dx(), g.Rect.Dy()
	dw := int(math.Ceil(math.Abs(float64(w)*c) + math.Abs(float64(h)*s)))
	dh := int(math.Ceil(math.Abs(float64(w)*s) + math.Abs(float64(h)*c)))
	r := &rotated{
		img: image.NewGray(image.Rect(0, 0, dw, dh)), cos: c, sin: s,
		srcCX: float64(w) / 2, srcCY: float64(h) / 2, dstCX: float64(dw) / 2, dstCY: float64(dh) / 2,
		srcW: w, srcH: h,
	}
	for y := 0; y < dh; y++ {
		row := r.img.Pix[y*r.img.Stride:]
		for x := 0; x < dw; x++ {
			sx, sy := r.toSource(float64(x)+0.5, float64(y)+0.5)
			row[x] = bilinear(g, sx-0.5, sy-0.5)
		}
	}
	return r
}

// toSource maps a canvas point to the source point it shows: the offset
// from the canvas centre turned by the angle, added to the source centre.
func (r *rotated) toSource(x, y float64) (float64, float64) {
	dx, dy := x-r.dstCX, y-r.dstCY
	return r.srcCX + dx*r.cos - dy*r.sin, r.srcCY + dx*r.sin + dy*r.cos
}

// sourceBox maps a rectangle found on the canvas back to the smallest
// upright source rectangle holding it, clipped to the source.
func (r *rotated) sourceBox(b image.Rectangle) image.Rectangle {
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	for _, p := range []image.Point{b.Min, {b.Max.X, b.Min.Y}, {b.Min.X, b.Max.Y}, b.Max} {
		sx, sy := r.toSource(float64(p.X), float64(p.Y))
		minX, maxX = math.Min(minX, sx), math.Max(maxX, sx)
		minY, maxY = math.Min(minY, sy), math.Max(maxY, sy)
	}
	out := image.Rect(int(math.Floor(minX)), int(math.Floor(minY)), int(math.Ceil(maxX)), int(math.Ceil(maxY)))
	return out.Intersect(image.Rect(0, 0, r.srcW, r.srcH))
}

// inside reports whether canvas point (x, y) shows part of the source.
func (r *rotated) inside(x, y float64) bool {
	sx, sy := r.toSource(x, y)
	return sx >= 0 && sy >= 0 && sx < float64(r.srcW) && sy < float64(r.srcH)
}

// bilinear samples g at (x, y) in pixel-centre coordinates, clamping to the
// nearest edge pixel outside the image.
func bilinear(g *image.Gray, x, y float64) uint8 {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	x = math.Max(0, math.Min(x, float64(w-1)))
	y = math.Max(0, math.Min(y, float64(h-1)))
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, w-1), min(y0+1, h-1)
	fx, fy := x-float64(x0), y-float64(y0)
	p := func(px, py int) float64 { return float64(g.Pix[py*g.Stride+px]) }
	top := p(x0, y0) + fx*(p(x1, y0)-p(x0, y0))
	bot := p(x0, y1) + fx*(p(x1, y1)-p(x0, y1))
	return uint8(top + fy*(bot-top) + 0.5)
}
